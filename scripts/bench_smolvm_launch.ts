/**
 * Bench section (called at the end of scripts/bench.ts): the time bot-bottle
 * adds around smolvm on a full `start --yes` with the FAKE smolvm (images
 * prebuilt; the agent prints one line and exits), against the same work done
 * directly by the bench: the same smolvm calls with the same argv (replayed
 * from the fake's call log: --version, create, start, exec probe, exec agent,
 * stop, delete), and the same docker work (network create, bundle run, health
 * wait, bundle rm, network rm). Each bot-bottle run is followed by its raw
 * replay, reusing the names, subnet, Smolfile and archive it just released.
 */
import { auditDir, controlDir, prepareBundleDirs } from "../lib/state/approvals.ts";
import { fileURLToPath } from "node:url";
import { bundleImageTag, DEFAULT_BUNDLE_BASE_IMAGE } from "../lib/bundle/bundle_image.ts";
import { BUNDLE_HEALTH_CMD, bundleRunArgv } from "../lib/bundle/bundle_run_argv.ts";
import { bottleLabels, LABEL_ROLE, ownerId } from "../lib/plan/resource_names.ts";
import { networkCreateArgv } from "../lib/host/docker_argv.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const decoder = new TextDecoder();

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function run(
  argv: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    clearEnv: true,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: o.code, out: decoder.decode(o.stdout), err: decoder.decode(o.stderr) };
}

async function must(argv: string[], env: Record<string, string>): Promise<string> {
  const r = await run(argv, env);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 4).join(" ")} exited ${r.code}: ${r.err}`);
  return r.out;
}

/** Run the section; `runs` timed launches (after one warm-up that builds/saves images). */
export async function benchSmolvmLaunch(runs: number): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "bbtest-bench-smolvm-" });
  const denoDir = JSON.parse(
    decoder.decode(
      (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output())
        .stdout,
    ),
  ).denoDir as string;
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const probePort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const manifest = `${work}/bot-bottle.toml`;
  await Deno.writeTextFile(
    manifest,
    `[bottles.shell]
dockerfile = "${ROOT}examples/agents/shell.Dockerfile"
secrets = { API_TOKEN = "BBBENCH_TOKEN" }
egress.allow = ["deb.debian.org"]

