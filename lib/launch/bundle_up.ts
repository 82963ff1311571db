/**
 * What both backends do first: the bottle's /24 network (moving on overlap,
 * bounded), and the sidecar bundle on it at the plan's IP, healthy. Each
 * object goes on the launch's teardown stack the moment it exists.
 */
import { BUNDLE_HEALTH_CMD, bundleRunArgv } from "../bundle/bundle_run_argv.ts";
import { UserError } from "../errors.ts";
import type { Plan } from "../plan/plan_types.ts";
import { bundleName, LABEL_ROLE } from "../plan/resource_names.ts";
import {
  healthExecArgv,
  logsArgv,
  networkConnectArgv,
  networkCreateArgv,
} from "../host/docker_argv.ts";
import { readDockerSubnets } from "../host/docker_networks.ts";
import { lastLine, runOk } from "../host/runner.ts";
import { metadataOf } from "../plan/metadata_record.ts";
import { ensurePrivateDir, writeFileAtomic, writeMetadata } from "../state/metadata_store.ts";
import { removeContainer, removeNetwork } from "../bottles/teardown.ts";
import { auditDir, controlDir, prepareBundleDirs } from "../state/approvals.ts";
import type { Launch, SubnetRole } from "../backends/backend.ts";
import { sleep } from "./interrupts.ts";
import { deliverSecrets } from "./secret_delivery.ts";

const OVERLAP = /overlap/i;
/** How long one health ask waits inside the bundle before answering "unhealthy". */
const HEALTH_ASK_SECONDS = 5;
const MAX_SUBNET_TRIES = 8;

/** Labels of one resource of the plan's bottle. */
export function roleLabels(plan: Plan, role: string): Record<string, string> {
  return { ...plan.labels, [LABEL_ROLE]: role };
}

/**
 * Create a network on one of the plan's explicit /24s (`which`: the bundle's, or the docker
 * backend's bridge). On an address-pool overlap the plan moves to the next free /24 (bounded),
 * keeping what this launch already created where it is, and the metadata is rewritten.
 */
export async function createSubnetNetwork(
  launch: Launch,
  opts: { name: string; role: string; internal: boolean; which: SubnetRole },
): Promise<void> {
  const cidrOf = (plan: Plan) => opts.which === "subnet" ? plan.subnet : plan.bridge_subnet;
  const gatewayOf = (plan: Plan) => opts.which === "subnet" ? plan.gateway : plan.bridge_gateway;
  for (let tries = 1;; tries++) {
    const plan = launch.plan;
    const subnet = cidrOf(plan);
    if (subnet === null) throw new Error(`createSubnetNetwork: the plan has no ${opts.which}`);
    const r = await launch.runner.run(networkCreateArgv({
      name: opts.name,
      subnet,
      gateway: gatewayOf(plan) ?? undefined,
      internal: opts.internal,
      labels: roleLabels(plan, opts.role),
    }));
    if (r.code === 0) break;
    if (!OVERLAP.test(r.stderr) || tries >= MAX_SUBNET_TRIES) {
      throw new UserError(`creating network ${opts.name} (${subnet}) failed: ${lastLine(r)}`);
    }
    // Networks created since the plan was made (other bottles starting at the same time) would
    // make "the next /24" overlap again and again: mark everything Docker has now as taken, but
    // this launch's own networks, which stay where they are.
    const ours = new Set(launch.teardown.created.map((c) => `docker network "${c.name}"`));
    const fresh = (await readDockerSubnets(launch.runner)).ranges.filter((t) =>
      !ours.has(t.source)
    );
    const keep: SubnetRole[] = opts.which === "bridge" ? ["subnet"] : [];
    const moved = launch.replan([
      { cidr: subnet, source: "docker network create (overlap)" },
      ...fresh,
    ], keep);
    launch.progress(`${subnet} overlaps an existing network; moving to ${cidrOf(moved)}`);
    launch.plan = moved;
  }
  const runner = launch.teardownRunner;
  launch.teardown.add({ kind: "network", name: opts.name }, () => removeNetwork(runner, opts.name));
  await writeMetadata(launch.plan.state_dir, metadataOf(launch.plan));
}

/**
 * Write the plan's bundle config into the state dir (mounted read-only),
 * start the bundle on `network` at the plan's bundle IP (joining `alsoOn`
 * before it starts, so its daemons never run without their way out), and
 * wait (bounded by BOT_BOTTLE_HEALTH_TIMEOUT) for its health check.
 */
