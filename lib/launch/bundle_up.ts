/**
 * What both backends do first: the bottle's /24 network (moving on overlap,
 * bounded), and the sidecar bundle on it at the plan's IP, healthy.
 */
import { bundleRunArgv } from "../bundle/bundle_run_argv.ts";
import { renderBundleConfig } from "../bundle/config/render_bundle_config.ts";
import { UserError } from "../errors.ts";
import type { GitRemote } from "../manifest/types.ts";
import type { TakenRange } from "../plan/bundle_subnet.ts";
import type { Plan } from "../plan/plan_types.ts";
import { bundleName, LABEL_ROLE } from "../plan/resource_names.ts";
import {
  healthInspectArgv,
  logsArgv,
  networkConnectArgv,
  networkCreateArgv,
} from "../host/docker_argv.ts";
import { readDockerSubnets } from "../host/docker_networks.ts";
import type { Runner } from "../host/runner.ts";
import { ensurePrivateDir, writeFileAtomic, writeMetadata } from "../state/metadata_store.ts";
import { type Interrupts, sleep } from "./interrupts.ts";

/** Docker resources created so far, in creation order (teardown reverses them). */
export interface CreatedResources {
  containers: string[];
  networks: string[];
}

const OVERLAP = /overlap/i;
const MAX_SUBNET_TRIES = 8;

/** Labels of one resource of the plan's bottle. */
export function roleLabels(plan: Plan, role: string): Record<string, string> {
  return { ...plan.labels, [LABEL_ROLE]: role };
}

/**
 * Create the network that carries the plan's /24. On an address-pool overlap
 * the plan moves to the next free /24 (bounded) and the metadata is rewritten.
 * Returns the plan in force.
 */
export async function createSubnetNetwork(
  runner: Runner,
  initial: Plan,
  opts: {
    name: string;
    role: string;
    internal: boolean;
    created: CreatedResources;
    interrupts: Interrupts;
    replan(extra: TakenRange[]): Plan;
    progress(line: string): void;
  },
): Promise<Plan> {
  let plan = initial;
  for (let tries = 1;; tries++) {
    opts.interrupts.check();
    opts.created.networks.push(opts.name);
    const r = await runner.run(networkCreateArgv({
      name: opts.name,
      subnet: plan.subnet,
      gateway: plan.gateway,
      internal: opts.internal,
      labels: roleLabels(plan, opts.role),
    }));
    if (r.code === 0) break;
    opts.created.networks.pop();
    const why = r.stderr.trim().split("\n")[0];
    if (!OVERLAP.test(r.stderr) || tries >= MAX_SUBNET_TRIES) {
      throw new UserError(`creating network ${opts.name} (${plan.subnet}) failed: ${why}`);
    }
    // Networks created since the plan was made (other bottles starting at the same time, or
    // Docker handing a default-pool 192.168.x.0/20 to a network made without --subnet) would
    // make "the next /24" overlap again and again: mark everything Docker has now as taken.
    const fresh = await readDockerSubnets(runner);
    const moved = opts.replan([
      { cidr: plan.subnet, source: "docker network create (overlap)" },
      ...fresh.ranges,
    ]);
    opts.progress(`${plan.subnet} overlaps an existing network; moving to ${moved.subnet}`);
    plan = moved;
  }
  await writeMetadata(plan.state_dir, plan.metadata);
  return plan;
}

/**
 * Render the bundle's config into the state dir (mounted read-only), start the
 * bundle on `network` at the plan's bundle IP, and wait (bounded by
 * BOT_BOTTLE_HEALTH_TIMEOUT) for its health check.
 */
