/**
 * `deno task compile [target...]`: builds `dist/bot-bottle-<target>` with the
 * `bot-bottle` permission set for the given targets (default: all four).
 *
 * `deno compile` needs the `denort` runtime of the target: it is downloaded from
 * dl.deno.land into DENO_DIR on first use, or taken from `DENORT_BIN` (which
 * only serves the host's own target). When neither works this says which
 * target failed, why, and how to fix it, and exits 1 without a stack trace.
 * The binaries are never stripped, patchelf'd or packed.
 *
 * @module
 */

import {
  compileArgv,
  denortBinProblem,
  denortFailureMessage,
  DIST_DIR,
  isDenortFailure,
  selectTargets,
  type Target,
} from "./compile_targets.ts";

/** The outcome of compiling one target. */
export interface CompileResult {
  target: Target;
  ok: boolean;
  /** Plain explanation when !ok. */
  message?: string;
}

/** Options for {@link compileTargets}; defaults read the real environment. */
export interface CompileOptions {
  distDir?: string;
  /** The environment's DENORT_BIN (default: Deno.env). */
  denortBin?: string;
  /** The host's target triple (default: Deno.build.target). */
  hostTarget?: string;
  /** Where progress is written (default: stderr). */
  log?: (line: string) => void;
}

const decoder = new TextDecoder();

/**
 * Compiles each target in turn with `deno compile -P=bot-bottle --target T ...`.
 * The child inherits this process's environment (so DENORT_BIN and DENO_DIR
 * reach it). Returns one result per target; never throws for a failed compile.
 */
export async function compileTargets(
  targets: readonly Target[],
  options: CompileOptions = {},
): Promise<CompileResult[]> {
  const distDir = options.distDir ?? DIST_DIR;
  const denortBin = options.denortBin ?? Deno.env.get("DENORT_BIN");
  const hostTarget = options.hostTarget ?? Deno.build.target;
  const log = options.log ?? ((line: string) => console.error(line));
  await Deno.mkdir(distDir, { recursive: true });
  const results: CompileResult[] = [];
  for (const target of targets) {
    const problem = denortBinProblem(target, denortBin, hostTarget);
    if (problem) {
      results.push({ target, ok: false, message: `cannot compile ${target}: ${problem}` });
      continue;
    }
    if (denortBin) {
      try {
        const info = await Deno.stat(denortBin);
        if (!info.isFile) throw new Error("not a file");
      } catch {
        results.push({
          target,
          ok: false,
          message: `cannot compile ${target}: DENORT_BIN=${denortBin} is not a file. Point it ` +
            `at a denort binary of Deno ${Deno.version.deno} for ${hostTarget} (e.g. nixpkgs' ` +
            `deno.denort output), or unset it to let Deno download denort.`,
        });
        continue;
      }
    }
    const argv = compileArgv(target, distDir);
    log(`compile: deno ${argv.join(" ")}${denortBin ? ` (DENORT_BIN=${denortBin})` : ""}`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: argv,
      stdin: "null",
      stdout: "inherit",
      stderr: "piped",
    }).output();
    const stderr = decoder.decode(out.stderr);
    if (out.success) {
      if (stderr.trim()) log(stderr.trimEnd());
      log(`compile: wrote ${argv[argv.indexOf("--output") + 1]}`);
      results.push({ target, ok: true });
    } else if (isDenortFailure(stderr)) {
      results.push({
        target,
        ok: false,
        message: denortFailureMessage(target, hostTarget, Deno.version.deno) +
          `\n(deno said: ${firstErrorLine(stderr)})`,
      });
    } else {
      // Type errors and the like: show Deno's own output, it is the explanation.
      results.push({
        target,
        ok: false,
        message: `cannot compile ${target}: deno compile exited ${out.code}:\n${stderr.trimEnd()}`,
      });
    }
  }
  return results;
}

/** The most specific line of a deno error (the deepest "Caused by" entry). */
function firstErrorLine(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) =>
    l && !l.startsWith("Stack backtrace") && !/^\d+: <unknown>$/.test(l)
  );
  // deno prints "0: ...", "1: ..." cause lines; the one naming the request error is most useful.
  const cause = lines.find((l) =>
    /error sending request|Could not find denort|could not be found|dns error|refused/i.test(l)
  );
  // deno colours its output; drop the escape codes.
  // deno-lint-ignore no-control-regex
  return (cause ?? lines.at(-1) ?? "").replace(/\x1b\[[0-9;]*m/g, "");
}

/** Entry point: `deno run -A scripts/compile.ts [target...]`. Returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const selection = selectTargets(args);
  if ("error" in selection) {
    console.error(`compile: ${selection.error}`);
    return 2;
  }
  const results = await compileTargets(selection.targets);
  const failed = results.filter((r) => !r.ok);
  for (const f of failed) console.error(`compile: ${f.message}`);
  if (failed.length > 0) {
    console.error(
      `compile: ${failed.length} of ${results.length} target(s) failed: ` +
        failed.map((f) => f.target).join(", "),
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
