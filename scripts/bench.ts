/**
 * `deno task bench`: how long bot-bottle's own work takes, measured against
 * the raw docker/smolvm work it does, side by side (medians of repeated runs).
 *
 * 1. `start --dry-run` as a process, run exactly as the `bot-bottle` task runs
 *    it, against its floor: the raw subprocess calls a dry run makes (smolvm
 *    --version, docker info, docker network ls/inspect, docker image inspect),
 *    run one after another, plus an empty `deno run`. (The dry run itself asks
 *    them concurrently.) `BENCH_DRY_RUN_ONLY=1` stops after 2.
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
const dryPlan = JSON.parse(
  new TextDecoder().decode(
    (await new Deno.Command(deno, {
      args: ["run", "-q", "--no-prompt", "-P=bot-bottle", "main.ts", "start", "demo"]
        .concat(["--dry-run", "--json", "--manifest", manifest]),
      env,
      cwd: ROOT,
      stderr: "null",
    }).output()).stdout,
  ),
);
const raw = await timeMany("raw calls: smolvm --version + docker x4", [
  ["smolvm", "--version"],
  ["docker", "info", "--format", "{{.ServerVersion}}\t{{json .Runtimes}}"],
  ["docker", "network", "ls", "--quiet", "--no-trunc"],
  ["docker", "network", "inspect", "bridge"],
  ["docker", "image", "inspect", "--format", "{{.Id}}", dryPlan.images.agent.ref]
    .concat(dryPlan.images.bundle.ref),
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

if (Deno.env.get("BENCH_DRY_RUN_ONLY")) Deno.exit(0);

// 3. The docker backend end to end: `start --yes` to the agent's first output line, against
//    the same docker commands run directly (the product's own argv builders, no bot-bottle
//    process): network create x2, bundle run + connect, wait healthy, agent run, exec echo.
//    Then teardown. Images are built before timing; the probe target is a container this
//    bench creates on its own --internal network (no traffic leaves the host).
await benchDockerBackend();

async function benchDockerBackend(): Promise<void> {
  const runs = Number(Deno.env.get("BENCH_DOCKER_RUNS") ?? 5);
  const { DenoRunner } = await import("../lib/host/runner.ts");
  const { ensureBundleImage } = await import("../lib/bundle/bundle_image.ts");
  const { ensureAgentImage } = await import("../lib/launch/agent_image.ts");
  const { BUNDLE_HEALTH_CMD, bundleRunArgv } = await import("../lib/bundle/bundle_run_argv.ts");
  const { auditDir, controlDir, prepareBundleDirs } = await import("../lib/state/approvals.ts");
  const { renderBundleConfig } = await import("../lib/bundle/config/render_bundle_config.ts");
  const { networkConnectArgv, networkCreateArgv } = await import("../lib/host/docker_argv.ts");
  const { agentExecArgv, agentRunArgv } = await import(
    "../lib/backends/docker/agent_container_argv.ts"
  );
  const runner = new DenoRunner();
  const docker = async (args: string[], allowFailure = false) => {
    const r = await runner.run(["docker", ...args]);
    if (r.code !== 0 && !allowFailure) throw new Error(`docker ${args[0]} failed: ${r.stderr}`);
    return r;
  };
  if ((await runner.run(["docker", "version"])).code !== 0) {
    console.log("docker backend: skipped (the Docker daemon is not reachable)");
    return;
  }
  const tmp = await Deno.makeTempDir({ prefix: "bot-bottle-bench-" });
  const id = crypto.randomUUID().slice(0, 6);
  const benchNet = `bbbench-${id}-net`;
  const benchTarget = `bbbench-${id}-target`;
  const made = { containers: [benchTarget], networks: [benchNet] };
  try {
    const dockerfile = `${ROOT}examples/agents/shell.Dockerfile`;
    const [bundleImage, agentImage] = await Promise.all([
      ensureBundleImage(runner, { workDir: `${tmp}/bundle-ctx` }),
      ensureAgentImage(runner, { bottle: "shell", image: null, dockerfile, progress: () => {} }),
    ]);
    await docker(["network", "create", "--internal", "--label", "io.bot-bottle.bench=1", benchNet]);
    await docker([
      "run",
      "-d",
      "--name",
      benchTarget,
      "--network",
      benchNet,
      "--entrypoint",
      "sleep",
      bundleImage,
      "infinity",
    ]);
    const targetIp = (await docker([
      "inspect",
      "-f",
      `{{(index .NetworkSettings.Networks "${benchNet}").IPAddress}}`,
      benchTarget,
    ])).stdout.trim();
    const manifestPath = `${tmp}/bot-bottle.toml`;
    await Deno.writeTextFile(
      manifestPath,
      `[bottles.shell]\ndockerfile = ${JSON.stringify(dockerfile)}\ncpus = 1\nmemory = 512\n` +
        `egress.allow = ["deb.debian.org"]\n\n[agents.bench]\nbottle = "shell"\n` +
        `command = ["echo", "bench-ready"]\n`,
    );
    const cliEnv = {
      ...env,
      HOME: `${tmp}/home`,
      XDG_STATE_HOME: `${tmp}/state`,
      XDG_CONFIG_HOME: `${tmp}/config`,
      NO_COLOR: "1",
      BOT_BOTTLE_PROBE_TARGET: `${targetIp}:443`,
    };

    /** One `start --yes`: ms to the agent's first stdout line, ms of teardown, total. */
    const productRun = async () => {
      const t0 = performance.now();
      const child = new Deno.Command(deno, {
        args: ["run", "-q", "--no-prompt", "-P=bot-bottle", "main.ts", "start", "bench"]
          .concat(["--backend", "docker", "--yes", "--manifest", manifestPath]),
        cwd: ROOT,
        env: cliEnv,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let firstLine = NaN;
      let teardownAt = NaN;
      let out = "";
      let err = "";
      const decoder = () => new TextDecoder();
      const readOut = (async () => {
        const d = decoder();
        for await (const chunk of child.stdout) {
          out += d.decode(chunk, { stream: true });
          if (Number.isNaN(firstLine) && out.includes("\n")) firstLine = performance.now() - t0;
        }
      })();
      const readErr = (async () => {
        const d = decoder();
        for await (const chunk of child.stderr) {
          err += d.decode(chunk, { stream: true });
          if (Number.isNaN(teardownAt) && err.includes("tearing down bottle")) {
            teardownAt = performance.now() - t0;
          }
        }
      })();
      const status = await child.status;
      await Promise.all([readOut, readErr]);
      const total = performance.now() - t0;
      if (!status.success || !out.startsWith("bench-ready")) {
        throw new Error(`start --yes failed (${status.code}):\n${out}\n${err}`);
      }
      return { firstLine, teardown: total - teardownAt, total };
    };

    /** The same docker work, run directly. */
    const rawRun = async (n: number) => {
      const name = `bbbench-${id}-raw${n}`;
      const internal = `${name}-internal`;
      const egress = `${name}-egress`;
      const bundle = `${name}-bundle`;
      const agent = `${name}-agent`;
      const labels = { "io.bot-bottle.bench": "1" };
      const configDir = `${tmp}/${name}-config`;
      const config = renderBundleConfig({ slug: name, egressAllow: ["deb.debian.org"], git: [] });
      for (const [path, text] of Object.entries(config.files)) {
        const full = `${configDir}/${path}`;
        await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
        await Deno.writeTextFile(full, text);
      }
      let prefix = "";
      const t0 = performance.now();
      for (let tries = 0; !prefix && tries < 20; tries++) {
        const candidate = `10.214.${1 + Math.floor(Math.random() * 250)}`;
        const r = await docker(
          networkCreateArgv({
            name: internal,
            subnet: `${candidate}.0/24`,
            gateway: `${candidate}.1`,
            internal: true,
            labels,
          }).slice(1),
          true,
        );
        if (r.code === 0) prefix = candidate;
      }
      if (!prefix) throw new Error("no free 10.214.x.0/24 for the raw bench");
      made.networks.push(internal, egress);
      made.containers.push(bundle, agent);
      await docker(networkCreateArgv({ name: egress, labels }).slice(1));
      await prepareBundleDirs(configDir);
      const run = bundleRunArgv({
        slug: name,
        image: bundleImage,
        egressNetwork: internal,
        ip: `${prefix}.2`,
        configDir,
        identityMounts: [],
        auditDir: auditDir(configDir),
        controlDir: controlDir(configDir),
        limits: { memory_mib: 384, cpus: 1, pids: 256 },
        labels,
      });
      run[run.indexOf("--name") + 1] = bundle;
      await docker(run.slice(1));
      await docker(networkConnectArgv(egress, bundle).slice(1));
      for (let i = 0;; i++) {
        const h = await docker(["exec", bundle, BUNDLE_HEALTH_CMD], true);
        if (h.stdout.trim() === "healthy") break;
        if (i > 360) throw new Error("raw bundle did not become healthy");
        await new Promise((r) => setTimeout(r, 250));
      }
      await docker(
        agentRunArgv({
          name: agent,
          image: agentImage,
          internalNetwork: internal,
          bundleIp: `${prefix}.2`,
          labels,
          env: {},
          cpus: 1,
          memoryMib: 512,
        }).slice(1),
      );
      const exec = await docker(
        agentExecArgv({ name: agent, command: ["echo", "bench-ready"], stdin: true, tty: false })
          .slice(1),
      );
      const firstLine = performance.now() - t0;
      if (!exec.stdout.startsWith("bench-ready")) throw new Error("raw exec printed nothing");
      const t1 = performance.now();
      await docker(["rm", "--force", "--volumes", agent, bundle]);
      await docker(["network", "rm", egress]);
      await docker(["network", "rm", internal]);
      return { firstLine, teardown: performance.now() - t1 };
    };

    await productRun(); // warm-up (first-use work, page cache)
    await rawRun(-1);
    const product: { firstLine: number; teardown: number; total: number }[] = [];
    const raw: { firstLine: number; teardown: number }[] = [];
    for (let i = 0; i < runs; i++) {
      product.push(await productRun());
      raw.push(await rawRun(i));
    }
    const med = (xs: number[]) => median(xs);
    const pFirst = med(product.map((r) => r.firstLine));
    const rFirst = med(raw.map((r) => r.firstLine));
    const row = (label: string, ms: number) =>
      console.log(`${label.padEnd(46)} ${ms.toFixed(1).padStart(8)} ms  (median of ${runs})`);
    row("docker: start --yes to first agent line", pFirst);
    row("docker: raw commands to first line", rFirst);
    console.log(
      `ratio: start --yes / raw = ${(pFirst / rFirst).toFixed(2)}; bot-bottle's own share ≈ ` +
        `${(pFirst - rFirst).toFixed(1)} ms (deno start-up, preflight, plan, image checks, ` +
        "metadata, egress probe)",
    );
    row("docker: teardown (bot-bottle, to exit)", med(product.map((r) => r.teardown)));
    row("docker: teardown (raw rm + network rm x2)", med(raw.map((r) => r.teardown)));
    row("docker: start --yes, whole run", med(product.map((r) => r.total)));
  } finally {
    await runner.run(["docker", "rm", "--force", ...made.containers]);
    for (const n of made.networks) await runner.run(["docker", "network", "rm", n]);
    await Deno.remove(tmp, { recursive: true });
  }
}