export async function startBundle(
  runner: Runner,
  plan: Plan,
  opts: {
    network: string;
    image: string;
    git: GitRemote[];
    home?: string;
    /** A second network (the docker backend's egress bridge), joined before the bundle starts. */
    alsoOn?: string;
    created: CreatedResources;
    interrupts: Interrupts;
    env: { get(name: string): string | undefined };
    progress(line: string): void;
  },
): Promise<string> {
  const config = renderBundleConfig({
    slug: plan.slug,
    egressAllow: plan.egress_allow,
    git: opts.git,
    homeDir: opts.home,
  });
  for (const mount of config.identityMounts) {
    try {
      if (!(await Deno.stat(mount.hostPath)).isFile) throw new Error("not a file");
    } catch {
      throw new UserError(
        `the git identity ${mount.hostPath} (for ${mount.containerPath.split("/").pop()}) is not ` +
          "a readable file, so the git gate could not push; nothing was started",
        { hint: "fix `identity` in the bottle's git entry, or create the key" },
      );
    }
  }
  const configDir = `${plan.state_dir}/bundle`;
  await ensurePrivateDir(configDir);
  await Deno.chmod(configDir, 0o755);
  for (const [path, text] of Object.entries(config.files)) {
    const full = `${configDir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await writeFileAtomic(full, text, 0o644);
  }
  const bundle = bundleName(plan.slug);
  opts.interrupts.check();
  const runArgv = bundleRunArgv({
    slug: plan.slug,
    image: opts.image,
    egressNetwork: opts.network,
    ip: plan.bundle_ip,
    configDir,
    identityMounts: config.identityMounts,
    labels: roleLabels(plan, "bundle"),
  });
  // With a second network the bundle is created, connected, then started, so
  // its daemons never run (and fetch git upstreams) before it has a way out.
  const steps = opts.alsoOn
    ? [
      ["docker", "create", ...runArgv.slice(3)],
      networkConnectArgv(opts.alsoOn, bundle),
      ["docker", "start", bundle],
    ]
    : [runArgv];
  for (const argv of steps) {
    opts.interrupts.check();
    const r = await runner.run(argv);
    opts.interrupts.check();
    if (r.code !== 0) {
      throw new UserError(
        `starting the bundle failed (${argv.slice(0, 3).join(" ")}): ${
          r.stderr.trim().split("\n")[0] || `exit ${r.code}`
        }`,
      );
    }
    // Recorded only once it exists: a name already taken (by a container that is not this
    // bottle's) must not be removed by our teardown. A container that docker created before
    // failing carries the bottle's labels, and teardown finds it by them.
    if (argv === steps[0]) opts.created.containers.push(bundle);
  }
  const timeout = healthTimeoutMs(opts.env.get("BOT_BOTTLE_HEALTH_TIMEOUT"));
  await waitHealthy(runner, bundle, timeout, opts.interrupts);
  opts.progress(`bundle ${bundle} is healthy at ${plan.bundle_ip}`);
  return bundle;
}

/** The bounded wait for the bundle's health check: BOT_BOTTLE_HEALTH_TIMEOUT seconds, default 90. */
export function healthTimeoutMs(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 90_000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new UserError(
      `BOT_BOTTLE_HEALTH_TIMEOUT is "${value}", not a number of seconds (1-3600)`,
    );
  }
  return Math.round(seconds * 1000);
}

/** Wait (bounded) for the bundle's health check; on failure say why, with its logs. */
export async function waitHealthy(
  runner: Runner,
  name: string,
  timeoutMs: number,
  interrupts: Interrupts,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    interrupts.check();
    const r = await runner.run(healthInspectArgv(name));
    if (r.code === 0) {
      last = r.stdout.trim();
      let status = "";
      try {
        status = (JSON.parse(last) as { Status?: string } | null)?.Status ?? "";
      } catch { /* not JSON yet */ }
      if (status === "healthy") return;
      if (status === "unhealthy") break;
      const state = await runner.run(["docker", "inspect", "--format", "{{.State.Status}}", name]);
      if (state.code === 0 && ["exited", "dead"].includes(state.stdout.trim())) {
        last = `container ${state.stdout.trim()}`;
        break;
      }
    }
    await sleep(250, interrupts.signal);
  }
  const logs = await runner.run(logsArgv(name, 40));
  throw new UserError(
    `the bundle ${name} did not become healthy (${
      last || "no health status"
    }); its last log lines:\n` +
      `${`${logs.stdout}${logs.stderr}`.trim() || "(no logs)"}`,
    { hint: "nothing was left running; check the bottle's egress.allow and the bundle image" },
  );
}
