/**
 * Everything a command touches on the host, in one object, so commands can
 * run against fakes in tests and against the real host in `main.ts`.
 */
import { readTextFileOrNull } from "../../manifest/load_manifest.ts";
import { randomSuffix } from "../../plan/slug.ts";
import { realHostProbe } from "../../host/host_probe.ts";
import { type HostRoutes, readHostRoutes } from "../../host/host_routes.ts";
import type { HostProbe } from "../../host/preflight.ts";
import { DenoRunner, type Runner } from "../../host/runner.ts";
import { Interrupted } from "../../launch/interrupts.ts";

/** Host access for commands. */
export interface CliContext {
  runner: Runner;
  env: { get(name: string): string | undefined };
  cwd: string;
  probe: HostProbe;
  hostRoutes(): Promise<HostRoutes>;
  readFile(path: string): Promise<string | null>;
  /** What a command produces: help, tables, plans, `--json` (see output.ts). */
  stdout(text: string): void;
  /** Progress, prompts and diagnostics. */
  stderr(text: string): void;
  /**
   * One line from stdin (without the newline); null at end of input. Rejects with
   * `Interrupted` when SIGINT or SIGTERM arrives while it waits (see prompt.ts).
   */
  readLine(): Promise<string | null>;
  stdinIsTerminal: boolean;
  stdoutIsTerminal: boolean;
  stderrIsTerminal: boolean;
  now(): Date;
  randomSuffix(): string;
}

const encoder = new TextEncoder();

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}

/** The real host. */
export function realContext(): CliContext {
  const env = { get: (name: string) => Deno.env.get(name) };
  return {
    runner: new DenoRunner(),
    env,
    cwd: Deno.cwd(),
    probe: realHostProbe(env),
    hostRoutes: () => readHostRoutes(),
    readFile: readTextFileOrNull,
    stdout: (text) => writeAll(Deno.stdout, text),
    stderr: (text) => writeAll(Deno.stderr, text),
    readLine: readStdinLine,
    stdinIsTerminal: Deno.stdin.isTerminal(),
    stdoutIsTerminal: Deno.stdout.isTerminal(),
    stderrIsTerminal: Deno.stderr.isTerminal(),
    now: () => new Date(),
    randomSuffix,
  };
}

/**
 * Read one line from stdin; a SIGINT/SIGTERM while waiting rejects with `Interrupted` (the
 * read itself cannot be cancelled: main() exits the process explicitly).
 */
async function readStdinLine(): Promise<string | null> {
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const listeners: [Deno.Signal, () => void][] = [];
  const interrupted = new Promise<never>((_, reject) => {
    for (const signal of signals) {
      const listener = () => reject(new Interrupted(signal));
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    }
  });
  try {
    return await Promise.race([readLineBytes(), interrupted]);
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
}

/** Read one line from stdin, byte by byte (nothing past the newline is consumed). */
async function readLineBytes(): Promise<string | null> {
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  while (true) {
    const n = await Deno.stdin.read(buf);
    if (n === null) {
      return bytes.length > 0 ? new TextDecoder().decode(new Uint8Array(bytes)) : null;
    }
    if (buf[0] === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
    bytes.push(buf[0]);
  }
}
