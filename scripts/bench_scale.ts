/**
 * `deno task bench:scale`: N bottles started at once on one host (default 64, SPEC §15), per
 * backend (docker; smolmachines through the fake smolvm when no real one is on PATH). Each
 * bottle's agent prints READY and waits; once every bottle is READY (or has failed), all are
 * stopped with SIGTERM and must leave nothing behind. Prints failures, the wall time until the
 * last READY and the median time to READY. A benchmark, not a test: it asserts nothing but
 * reports what it saw, and exits 1 when any bottle failed.
 *
 * Network rule: the egress probe aims at a container this script creates on its own
 * `--internal` network; no bottle sends traffic anywhere but its bundle.
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const N = Number(Deno.env.get("BENCH_SCALE_N") ?? 64);
const BACKENDS = (Deno.env.get("BENCH_SCALE_BACKENDS") ?? "docker,smolmachines").split(",");
const READY_TIMEOUT_MS = Number(Deno.env.get("BENCH_SCALE_TIMEOUT_S") ?? 900) * 1000;
const deno = Deno.execPath();

async function docker(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command("docker", { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout).trim(), err: d.decode(r.stderr).trim() };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface Bottle {
  child: Deno.ChildProcess;
  readyMs: number | null;
  out: string;
  err: string;
  done: Promise<number>;
}

async function runBackend(backend: string, tmp: string, target: string): Promise<boolean> {
  const smolvmOnPath = (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return Deno.statSync(`${d}/smolvm`).isFile;
    } catch {
      return false;
    }
  });
  const path = backend === "smolmachines" && !smolvmOnPath
    ? `${ROOT}tests/fixtures/bin:${Deno.env.get("PATH")}`
    : Deno.env.get("PATH") ?? "";
  const dir = `${tmp}/${backend}`;
  await Deno.mkdir(`${dir}/home`, { recursive: true });
  const manifest = `${dir}/bot-bottle.toml`;
  await Deno.writeTextFile(
    manifest,
    `[bottles.shell]\ndockerfile = ${JSON.stringify(`${ROOT}examples/agents/shell.Dockerfile`)}\n` +
      `cpus = 1\nmemory = 256\n\n[agents.scale]\nbottle = "shell"\n` +
      `command = ["bash", "-c", "echo READY; exec sleep 1800"]\n\n` +
      `[agents.warm]\nbottle = "shell"\ncommand = ["true"]\n`,
  );
  const env = {
    PATH: path,
    HOME: `${dir}/home`,
    XDG_STATE_HOME: `${dir}/state`,
    XDG_CONFIG_HOME: `${dir}/config`,
    XDG_DATA_HOME: `${dir}/data`,
    XDG_CACHE_HOME: `${dir}/cache`,
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
    NO_COLOR: "1",
    BOT_BOTTLE_PROBE_TARGET: target,
    BOT_BOTTLE_HEALTH_TIMEOUT: "900",
  };
  // Build the images once, outside the measurement.
  /** `bot-bottle start <agent>` under the binary's permission set. */
  const startArgs = (agent: string) => [
    "run",
    "-q",
    "--no-prompt",
    "-P=bot-bottle",
    `--config=${ROOT}deno.json`,
    `${ROOT}main.ts`,
    ...["start", agent, "--backend", backend, "--yes", "--manifest", manifest],
  ];
  const warm = await new Deno.Command(deno, {
    args: startArgs("warm"),
    cwd: dir,
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!warm.success) {
    console.log(`${backend}: the warm-up bottle failed:\n${new TextDecoder().decode(warm.stderr)}`);
    return false;
  }
  const t0 = performance.now();
  const bottles: Bottle[] = [];
  for (let i = 0; i < N; i++) {
    const child = new Deno.Command(deno, {
      args: startArgs("scale"),
      cwd: dir,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const bottle: Bottle = { child, readyMs: null, out: "", err: "", done: Promise.resolve(0) };
    const d1 = new TextDecoder();
    const d2 = new TextDecoder();
    const pumps = Promise.all([
      (async () => {
        for await (const c of child.stdout) {
          bottle.out += d1.decode(c, { stream: true });
          if (bottle.readyMs === null && bottle.out.includes("READY")) {
            bottle.readyMs = performance.now() - t0;
          }
        }
      })(),
      (async () => {
        for await (const c of child.stderr) bottle.err += d2.decode(c, { stream: true });
      })(),
    ]);
    bottle.done = child.status.then(async (s) => {
      await pumps;
      return s.code;
    });
    bottles.push(bottle);
  }
  const exited = new Set<number>();
  bottles.forEach((b, i) => b.done.then(() => exited.add(i)));
  while (performance.now() - t0 < READY_TIMEOUT_MS) {
    if (bottles.every((b, i) => b.readyMs !== null || exited.has(i))) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const wall = performance.now() - t0;
  const ready = bottles.filter((b) => b.readyMs !== null);
  const failed = bottles.filter((b) => b.readyMs === null);
  for (const b of bottles) {
    try {
      b.child.kill("SIGTERM");
    } catch { /* exited */ }
  }
  const codes = await Promise.all(bottles.map((b) => b.done));
  const left = await docker([
    "ps",
    "-a",
    "--filter",
    `label=io.bot-bottle.slug`,
    "--format",
    "{{.Names}}",
  ]);
  const ours = left.out.split("\n").filter((n) => n.startsWith("bot-bottle-scale-"));
  console.log(
    `${backend}: ${N} bottles at once: ${ready.length} ready, ${failed.length} failed; ` +
      `wall to last READY ${(wall / 1000).toFixed(1)} s; median start ${
        (median(ready.map((b) => b.readyMs!)) / 1000).toFixed(1)
      } s; after SIGTERM: exit codes ${
        [...new Set(codes)].join(",")
      }, ${ours.length} containers left`,
  );
  for (const b of failed.slice(0, 3)) {
    console.log(`  a failure's last lines:\n${b.err.trim().split("\n").slice(-4).join("\n")}`);
  }
  return failed.length === 0 && ours.length === 0;
}

const tmp = await Deno.makeTempDir({ prefix: "bot-bottle-bench-scale-" });
const id = crypto.randomUUID().slice(0, 6);
const net = `bbbench-${id}-net`;
const target = `bbbench-${id}-target`;
let ok = true;
try {
  await docker(["network", "create", "--internal", "--subnet", "10.215.77.0/24", net]);
  await docker([
    "run",
    "-d",
    "--name",
    target,
    "--network",
    net,
    "--ip",
    "10.215.77.9",
    "debian:bookworm-slim",
    "sleep",
    "infinity",
  ]);
  for (const backend of BACKENDS) ok = (await runBackend(backend, tmp, "10.215.77.9:443")) && ok;
} finally {
  await docker(["rm", "-f", target]);
  await docker(["network", "rm", net]);
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
Deno.exit(ok ? 0 : 1);