// smolmachines launch (fake smolvm): bot-bottle's time around the smolvm and docker work it does.
import { benchSmolvmLaunch } from "./bench_smolvm_launch.ts";
await benchSmolvmLaunch(Number(Deno.env.get("BENCH_SMOLVM_RUNS") ?? 5));

// 4. `list` with 50 bottles' state present (metadata.json + status `stopped`, no resources),
//    as a process under the bot-bottle permission set, against the raw calls it makes:
//    docker ps x2, docker network ls x2 (by name prefix and by label) and smolvm machine ls.
await benchList(Number(Deno.env.get("BENCH_LIST_RUNS") ?? 10));

async function benchList(runs: number): Promise<void> {
  const { writeMetadata, writeStatus } = await import("../lib/state/metadata_store.ts");
  const { backendFor } = await import("../lib/backends/registry.ts");
  const inventory = await import("../lib/bottles/inventory.ts");
  const { lsJsonArgv } = await import("../lib/backends/smolvm/smolvm_argv.ts");
  const BOTTLES = 50;
  const tmp = await Deno.makeTempDir({ prefix: "bot-bottle-bench-list-" });
  try {
    const root = `${tmp}/state/bot-bottle`;
    for (let i = 0; i < BOTTLES; i++) {
      const slug = `bench-${i.toString(36).padStart(5, "0")}`;
      const octet = (i % 254) + 1;
      const dir = `${root}/bottles/${slug}`;
      await writeMetadata(dir, {
        schema: 1,
        slug,
        agent: "demo",
        bottles: ["shell"],
        backend: i % 2 ? "docker" : "smolmachines",
        label: null,
        cwd: null,
        copy_cwd: false,
        started_at: new Date(Date.now() - i * 60_000).toISOString(),
        subnet: `192.168.${octet}.0/24`,
        gateway: `192.168.${octet}.1`,
        bundle_ip: `192.168.${octet}.2`,
        smolvm_version: i % 2 ? null : "1.9.3",
        resources: backendFor(i % 2 ? "docker" : "smolmachines").planGuest({
          slug,
          env: {},
          bundleIp: `192.168.${octet}.2`,
          cpus: 1,
          memoryMib: 512,
        }).create,
      });
      await writeStatus(dir, "stopped");
    }
    const listEnv = {
      ...env,
      HOME: `${tmp}/home`,
      XDG_STATE_HOME: `${tmp}/state`,
      XDG_DATA_HOME: `${tmp}/data`,
      NO_COLOR: "1",
    };
    const time = async (argv: string[], check?: (stdout: string) => void) => {
      const t0 = performance.now();
      const out = await new Deno.Command(argv[0], {
        args: argv.slice(1),
        env: listEnv,
        cwd: ROOT,
        stdout: "piped",
        stderr: "null",
      }).output();
      const ms = performance.now() - t0;
      check?.(new TextDecoder().decode(out.stdout));
      return ms;
    };
    const listArgv = [
      deno,
      "run",
      "-q",
      "--no-prompt",
      "-P=bot-bottle",
      "main.ts",
      "list",
      "--json",
    ];
    const checkList = (stdout: string) => {
      const doc = JSON.parse(stdout);
      const stopped = doc.bottles.filter((b: { state: string }) => b.state === "stopped").length;
      if (stopped !== BOTTLES) {
        throw new Error(`list saw ${stopped} stopped bottles, not ${BOTTLES}`);
      }
    };
    const rawArgvs = [
      inventory.CONTAINERS_ARGV,
      inventory.LABELLED_CONTAINERS_ARGV,
      inventory.NETWORKS_ARGV,
      inventory.LABELLED_NETWORKS_ARGV,
      lsJsonArgv(),
    ];
    await time(listArgv, checkList); // warm-up, and the output is what it should be
    const product: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < runs; i++) {
      product.push(await time(listArgv, checkList));
      let total = 0;
      for (const argv of rawArgvs) total += await time(argv);
      raw.push(total);
    }
    const row = (label: string, ms: number) =>
      console.log(`${label.padEnd(46)} ${ms.toFixed(1).padStart(8)} ms  (median of ${runs})`);
    const p = median(product);
    const r = median(raw);
    row(`list --json, ${BOTTLES} stopped bottles (process)`, p);
    row("raw calls: docker ps/network ls x2, smolvm ls", r);
    console.log(
      `ratio: list / (raw calls + deno start-up) = ${(p / (r + emptyDeno)).toFixed(2)}; ` +
        `bot-bottle's own share ≈ ${
          (p - r - emptyDeno).toFixed(1)
        } ms (state dirs, owner locks, join)`,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
