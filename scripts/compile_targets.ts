/**
 * The release targets and the exact `deno compile` argv for each, shared by
 * `scripts/compile.ts`, `scripts/release.ts` and their tests.
 *
 * The permissions are never spelled out here: they come from the `bot-bottle`
 * permission set in deno.json (`-P=bot-bottle`), the same set the `bot-bottle`
 * task and the permission tests use.
 *
 * @module
 */

/** The four targets a release ships, in release order. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;

/** One release target triple. */
export type Target = typeof TARGETS[number];

/** The deno.json permission set the binary is compiled with. */
export const PERMISSION_SET = "bot-bottle";

/** The CLI entry point compiled into the binary. */
export const ENTRY = "main.ts";

/** Where compiled binaries and SHA256SUMS are written, relative to the repository root. */
export const DIST_DIR = "dist";

/** Whether `value` is one of {@link TARGETS}. */
export function isTarget(value: string): value is Target {
  return (TARGETS as readonly string[]).includes(value);
}

/** The release asset name for a target: `bot-bottle-<target>`. */
export function assetName(target: Target): string {
  return `bot-bottle-${target}`;
}

/** The output path of a target's binary: `dist/bot-bottle-<target>` (or under `distDir`). */
export function outputPath(target: Target, distDir: string = DIST_DIR): string {
  return `${distDir}/${assetName(target)}`;
}

/**
 * The argv (after the `deno` executable) that compiles one target. Type-checking
 * stays on (no `--no-check`), and nothing post-processes the result: strip,
 * patchelf or UPX would break the payload `deno compile` appends to `denort`.
 */
export function compileArgv(target: Target, distDir: string = DIST_DIR): string[] {
  return [
    "compile",
    `-P=${PERMISSION_SET}`,
    "--target",
    target,
    "--output",
    outputPath(target, distDir),
    ENTRY,
  ];
}

/**
 * Resolves the command-line target selection: no arguments means all targets;
 * otherwise every argument must be a known target (duplicates collapse).
 * Returns the targets or a plain error message naming the unknown ones.
 */
export function selectTargets(
  args: readonly string[],
): { targets: Target[] } | { error: string } {
  if (args.length === 0) return { targets: [...TARGETS] };
  const unknown = args.filter((a) => !isTarget(a));
  if (unknown.length > 0) {
    return {
      error: `unknown target ${unknown.map((u) => `'${u}'`).join(", ")}; ` +
        `known targets: ${TARGETS.join(", ")}`,
    };
  }
  return { targets: TARGETS.filter((t) => args.includes(t)) };
}

/**
 * Why `DENORT_BIN` cannot serve `target`, or undefined when it can (or is unset).
 * Deno uses `DENORT_BIN` as the base binary for whatever `--target` says, so a
 * host runtime would be embedded into a binary labelled for another platform.
 */
export function denortBinProblem(
  target: Target,
  denortBin: string | undefined,
  hostTarget: string,
): string | undefined {
  if (!denortBin) return undefined;
  if (target === hostTarget) return undefined;
  return `DENORT_BIN=${denortBin} is a runtime for this host (${hostTarget}), but Deno would ` +
    `use it as the base of the ${target} binary, producing a mislabelled binary that cannot run ` +
    `there. Compile ${target} without DENORT_BIN (online, or with its denort-${target}.zip ` +
    `already cached in DENO_DIR), or compile only ${hostTarget} with DENORT_BIN: ` +
    `deno task compile ${hostTarget}`;
}

/**
 * Whether `deno compile` failed because it could not get the `denort` runtime
 * (download refused or unreachable, or DENORT_BIN pointing at nothing), judged
 * from its stderr.
 */
export function isDenortFailure(stderr: string): boolean {
  return /Setting up base binary|denort-[a-z0-9_-]+\.zip|Could not find denort/i.test(stderr);
}

/** The plain explanation printed when a target's `denort` runtime cannot be had. */
export function denortFailureMessage(target: Target, hostTarget: string, denoVersion: string) {
  return [
    `cannot compile ${target}: deno compile needs the denort runtime for ${target} ` +
    `(denort-${target}.zip for Deno ${denoVersion}), and it is neither cached in DENO_DIR nor ` +
    `downloadable from dl.deno.land (offline, or the host is blocked).`,
    `Fix: run online once so Deno caches it, or point DENORT_BIN at a denort binary of exactly ` +
    `Deno ${denoVersion} for this host (${hostTarget}) — e.g. nixpkgs' deno.denort output: ` +
    `DENORT_BIN=$(nix build --print-out-paths nixpkgs#deno.denort)/bin/denort ` +
    `deno task compile ${hostTarget}. DENORT_BIN serves only the host's target.`,
  ].join("\n");
}