export async function startBundle(
  launch: Launch,
  opts: {
    network: string;
    alsoOn?: string;
    /**
     * Work that needs the bundle to exist but not to be healthy (the docker agent's idle
     * container), done while the health check is waited for. Both always run to their end
     * before this returns or throws, so whatever either created is on the teardown stack.
     */
    beside?: () => Promise<void>;
  },
): Promise<string> {
  const plan = launch.plan;
  const config = plan.bundle_config;
  for (const mount of config.identity_mounts) {
    try {
      if (!(await Deno.stat(mount.host_path)).isFile) throw new Error("not a file");
    } catch {
      throw new UserError(
        `the git identity ${mount.host_path} (for ${
          mount.container_path.split("/").pop()
        }) is not a readable file, so the git gate could not push; nothing was started`,
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
  await prepareBundleDirs(plan.state_dir);
  const bundle = bundleName(plan.slug);
  const runArgv = bundleRunArgv({
    slug: plan.slug,
    image: launch.images.bundle,
    egressNetwork: opts.network,
    ip: plan.bundle_ip,
    configDir,
    identityMounts: config.identity_mounts,
    auditDir: auditDir(plan.state_dir),
    controlDir: controlDir(plan.state_dir),
    limits: plan.bundle_limits,
    audit: plan.audit,
    labels: roleLabels(plan, "bundle"),
  });
  const what = (argv: readonly string[]) => `starting the bundle (${argv.slice(0, 3).join(" ")})`;
  // A name already taken (by a container that is not this bottle's) fails the create, and the
  // container is then not ours to remove: it goes on the stack only once docker made it.
  const runner = launch.teardownRunner;
  const created = () =>
    launch.teardown.add({ kind: "container", name: bundle }, () => removeContainer(runner, bundle));
  if (opts.alsoOn) {
    const createArgv = ["docker", "create", ...runArgv.slice(3)];
    await runOk(launch.runner, createArgv, what(createArgv));
    created();
    const connect = networkConnectArgv(opts.alsoOn, bundle);
    await runOk(launch.runner, connect, what(connect));
    await runOk(launch.runner, ["docker", "start", bundle], what(["docker", "start"]));
  } else {
    await runOk(launch.runner, runArgv, what(runArgv));
    created();
  }
  const timeout = healthTimeoutMs(launch.env.get("BOT_BOTTLE_HEALTH_TIMEOUT"));
  const [health, beside] = await Promise.allSettled([
    waitHealthy(launch, bundle, timeout),
    opts.beside?.(),
  ]);
  // The bundle's failure is the one to report: it is why anything else would have failed.
  if (health.status === "rejected") throw health.reason;
  if (beside.status === "rejected") throw beside.reason;
  launch.progress(`bundle ${bundle} is healthy at ${plan.bundle_ip}`);
  const delivered = await deliverSecrets(launch.runner, bundle, plan, launch.env);
  if (delivered !== null) launch.progress(delivered);
  return bundle;
}

/**
 * The bounded wait for the bundle's health check: BOT_BOTTLE_HEALTH_TIMEOUT seconds, default
 * 300 (64 bundles starting at once on two cores take minutes; a bundle that dies ends the wait).
 */
export function healthTimeoutMs(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 300_000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new UserError(
      `BOT_BOTTLE_HEALTH_TIMEOUT is "${value}", not a number of seconds (1-3600)`,
    );
  }
  return Math.round(seconds * 1000);
}

/** Wait (bounded) for the bundle's health check; on failure say why, with its logs. */
export async function waitHealthy(launch: Launch, name: string, timeoutMs: number): Promise<void> {
  const { runner } = launch;
  const deadline = Date.now() + timeoutMs;
  let last = "";
  // The bundle's own health script, asked directly until it says healthy; each ask waits
  // inside the bundle (up to HEALTH_ASK_SECONDS, polling every 0.1 s there). A slow answer on a
  // busy host is not a failure; a bundle that exited is (its init stops on any daemon's death).
  while (Date.now() < deadline) {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    const r = await runner.run(
      healthExecArgv(name, BUNDLE_HEALTH_CMD, Math.max(1, Math.min(HEALTH_ASK_SECONDS, left))),
    );
    if (r.code === 0 && r.stdout.trim() === "healthy") return;
    last = (r.stdout.trim() || r.stderr.trim()).split("\n").pop() ?? "";
    if (!r.stdout.startsWith("unhealthy:")) {
      // The script did not answer: ask Docker whether the bundle is still there at all.
      const state = await runner.run(["docker", "inspect", "--format", "{{.State.Status}}", name]);
      if (state.code !== 0) {
        last = "the container is gone";
        break;
      }
      if (["exited", "dead"].includes(state.stdout.trim())) {
        last = `container ${state.stdout.trim()}`;
        break;
      }
    }
    await sleep(400, launch.signal);
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