[agents.demo]
bottle = "shell"
command = ["bash", "-c"]
`,
  );
  const baseImage = Deno.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined;
  const bundleImage = bundleImageTag(baseImage ?? DEFAULT_BUNDLE_BASE_IMAGE);
  const env = (n: number): Record<string, string> => ({
    PATH: `${ROOT}tests/fixtures/bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    HOME: `${work}/home`,
    XDG_DATA_HOME: `${work}/data`,
    // One state root: the image archive is saved by the warm-up and reused.
    XDG_STATE_HOME: `${work}/state`,
    DENO_DIR: denoDir,
    NO_COLOR: "1",
    BBBENCH_TOKEN: "bench-token",
    FAKE_SMOLVM_LOG: `${work}/calls-${n}.jsonl`,
    BOT_BOTTLE_PROBE_TARGET: `127.0.0.1:${probePort}`,
    ...(baseImage ? { BOT_BOTTLE_BASE_IMAGE: baseImage } : {}),
  });
  const start = (n: number) =>
    run([
      Deno.execPath(),
      "run",
      "-q",
      "--no-prompt",
      "-P=bot-bottle",
      `--config=${ROOT}deno.json`,
      `${ROOT}main.ts`,
      "start",
      "demo",
      "--yes",
      "--manifest",
      manifest,
      "--label",
      `bbbench${n}`,
      "--",
      "echo one line from the agent",
    ], env(n));

  const bot: number[] = [];
  const raw: number[] = [];
  try {
    const warm = await start(0);
    if (warm.code !== 0) throw new Error(`warm-up start failed:\n${warm.err}`);
    for (let n = 1; n <= runs; n++) {
      const t0 = performance.now();
      const r = await start(n);
      bot.push(performance.now() - t0);
      if (r.code !== 0 || !r.out.includes("one line")) throw new Error(`start failed:\n${r.err}`);
      raw.push(await replay(n));
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }

  /** The same docker and smolvm work, done directly; returns its wall time. */
  async function replay(n: number): Promise<number> {
    const e = env(n);
    const calls = (await Deno.readTextFile(e.FAKE_SMOLVM_LOG)).split("\n").filter(Boolean)
      .map((l) => (JSON.parse(l) as { argv: string[] }).argv);
    // The run's slug is its label plus a suffix: its state dir says which.
    const bottles = `${e.XDG_STATE_HOME}/bot-bottle/bottles`;
    let slug = "";
    for await (const entry of Deno.readDir(bottles)) {
      if (entry.name.startsWith(`bbbench${n}-`)) slug = entry.name;
    }
    if (!slug) throw new Error(`no state dir for bbbench${n} in ${bottles}`);
    const stateDir = `${bottles}/${slug}`;
    const meta = JSON.parse(await Deno.readTextFile(`${stateDir}/metadata.json`));
    const labels = bottleLabels(slug, "smolmachines", ownerId(`${e.XDG_STATE_HOME}/bot-bottle`));
    const network = `bot-bottle-${slug}`;
    const bundle = `bot-bottle-${slug}-bundle`;
    const t0 = performance.now();
    try {
      await must(["smolvm", "--version"], e);
      await prepareBundleDirs(stateDir);
      await must(
        networkCreateArgv({
          name: network,
          subnet: meta.subnet,
          gateway: meta.gateway,
          internal: false,
          labels: { ...labels, [LABEL_ROLE]: "egress" },
        }),
        e,
      );
      await must(
        bundleRunArgv({
          slug,
          image: bundleImage,
          egressNetwork: network,
          ip: meta.bundle_ip,
          configDir: `${stateDir}/bundle`,
          identityMounts: [],
          auditDir: auditDir(stateDir),
          controlDir: controlDir(stateDir),
          limits: { memory_mib: 384, cpus: 1, pids: 256 },
          labels: { ...labels, [LABEL_ROLE]: "bundle" },
        }),
        e,
      );
      for (let i = 0;; i++) {
        const h = await run(["docker", "exec", bundle, BUNDLE_HEALTH_CMD], e);
        if (h.out.trim() === "healthy") break;
        if (i > 360) throw new Error("bundle never became healthy");
        await new Promise((r) => setTimeout(r, 250));
      }
      // The launch hands smolvm a private copy of the cached image archive; so does this.
      const cache = `${e.XDG_STATE_HOME}/bot-bottle/images`;
      for await (const entry of Deno.readDir(cache)) {
        if (entry.name.endsWith(".tar")) {
          await Deno.copyFile(`${cache}/${entry.name}`, `${stateDir}/image.tar`);
          await Deno.chmod(`${stateDir}/image.tar`, 0o644);
          break;
        }
      }
      for (const argv of calls.slice(1)) {
        const r = await run(argv, e);
        if (r.code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")}: ${r.err}`);
      }
    } finally {
      await Deno.remove(`${stateDir}/image.tar`).catch(() => {});
      await run(["docker", "rm", "--force", "--volumes", bundle], e);
      await run(["docker", "network", "rm", network], e);
    }
    return performance.now() - t0;
  }

  const b = median(bot);
  const w = median(raw);
  const row = (label: string, ms: number) =>
    console.log(`${label.padEnd(46)} ${ms.toFixed(1).padStart(8)} ms  (median of ${runs})`);
  row("smolmachines: start --yes, whole run (fake)", b);
  row("smolmachines: raw smolvm calls + docker work", w);
  console.log(
    `ratio: bot-bottle total / raw calls = ${(b / w).toFixed(2)}; ` +
      `bot-bottle's own share ≈ ${(b - w).toFixed(1)} ms`,
  );
}
