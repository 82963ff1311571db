/**
 * The one interface every subprocess goes through.
 *
 * Programs are given as argv arrays (never a shell string). The real runner
 * wraps `Deno.Command`; the child's environment is the parent's minus every
 * `LD_*` / `DYLD_*` variable (a scoped `--allow-run` refuses to spawn with
 * them, and they have no business reaching docker or smolvm anyway).
 */

/** Options for one subprocess call. */
export interface RunOptions {
  /** Extra variables for the child, on top of the cleaned parent environment. */
  env?: Record<string, string>;
  /** Text written to the child's stdin; stdin is closed when absent. */
  input?: string;
  /** Attach the child to this terminal (stdin/stdout/stderr inherited). */
  interactive?: boolean;
  /** Kill the child (SIGTERM) when this signal aborts. */
  signal?: AbortSignal;
}

/** What a finished subprocess left behind. */
export interface RunResult {
  /** Exit code (128 + n when killed by signal n, as a shell reports it). */
  code: number;
  /** Captured stdout (empty for interactive runs). */
  stdout: string;
  /** Captured stderr (empty for interactive runs). */
  stderr: string;
}

/** Runs argv arrays. */
export interface Runner {
  /** Run `argv[0]` with `argv.slice(1)` and wait for it. Throws only if it cannot be spawned. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
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

/** The real runner, on `Deno.Command`. */
export class DenoRunner implements Runner {
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0) throw new Error("DenoRunner.run: empty argv");
    const [program, ...args] = argv;
    const interactive = options.interactive ?? false;
    const command = new Deno.Command(program, {
      args,
      clearEnv: true,
      env: childEnv(Deno.env.toObject(), options.env),
      stdin: interactive ? "inherit" : options.input !== undefined ? "piped" : "null",
      stdout: interactive ? "inherit" : "piped",
      stderr: interactive ? "inherit" : "piped",
      signal: options.signal,
    });
    const child = command.spawn();
    if (options.input !== undefined && !interactive) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.input));
      await writer.close();
    }
    if (interactive) {
      const status = await child.status;
      return { code: exitCodeOf(status), stdout: "", stderr: "" };
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: exitCodeOf(output),
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }
}

function exitCodeOf(status: { code: number; signal: Deno.Signal | null }): number {
  if (status.signal) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
  return status.code;
}
