/**
 * The fake smolvm (tests/fixtures/bin/smolvm → tests/fixtures/fake_smolvm/main.ts) as the
 * tests see it: its call log (`FAKE_SMOLVM_LOG`, argv and env NAMES), its state DB, its live
 * processes, its guest containers (`fake-smolvm-<machine>`, labelled with the state DB they
 * belong to), the archives and Smolfiles handed to it, and running it directly in a bare
 * sandbox (the contract tests).
 */
import { DatabaseSync } from "node:sqlite";
import { renderSmolfile } from "../../lib/plan/render_smolfile.ts";
import { guestName, LABEL_DB, LABEL_MACHINE } from "../fixtures/fake_smolvm/guest.ts";
import { docker, lines } from "./docker.ts";
import { tarBytes } from "./files.ts";
import { cmdline, environ, pids } from "./procs.ts";
import { Sandbox } from "./sandbox.ts";

export { guestName };

/** One line of FAKE_SMOLVM_LOG. */
export interface SmolvmCall {
  argv: string[];
  env_keys: string[];
}

/** The sandbox's fake-smolvm call log (empty when it was never called). */
export async function readCalls(sb: Sandbox): Promise<SmolvmCall[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(sb.smolvmLog);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as SmolvmCall);
}

/** `machine <sub>` calls (sub = create/start/exec/...) in the log. */
export function callsOf(calls: SmolvmCall[], sub: string): SmolvmCall[] {
  return calls.filter((c) => c.argv[1] === "machine" && c.argv[2] === sub);
}

/** Names in the fake's `vms` table starting with `prefix`, sorted (read-only; none without a DB). */
export function machineRows(dbPath: string, prefix = ""): string[] {
  try {
    Deno.statSync(dbPath);
  } catch {
    return [];
  }
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vms'")
      .get();
    if (!table) return []; // the fake is still creating its schema
    return db.prepare("SELECT name FROM vms ORDER BY name").all().map((r) => String(r.name))
      .filter((n) => n.startsWith(prefix));
  } finally {
    db.close();
  }
}

/** PIDs of live fake-smolvm processes of this sandbox (their environment names its call log). */
export function fakeSmolvmProcesses(sb: Sandbox): number[] {
  return pids().filter((pid) =>
    (cmdline(pid) ?? []).some((a) => a.includes("fake_smolvm/main.ts")) &&
    (environ(pid) ?? []).includes(`FAKE_SMOLVM_LOG=${sb.smolvmLog}`)
  );
}

/**
 * A bare sandbox for running the fake directly: a temp HOME (so every test gets its own state
 * DB, at the fake's default place under HOME) and only PATH (the fake first), HOME and
 * DENO_DIR in its environment; `extra` is added to that.
 */
export function fakeSmolvmSandbox(extra: Record<string, string> = {}): Promise<Sandbox> {
  return Sandbox.create({ bare: true, fakeSmolvm: true, env: extra });
}

/** What one fake invocation left behind. */
export interface FakeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `smolvm <args>` (resolved through the sandbox's PATH: the fake) in `sandbox`. */
export async function runFake(
  sandbox: Sandbox,
  args: readonly string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<FakeResult> {
  const child = new Deno.Command("smolvm", {
    args: [...args],
    env: { ...sandbox.env, ...options.env },
    clearEnv: true,
    cwd: sandbox.home,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Write a Smolfile in the sandbox's HOME and return its path. */
export async function writeSmolfile(
  sandbox: Sandbox,
  text: string,
  file = "Smolfile",
): Promise<string> {
  const path = `${sandbox.home}/${file}`;
  await Deno.writeTextFile(path, text);
  return path;
}

/**
 * Write a stand-in for a `docker save` archive (any bytes: staging only hashes them) and
 * return its path. Enough for everything but `machine start`.
 */
export async function writeArchive(
  sandbox: Sandbox,
  bytes: Uint8Array = new Uint8Array(),
  file = "image.tar",
): Promise<string> {
  const path = `${sandbox.home}/${file}`;
  await Deno.writeFile(path, bytes);
  return path;
}

/**
 * A `docker save`-shaped archive of a local image that holds only its `manifest.json` (all the
 * fake reads: it boots the image the host's Docker already has). Returns its path.
 */
export async function writeImageArchive(
  sandbox: Sandbox,
  image = "debian:bookworm-slim",
  file = "image.tar",
): Promise<string> {
  const id = (await docker(["image", "inspect", "--format", "{{.Id}}", image])).stdout.trim();
  const manifest = [{
    Config: `${id.replace(/^sha256:/, "")}.json`,
    RepoTags: [image],
    Layers: [],
  }];
  return await writeArchive(
    sandbox,
    tarBytes([{ name: "manifest.json", data: JSON.stringify(manifest) }]),
    file,
  );
}

/** The Smolfile bot-bottle renders (its own renderer) for a bundle at `ip`. */
export function confinedSmolfile(ip: string, env: Record<string, string> = {}): string {
  return renderSmolfile({
    env: { AGENT_MODE: "test", ...env },
    bundleIp: ip,
    cpus: 1,
    memory: 512,
    workdir: "/tmp",
  });
}

/** The fake's guest containers whose state DB lives under `dir` (a sandbox's). */
export async function guestsUnder(dir: string): Promise<string[]> {
  const r = await docker([
    "ps",
    "-a",
    "--filter",
    `label=${LABEL_MACHINE}`,
    "--format",
    `{{.Names}}\t{{.Label "${LABEL_DB}"}}`,
  ], { allowFailure: true });
  if (r.code !== 0) return [];
  return lines(r.stdout).map((l) => l.split("\t")).filter(([, db]) => db?.startsWith(`${dir}/`))
    .map(([name]) => name);
}

/** `docker exec` in the guest of `machine` (test instrumentation, not smolvm). */
export function guestExec(
  machine: string,
  argv: string[],
): ReturnType<typeof docker> {
  return docker(["exec", guestName(machine), ...argv], { allowFailure: true });
}
