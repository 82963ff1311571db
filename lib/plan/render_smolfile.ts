/**
 * The Smolfile (SPEC §4.4, reference/smolvm.md §2): TOML, byte-for-byte
 * deterministic, using only keys every supported smolvm (1.2.5 .. 1.9.3)
 * accepts — smolvm rejects unknown keys. Secrets never go in it: smolvm
 * stores Smolfile `env` in plaintext.
 *
 * `entrypoint`/`cmd` are set to an idle command (SPEC §16): `machine start`
 * runs `entrypoint ++ cmd` as a detached workload with every resolved secret,
 * and an empty value would mean "the image's own ENTRYPOINT/CMD". The idle
 * shell replaces both; if the image has no `sleep` the shell exits and
 * smolvm's own keep-alive container takes the execs, so only an image without
 * /bin/sh fails `start` (loudly). The agent runs only through `machine exec`.
 */
import { compareCodePoints } from "./guest_env.ts";

/** What the Smolfile says. */
export interface SmolfileInput {
  /** Literal guest env (no secrets). */
  env: Record<string, string>;
  bundleIp: string;
  cpus: number;
  /** MiB. */
  memory: number;
  workdir?: string;
}

/** What `machine start` runs instead of anything from the image. */
export const IDLE_ENTRYPOINT: readonly string[] = ["/bin/sh", "-c", "exec sleep infinity"];

/** Render the Smolfile text. Env entries are `K=V` strings sorted by name. */
export function renderSmolfile(input: SmolfileInput): string {
  const lines = [
    "# Rendered by bot-bottle. The guest may reach only its bundle.",
    `cpus = ${integer(input.cpus)}`,
    `memory = ${integer(input.memory)}`,
  ];
  if (input.workdir !== undefined) lines.push(`workdir = ${tomlString(input.workdir)}`);
  lines.push(`entrypoint = [${IDLE_ENTRYPOINT.map(tomlString).join(", ")}]`, "cmd = []");
  const names = Object.keys(input.env).sort(compareCodePoints);
  lines.push("env = [");
  for (const name of names) lines.push(`  ${tomlString(`${name}=${input.env[name]}`)},`);
  lines.push("]");
  lines.push("");
  lines.push("[network]");
  lines.push(`allow_cidrs = [${tomlString(`${input.bundleIp}/32`)}]`);
  return `${lines.join("\n")}\n`;
}

function integer(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`);
  return String(n);
}

/** A TOML basic string with every character that needs it escaped. */
export function tomlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}
