/**
 * `deno task bench:tls`: what TLS interception (SPEC §12) costs, on a real Docker engine.
 *
 * A bundle (the product's image and rendered config, memory limit as a launch sets it) with an
 * injected secret for `api.test`, so that host is intercepted, and `tunnel.test` allowed but
 * not intercepted; an HTTPS upstream with its own CA (delivered to the bundle as ca_certs)
 * answers as both; a client container trusts the bundle's CA and the upstream's.
 *
 * 1. BENCH_REQUESTS (default 200) HTTPS GETs through the proxy to each host, carrying the
 *    placeholder in `x-api-key` (swapped in by the bundle on api.test, an opaque string in the
 *    tunnel), in two shapes: one keep-alive connection (what API clients do) and a new
 *    connection (CONNECT + TLS handshake) per request. Medians of BENCH_RUNS (default 7)
 *    rounds, after a warm-up; the figure is intercepted / tunnelled time (target <= 1.5x), and
 *    the bundle daemon's CPU time per request (less sensitive to a busy machine).
 *    BENCH_INTERCEPT=rules intercepts api.test for an egress rule instead (no injection or
 *    redaction: what TLS interception alone costs).
 * 2. The bundle's memory with interception active, right after the runs: `docker stats
 *    --no-stream`, and the cgroup's peak (v1 memory.max_usage_in_bytes or v2 memory.peak) when
 *    readable (target < 64 MiB).
 *
 * Every request goes to containers on an `--internal` network this script creates; everything
 * is removed at the end. No timing is asserted anywhere in the tests; this script only reports.
 */
import { renderBundleConfig } from "../lib/bundle/config/render_bundle_config.ts";
import { guestPemArgv } from "../lib/launch/guest_trust.ts";
import { secretDeliveryArgv } from "../lib/launch/secret_delivery.ts";
import { randomPlaceholder } from "../lib/plan/placeholder.ts";
import {
  createTestNetwork,
  docker,
  removeAll,
  runner,
  uniquePrefix,
  waitHealthy,
} from "../tests/_harness/docker.ts";
import { testBundleArgv } from "../tests/_harness/bundle.ts";
import { bundleImage, fixtureImage } from "../tests/_harness/images.ts";
import { startHttpsUpstream } from "../tests/_harness/upstreams.ts";

const REQUESTS = Number(Deno.env.get("BENCH_REQUESTS") ?? 200);
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 7);
/** BENCH_INTERCEPT=rules: api.test is intercepted for an egress rule, with no secret to inject. */
const RULES_ONLY = Deno.env.get("BENCH_INTERCEPT") === "rules";
/** The bundle's memory limit in a launch (bottles.X.bundle.memory's default). */
const BUNDLE_MEMORY_MIB = 384;

/**
 * The client: `n` GETs of https://<host>/echo through the proxy, on one keep-alive connection
 * or a new one each; prints the seconds taken. Fails on any status but 200.
 */
const CLIENT = String.raw`
import http.client, ssl, sys, time
proxy, host, n, shape, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile="/ca.pem")
phost, pport = proxy.split(":")
def conn():
    c = http.client.HTTPSConnection(phost, int(pport), context=ctx, timeout=30)
    c.set_tunnel(host, 443)
    return c
t0 = time.perf_counter()
c = conn()
for i in range(n):
    if shape == "fresh" and i:
        c.close()
        c = conn()
    c.request("GET", "/echo?i=%d" % i, headers={"x-api-key": key})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("request %d to %s: %d %s" % (i, host, r.status, body[:200]))
c.close()
print("%.6f" % (time.perf_counter() - t0))
`;

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The bundle container's cgroup memory: current and peak bytes, when the host exposes them. */
async function cgroupMemory(id: string): Promise<{ current?: number; peak?: number }> {
  const read = async (path: string) => {
    try {
      return Number((await Deno.readTextFile(path)).trim());
    } catch {
      return undefined;
    }
  };
  for (const dir of [`/sys/fs/cgroup/memory/docker/${id}`, `/sys/fs/cgroup/docker/${id}`]) {
    const v1 = await read(`${dir}/memory.usage_in_bytes`);
    if (v1 !== undefined) {
      return { current: v1, peak: await read(`${dir}/memory.max_usage_in_bytes`) };
    }
  }
  for (
    const dir of [`/sys/fs/cgroup/system.slice/docker-${id}.scope`, `/sys/fs/cgroup/docker/${id}`]
  ) {
    const v2 = await read(`${dir}/memory.current`);
    if (v2 !== undefined) return { current: v2, peak: await read(`${dir}/memory.peak`) };
  }
  return {};
}

