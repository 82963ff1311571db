/**
 * The CLI as a subprocess, under exactly the compiled binary's permissions: the flags come from
 * deno.json's `bot-bottle` task (`deno run -q --no-prompt -P=bot-bottle main.ts`, the
 * `bot-bottle` permission set), plus `--config=<root>/deno.json` so they hold whatever the
 * working directory. Two ways to run it: {@link runWithPermissions} waits and returns what it
 * printed; {@link Cli} is the live process, its output collected as it comes, with bounded
 * waits on that output and on its exit, and signals.
 */
import denoConfig from "../../deno.json" with { type: "json" };
import { MAIN, ROOT } from "./paths.ts";
import { sleep } from "./wait.ts";

/** The `deno run` flags of the `bot-bottle` task, read from deno.json (the one place they live). */
function taskFlags(): string[] {
  const command = denoConfig.tasks["bot-bottle"].command;
  const words = command.trim().split(/\s+/);
  const [deno, run] = words;
  const script = words[words.length - 1];
  const flags = words.slice(2, -1);
  if (
    deno !== "deno" || run !== "run" || script !== "main.ts" || !flags.includes("-P=bot-bottle")
  ) {
    throw new Error(`deno.json's bot-bottle task is not \`deno run <flags> main.ts\`: ${command}`);
  }
  return flags;
}

/** `deno run` flags giving a script exactly the compiled binary's permissions. */
export const PERMISSION_FLAGS: readonly string[] = [...taskFlags(), `--config=${ROOT}deno.json`];

/** How to run a subprocess under {@link PERMISSION_FLAGS}. */
export interface CliOptions {
  /** The child's environment (the whole of it, unless `clearEnv` is false). */
  env?: Record<string, string>;
  /** Default true: the child sees only `env`. */
  clearEnv?: boolean;
  /** Default the repository root. */
  cwd?: string;
}

/** What a finished run left. */
export interface CliResult {
  code: number;
  /** The signal that ended it, if one did. */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
}

function command(argv: readonly string[], opts: CliOptions): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, ...argv],
    cwd: opts.cwd ?? ROOT,
    clearEnv: opts.clearEnv ?? true,
    env: opts.env ?? {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * `deno run <PERMISSION_FLAGS> <argv...>` to completion (`argv[0]` is the script: `main.ts` or
 * another program that must run under the product's permissions).
 */
export async function runWithPermissions(
  argv: readonly string[],
  opts: CliOptions = {},
): Promise<CliResult> {
  const t0 = performance.now();
  const out = await command(argv, opts).output();
  const d = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: d.decode(out.stdout),
    stderr: d.decode(out.stderr),
    ms: performance.now() - t0,
  };
}

/** A running `bot-bottle` CLI (`main.ts <args>`) with its output collected as it comes. */
export class Cli {
  stdout = "";
  stderr = "";
  readonly startedAt = performance.now();
  readonly child: Deno.ChildProcess;
  /** Resolves once the process has exited and both streams are drained. */
  readonly done: Promise<CliResult>;
  #exited = false;

  constructor(args: readonly string[], opts: CliOptions = {}) {
    this.child = command([MAIN, ...args], opts).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this[key] += decoder.decode(chunk, { stream: true });
    };
    const pumps = Promise.all([
      pump(this.child.stdout, "stdout"),
      pump(this.child.stderr, "stderr"),
    ]);
    this.done = this.child.status.then(async (status) => {
      const ms = performance.now() - this.startedAt;
      this.#exited = true;
      await pumps;
      return {
        code: status.code,
        signal: status.signal,
        stdout: this.stdout,
        stderr: this.stderr,
        ms,
      };
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  /** True once the process has exited (its streams may still be draining). */
  get exited(): boolean {
    return this.#exited;
  }

  /** Both streams, for assertion messages. */
  get transcript(): string {
    return `--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`;
  }

  /** Send a signal to the CLI process (not its children); nothing once it has exited. */
  kill(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
  }

  /**
   * Wait (bounded) until `stream` matches `pattern`; throws with both streams if the process
   * exits, or the time runs out, first.
   */
  async waitFor(
    stream: "stdout" | "stderr",
    pattern: RegExp,
    timeoutMs = 120_000,
  ): Promise<RegExpMatchArray> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const m = this[stream].match(pattern);
      if (m) return m;
      if (this.#exited) {
        // What it printed last may still be in the pipe.
        await Promise.race([this.done, sleep(Math.max(0, deadline - performance.now()))]);
        break;
      }
      await sleep(50);
    }
    const m = this[stream].match(pattern);
    if (m) return m;
    throw new Error(
      `${pattern} not on ${stream} (${this.#exited ? "the CLI exited" : `${timeoutMs} ms`}):\n` +
        this.transcript,
    );
  }

  /** The slug, from the plan the CLI prints before launching. */
  async slug(): Promise<string> {
    return (await this.waitFor("stderr", /^\s+slug\s+(\S+)$/m, 30_000))[1];
  }

  /** Wait (bounded) for the exit; SIGKILL on timeout, then throw. */
  async wait(timeoutMs = 120_000): Promise<CliResult> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), timeoutMs)
    );
    const result = await Promise.race([this.done, timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      this.kill("SIGKILL");
      await this.done;
      throw new Error(`CLI did not exit within ${timeoutMs} ms:\n${this.transcript}`);
    }
    return result;
  }
}

/** Lines of `text` starting with `tag ` (agent output the tests parse), without the tag. */
export function tagged(text: string, tag: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${tag} `)).map((l) =>
    l.slice(tag.length + 1)
  );
}
