/**
 * The one interface every subprocess goes through.
 *
 * Programs are given as argv arrays (never a shell string). Two ways to run
 * one: `run` waits and returns what it printed (stdin from a string or
 * bytes); `spawn` returns the live process with its streams (a tar piped from
 * one container into another, a terminal attached to the agent). `runOk`
 * turns a failure into a `CommandFailed` naming the step and the last line
 * the program said; `abortable` binds a runner to a launch's interrupt signal
 * so no caller checks for signals itself.
 *
 * The real runner wraps `Deno.Command`; the child's environment is the
 * parent's minus every `LD_*` / `DYLD_*` variable (a scoped `--allow-run`
 * refuses to spawn with them, and they have no business reaching docker or
 * smolvm anyway).
 */
import { spawn as nodeSpawn } from "node:child_process";
import { Readable } from "node:stream";
import { UserError } from "../errors.ts";

/** Options for a buffered call. */
export interface RunOptions {
  /** Extra variables for the child, on top of the cleaned parent environment. */
  env?: Record<string, string>;
  /** Written to the child's stdin, which is then closed; stdin is empty when absent. */
  input?: string | Uint8Array;
  /** Kill the child (SIGTERM) when this signal aborts. */
  signal?: AbortSignal;
}

/** What a finished subprocess left behind. */
export interface RunResult {
  /** Exit code (128 + n when killed by signal n, as a shell reports it). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Where one stream of a spawned child goes. */
export type Stdio = "piped" | "inherit" | "null";

/** Options for a live process. */
export interface SpawnOptions {
  env?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Default "null". `{ fd }`: an open file or pipe (from node:fs) the child reads as its stdin
   * itself; the caller closes its own copy once spawned.
   */
  stdin?: Stdio | { fd: number };
  /** Default "piped". */
  stdout?: Stdio;
  /** Default "piped". */
  stderr?: Stdio;
}

/** A running child. Piped streams must be consumed (or cancelled) by the caller. */
export interface Spawned {
  readonly stdin: WritableStream<Uint8Array> | null;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** The exit code, as in {@link RunResult}. */
  readonly status: Promise<number>;
  kill(signal?: Deno.Signal): void;
}

/** Runs argv arrays. */
export interface Runner {
  /** Run `argv[0]` with `argv.slice(1)` and wait for it. Throws only if it cannot be spawned. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Start `argv` and return it running. Throws only if it cannot be spawned. */
  spawn(argv: readonly string[], options?: SpawnOptions): Spawned;
}

const DYNAMIC_LINKER_VAR = /^(LD_|DYLD_)/;

/** The environment a child gets: `base` without `LD_*`/`DYLD_*`, plus `extra`. */
export function childEnv(
  base: Record<string, string>,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...base, ...extra })) {
    if (!DYNAMIC_LINKER_VAR.test(name)) env[name] = value;
  }
  return env;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

function exitCodeOf(status: { code: number; signal: Deno.Signal | null }): number {
  if (status.signal) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
  return status.code;
}

const encoder = new TextEncoder();

/** The real runner, on `Deno.Command`. */
export class DenoRunner implements Runner {
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const child = this.spawn(argv, {
      env: options.env,
      signal: options.signal,
      stdin: options.input !== undefined ? "piped" : "null",
    });
    const writing = options.input !== undefined
      ? writeAll(child.stdin!, options.input).catch(() => {}) // a child that exits early
      : Promise.resolve();
    const [stdout, stderr, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.status,
      writing,
    ]);
    return { code, stdout, stderr };
  }

  spawn(argv: readonly string[], options: SpawnOptions = {}): Spawned {
    if (argv.length === 0) throw new Error("DenoRunner: empty argv");
    const [program, ...args] = argv;
    if (typeof options.stdin === "object") {
      return spawnWithFd(program, args, options.stdin.fd, options);
    }
    const child = new Deno.Command(program, {
      args,
      clearEnv: true,
      env: childEnv(Deno.env.toObject(), options.env),
      stdin: options.stdin ?? "null",
      stdout: options.stdout ?? "piped",
      stderr: options.stderr ?? "piped",
      signal: options.signal,
    }).spawn();
    const piped = (s: SpawnOptions["stdin"], fallback: Stdio) => (s ?? fallback) === "piped";
    return {
      stdin: piped(options.stdin, "null") ? child.stdin : null,
      stdout: piped(options.stdout, "piped") ? child.stdout : null,
      stderr: piped(options.stderr, "piped") ? child.stderr : null,
      status: child.status.then(exitCodeOf),
      kill: (signal: Deno.Signal = "SIGTERM") => {
        try {
          child.kill(signal);
        } catch { /* already exited */ }
      },
    };
  }
}

