/**
 * The fake smolvm (tests/fixtures/bin/smolvm → tests/fixtures/fake_smolvm/main.ts) as the
 * tests see it: its call log (`FAKE_SMOLVM_LOG`, argv and env NAMES), its state DB, its live
 * processes, and running it directly in a bare sandbox (the contract tests).
 */
import { DatabaseSync } from "node:sqlite";
import { cmdline, environ, pids } from "./procs.ts";
import { Sandbox } from "./sandbox.ts";

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

/** Write an (empty) stand-in for a `docker save` archive and return its path. */
export async function writeArchive(sandbox: Sandbox): Promise<string> {
  const path = `${sandbox.home}/image.tar`;
  await Deno.writeFile(path, new Uint8Array());
  return path;
}

/** The Smolfile bot-bottle renders for a bundle at `ip`. */
export function confinedSmolfile(ip: string): string {
  return `env = ["AGENT_MODE=test"]\n\n[network]\nallow_cidrs = ["${ip}/32"]\n`;
}
