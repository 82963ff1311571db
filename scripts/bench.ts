/**
 * `deno task bench`: how long bot-bottle's own work takes, measured against
 * the raw docker/smolvm work it does, side by side (medians of repeated runs).
 *
 * 1. `start --dry-run` as a process, run exactly as the `bot-bottle` task runs
 *    it, against the raw subprocess calls a dry run makes (smolvm --version,
 *    docker version, docker network ls/inspect) plus an empty `deno run`.
 * 2. In-process plan resolution (manifest text -> plan), per call.
 *
 * The fake smolvm (tests/fixtures/bin) stands in for smolvm when the real one
 * is absent; the report says which was used.
 */
import { fileURLToPath } from "node:url";
import { loadManifest } from "../lib/manifest/load_manifest.ts";
import { resolvePlan } from "../lib/plan/resolve_plan.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 15);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function which(cmd: string, path: string): Promise<boolean> {
  for (const dir of path.split(":")) {
    try {
      if ((await Deno.stat(`${dir}/${cmd}`)).isFile) return true;
    } catch { /* keep looking */ }
  }
  return false;
}

const basePath = Deno.env.get("PATH") ?? "";
const realSmolvm = await which("smolvm", basePath);
const env = { PATH: realSmolvm ? basePath : `${ROOT}tests/fixtures/bin:${basePath}` };

async function timeCommand(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  })
    .output();
  const elapsed = performance.now() - t0;
  if (!out.success && argv.includes("--dry-run")) throw new Error(`${argv.join(" ")} failed`);
  return elapsed;
}

async function timeMany(label: string, argvs: string[][]): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let total = 0;
    for (const argv of argvs) total += await timeCommand(argv);
    samples.push(total);
  }
  const m = median(samples);
  console.log(`${label.padEnd(46)} ${m.toFixed(1).padStart(8)} ms  (median of ${RUNS})`);
  return m;
}

const deno = Deno.execPath();
const manifest = `${ROOT}examples/bot-bottle.toml`;
console.log(
  `bot-bottle bench — smolvm: ${realSmolvm ? "real" : "fake (tests/fixtures/bin)"}, runs: ${RUNS}`,
);

const dryRun = await timeMany("start --dry-run (process, -P=bot-bottle)", [[
  deno,
  "run",
  "-q",
  "--no-prompt",
  "-P=bot-bottle",
  "main.ts",
  "start",
  "demo",
  "--dry-run",
  "--json",
  "--manifest",
  manifest,
]]);
const emptyDeno = await timeMany("empty `deno run` (runtime start-up)", [[deno, "eval", ""]]);
const raw = await timeMany("raw calls: smolvm --version + docker x3", [
  ["smolvm", "--version"],
  ["docker", "version", "--format", "{{.Server.Version}}"],
  ["docker", "network", "ls", "--quiet", "--no-trunc"],
  ["docker", "network", "inspect", "bridge"],
]);
console.log(
  `ratio: dry run / (raw calls + deno start-up) = ${(dryRun / (raw + emptyDeno)).toFixed(2)}; ` +
    `bot-bottle's own share ≈ ${(dryRun - raw - emptyDeno).toFixed(1)} ms`,
);

// In-process plan resolution.
const sources = {
  userPath: manifest,
  userExplicit: true,
  projectPath: `${ROOT}no-such-project.toml`,
};
const ITER = 2000;
const perCall: number[] = [];
for (let round = 0; round < 5; round++) {
  const t0 = performance.now();
  for (let i = 0; i < ITER; i++) {
    const m = await loadManifest(sources as Parameters<typeof loadManifest>[0]);
    resolvePlan({
      manifest: m,
      agent: "demo",
      backend: "smolmachines",
      slug: `demo-${(i % 46656).toString(36).padStart(5, "0")}`,
      taken: [{ cidr: "172.17.0.0/16", source: "bridge" }],
      preflight: [],
      hasHostVar: () => true,
      stateRoot: "/tmp/state",
      smolvmVersion: "1.9.3",
      now: "2026-11-22T00:00:00.000Z",
    });
  }
  perCall.push((performance.now() - t0) / ITER);
}
console.log(
  `${"plan resolution in-process (load + plan)".padEnd(46)} ${
    (median(perCall) * 1000).toFixed(1).padStart(8)
  } µs  (median of 5 × ${ITER})`,
);