/**
 * The child on node:child_process, the one spawn that can hand it an open descriptor (Deno's
 * Command cannot): same environment rule, exit codes as {@link exitCodeOf} gives them, and a
 * child that cannot be started exits 127.
 */
function spawnWithFd(
  program: string,
  args: string[],
  fd: number,
  options: SpawnOptions,
): Spawned {
  const io = (s: Stdio | undefined) =>
    (s ?? "piped") === "piped" ? "pipe" : s === "null" ? "ignore" : "inherit";
  const child = nodeSpawn(program, args, {
    env: childEnv(Deno.env.toObject(), options.env),
    stdio: [fd, io(options.stdout), io(options.stderr)],
    signal: options.signal,
  });
  const status = new Promise<number>((resolve) => {
    child.on("error", () => {
      if (child.pid === undefined) resolve(127); // not started (the program is not there)
    });
    child.on(
      "close",
      (code, signal) => resolve(signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 0) : code ?? 127),
    );
  });
  const web = (s: Readable | null): ReadableStream<Uint8Array> =>
    s ? Readable.toWeb(s) as unknown as ReadableStream<Uint8Array> : emptyStream();
  return {
    stdin: null,
    stdout: (options.stdout ?? "piped") === "piped" ? web(child.stdout) : null,
    stderr: (options.stderr ?? "piped") === "piped" ? web(child.stderr) : null,
    status,
    kill: (signal: Deno.Signal = "SIGTERM") => {
      try {
        child.kill(signal as Parameters<typeof child.kill>[0]);
      } catch { /* already exited */ }
    },
  };
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

async function writeAll(stream: WritableStream<Uint8Array>, data: string | Uint8Array) {
  const writer = stream.getWriter();
  try {
    await writer.write(typeof data === "string" ? encoder.encode(data) : data);
  } finally {
    await writer.close().catch(() => {});
  }
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** The last non-empty line a failed program printed (stderr first), without colour codes. */
export function lastLine(result: RunResult): string {
  for (const text of [result.stderr, result.stdout]) {
    const lines = text.replace(ANSI, "").split("\n").map((l) => l.trim()).filter(Boolean);
    if (lines.length > 0) return lines[lines.length - 1];
  }
  return `exit ${result.code}`;
}

/** A step of bot-bottle's that a subprocess failed. */
export class CommandFailed extends UserError {
  readonly argv: readonly string[];
  readonly result: RunResult;

  constructor(what: string, argv: readonly string[], result: RunResult, hint?: string) {
    super(`${what} failed: ${lastLine(result)}`, { hint });
    this.name = "CommandFailed";
    this.argv = argv;
    this.result = result;
  }
}

/** Run `argv`; a non-zero exit throws {@link CommandFailed} saying `what` failed. */
export async function runOk(
  runner: Runner,
  argv: readonly string[],
  what: string,
  options: RunOptions & { hint?: string } = {},
): Promise<RunResult> {
  const result = await runner.run(argv, options);
  if (result.code !== 0) throw new CommandFailed(what, argv, result, options.hint);
  return result;
}

/** Run `argv` attached to this terminal (all three streams inherited); returns the exit code. */
export function runAttached(
  runner: Runner,
  argv: readonly string[],
  options: { env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<number> {
  return runner.spawn(argv, { ...options, stdin: "inherit", stdout: "inherit", stderr: "inherit" })
    .status;
}

/**
 * A runner bound to `signal` (a launch's interrupts): every call gets the
 * signal (so an interrupt kills the running child), and a call that starts
 * or ends after it fired throws the signal's reason instead of returning.
 */
export function abortable(runner: Runner, signal: AbortSignal): Runner {
  const bind = (own?: AbortSignal) => own ? AbortSignal.any([signal, own]) : signal;
  return {
    async run(argv, options = {}) {
      signal.throwIfAborted();
      const result = await runner.run(argv, { ...options, signal: bind(options.signal) });
      signal.throwIfAborted();
      return result;
    },
    spawn(argv, options = {}) {
      signal.throwIfAborted();
      return runner.spawn(argv, { ...options, signal: bind(options.signal) });
    },
  };
}