const prefix = uniquePrefix();
const network = `${prefix}-net`;
const upstream = `${prefix}-upstream`;
const bundleName = `bot-bottle-${prefix}-bundle`;
const client = `${prefix}-client`;
const root = await Deno.makeTempDir({ prefix: "bot-bottle-bench-tls-" });
try {
  const [bundle, fixture] = await Promise.all([bundleImage(), fixtureImage()]);
  const { prefix: net } = await createTestNetwork(network);
  const bundleIp = `${net}.2`;
  const { caPem } = await startHttpsUpstream({
    name: upstream,
    network,
    fixture,
    names: ["api.test", "tunnel.test"],
  });
  const placeholder = randomPlaceholder();
  const config = renderBundleConfig({
    slug: prefix,
    egressAllow: ["api.test", "tunnel.test"],
    git: [],
    intercept: ["api.test"],
    ...(RULES_ONLY
      ? {
        rules: [{ host: "api.test", methods: ["GET"], where: "bench", source: "bench_tls.ts" }],
      }
      : { injected: [{ name: "API_KEY", placeholder, inject: ["api.test"] }] }),
    caCertsPem: caPem,
  });
  const argv = await testBundleArgv({
    prefix,
    image: bundle,
    network,
    ip: bundleIp,
    root,
    config,
    memoryMib: BUNDLE_MEMORY_MIB,
  });
  await docker(argv.slice(1));
  await docker(["run", "-d", "--name", client, "--network", network, fixture, "sleep", "3600"]);
  await waitHealthy(bundleName);
  if (!RULES_ONLY) {
    const value = `sk-bench-${crypto.randomUUID()}`;
    const delivered = await runner.run(secretDeliveryArgv(bundleName), {
      input: JSON.stringify({ API_KEY: value }) + "\n",
    });
    if (delivered.code !== 0) throw new Error(`bb-secrets: ${delivered.stdout}${delivered.stderr}`);
  }
  const pem = await docker(guestPemArgv(bundleName).slice(1));
  await docker(["exec", "-i", client, "sh", "-c", "cat >/ca.pem"], { input: pem.stdout });
  await docker(["exec", "-i", client, "sh", "-c", "cat >/bench.py"], { input: CLIENT });
  const proxy = `${bundleIp}:8888`;

  // The bundle daemon (proxy, DNS sink, audit log): its host PID, for its CPU time.
  const top = await docker(["top", bundleName, "-eo", "pid,args"]);
  const daemonPid = top.stdout.split("\n").find((l) => l.includes("bb.main"))?.trim().split(
    /\s+/,
  )[0];
  /** CPU seconds the bundle daemon has used (from the host's /proc; NaN if unreadable). */
  const bundleCpu = async (): Promise<number> => {
    const stat = await Deno.readTextFile(`/proc/${daemonPid}/stat`).catch(() => null);
    if (stat === null || daemonPid === undefined) return NaN;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, USER_HZ ticks
  };
  /** One round: its wall time and the bundle's CPU time, in seconds. */
  const run = async (host: string, n: number, shape: "keepalive" | "fresh") => {
    const cpu0 = await bundleCpu();
    const r = await docker([
      "exec",
      client,
      "python3",
      "/bench.py",
      proxy,
      host,
      String(n),
      shape,
      placeholder,
    ]);
    const cpu1 = await bundleCpu();
    return {
      wall: Number(r.stdout.trim()),
      cpu: cpu1 - cpu0,
    };
  };
  // Warm-up: the leaf certificate for api.test is made on first use.
  for (const host of ["api.test", "tunnel.test"]) await run(host, 5, "fresh");

  console.log(
    `bench:tls: ${REQUESTS} HTTPS requests per round, median of ${RUNS} rounds, through the ` +
      "bundle's proxy to a local upstream",
  );
  for (const shape of ["keepalive", "fresh"] as const) {
    const wall: Record<string, number[]> = { "api.test": [], "tunnel.test": [] };
    const cpu: Record<string, number[]> = { "api.test": [], "tunnel.test": [] };
    for (let i = 0; i < RUNS; i++) {
      // Alternate the order so neither host always runs on a warmer machine.
      const order = i % 2 ? ["tunnel.test", "api.test"] : ["api.test", "tunnel.test"];
      for (const host of order) {
        const r = await run(host, REQUESTS, shape);
        wall[host].push(r.wall);
        cpu[host].push(r.cpu);
      }
    }
    const ms = (s: number) => `${(s / REQUESTS * 1000).toFixed(1)} ms/req`;
    const [wi, wt] = [median(wall["api.test"]), median(wall["tunnel.test"])];
    const [ci, ct] = [median(cpu["api.test"]), median(cpu["tunnel.test"])];
    const ratio = wi / wt;
    const label = shape === "keepalive" ? "one keep-alive connection:" : "a new connection each:";
    console.log(
      `  ${label}\n` +
        `    wall: intercepted ${wi.toFixed(2)} s (${ms(wi)}), tunnelled ${wt.toFixed(2)} s ` +
        `(${ms(wt)}): ${ratio.toFixed(2)}x (target <= 1.5x: ${
          ratio <= 1.5 ? "met" : "NOT met"
        })\n` +
        `    bundle CPU: intercepted ${ms(ci)}, tunnelled ${ms(ct)} (${(ci / ct).toFixed(1)}x)`,
    );
  }

  const stats = await docker([
    "stats",
    "--no-stream",
    "--format",
    "{{.MemUsage}}",
    bundleName,
  ]);
  const id = (await docker(["inspect", "-f", "{{.Id}}", bundleName])).stdout.trim();
  const cg = await cgroupMemory(id);
  const usage = stats.stdout.trim().split(" / ")[0];
  const usageMib = /MiB$/.test(usage)
    ? Number(usage.replace("MiB", ""))
    : /GiB$/.test(usage)
    ? Number(usage.replace("GiB", "")) * 1024
    : /KiB$/.test(usage)
    ? Number(usage.replace("KiB", "")) / 1024
    : NaN;
  console.log(
    `  bundle memory with interception active: ${usage} (docker stats; target < 64 MiB: ` +
      `${usageMib < 64 ? "met" : "NOT met"})` +
      (cg.current !== undefined ? `; cgroup usage ${mib(cg.current)}` : "") +
      (cg.peak !== undefined ? `, peak ${mib(cg.peak)} (page cache included)` : ""),
  );
} finally {
  await removeAll([client, bundleName, upstream], [network]);
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
