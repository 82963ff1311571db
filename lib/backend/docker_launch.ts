/**
 * The docker backend's launch (SPEC §7): networks, bundle, hardened agent,
 * egress probe, the agent attached to the terminal, and teardown in reverse
 * order on every path (agent exit, a failed step, SIGINT, SIGTERM).
 *
 * Networks: `bot-bottle-<slug>-internal` is `--internal` and carries the
 * plan's /24 (the bundle at .2, the agent beside it, no route anywhere);
 * `bot-bottle-<slug>` is the bundle's egress bridge (Docker picks its subnet).
 */
import { ensureBundleImage } from "../bundle/bundle_image.ts";
import { bundleRunArgv } from "../bundle/bundle_run_argv.ts";
import { renderBundleConfig } from "../bundle/render_bundle_config.ts";
import { UserError } from "../errors.ts";
import type { ResolvedBottle } from "../manifest/types.ts";
import type { TakenRange } from "../plan/bundle_subnet.ts";
import type { Plan } from "../plan/plan_types.ts";
import {
  agentContainerName,
  bundleName,
  internalNetworkName,
  LABEL_ROLE,
  networkName,
} from "../plan/resource_names.ts";
import {
  agentExecArgv,
  agentRunArgv,
  healthInspectArgv,
  logsArgv,
  networkConnectArgv,
  networkCreateArgv,
} from "../runtime/docker_argv.ts";
import type { Runner } from "../runtime/runner.ts";
import { ensurePrivateDir, writeFileAtomic, writeMetadata } from "../state/metadata_store.ts";
import { ensureAgentImage } from "./agent_image.ts";
import { parseProbeTarget, probeArgv } from "./egress_probe.ts";
import { Interrupted, type Interrupts, sleep } from "./interrupts.ts";
import { teardownDocker } from "./teardown.ts";

/** What the launch needs from the outside. */
export interface DockerLaunchDeps {
  runner: Runner;
  env: { get(name: string): string | undefined };
  progress(line: string): void;
  stdinIsTerminal: boolean;
  interrupts: Interrupts;
  /** Re-resolve the plan with more ranges marked taken (after an overlap at create time). */
  replan(extraTaken: TakenRange[]): Plan;
  bottle: ResolvedBottle;
  /** Base image for bundle and Dockerfile builds (CI uses a locally built one). */
  baseImage?: string;
  /** Bounded wait for the bundle's health check. */
  healthTimeoutMs?: number;
}

const OVERLAP = /overlap/i;
const MAX_SUBNET_TRIES = 8;

/** Launch, run the agent, tear down. Returns the agent's exit code. */
export async function launchDocker(initial: Plan, deps: DockerLaunchDeps): Promise<number> {
  const { runner, progress, interrupts } = deps;
  let plan = initial;
  const slug = plan.slug;
  const created = { containers: [] as string[], networks: [] as string[] };
  const labels = (role: string) => ({ ...plan.labels, [LABEL_ROLE]: role });
  const must = async (argv: string[], what: string, signal?: AbortSignal) => {
    interrupts.check();
    const r = await runner.run(argv, { signal });
    interrupts.check();
    if (r.code !== 0) {
      throw new UserError(`${what} failed: ${r.stderr.trim().split("\n")[0] || `exit ${r.code}`}`);
    }
    return r;
  };
  let teardownDone = false;
  const teardown = async () => {
    if (teardownDone) return;
    teardownDone = true;
    progress(`tearing down bottle ${slug}`);
    const failures = await teardownDocker(runner, slug, created);
    for (const f of failures) progress(`could not remove ${f.name}: ${f.reason}`);
  };

  try {
    await writeMetadata(plan.state_dir, plan.metadata);
    const target = parseProbeTarget(deps.env.get("BOT_BOTTLE_PROBE_TARGET"));
    const agentImage = await ensureAgentImage(runner, {
      bottle: deps.bottle.name,
      image: plan.image,
      dockerfile: plan.dockerfile,
      baseImage: deps.baseImage,
      progress,
      signal: interrupts.signal,
    });
    interrupts.check();
    const bundleImage = await ensureBundleImage(runner, {
      baseImage: deps.baseImage,
      workDir: `${plan.state_dir}/bundle-build`,
      onProgress: progress,
    });
    interrupts.check();

    // Networks: the internal /24 first (it may have to move), then the egress bridge.
    const internal = internalNetworkName(slug);
    for (let tries = 0;; tries++) {
      interrupts.check();
      created.networks.push(internal);
      const r = await runner.run(networkCreateArgv({
        name: internal,
        subnet: plan.subnet,
        gateway: plan.gateway,
        internal: true,
        labels: labels("internal"),
      }));
      if (r.code === 0) break;
      created.networks.pop();
      if (!OVERLAP.test(r.stderr) || tries + 1 >= MAX_SUBNET_TRIES) {
        throw new UserError(
          `creating network ${internal} (${plan.subnet}) failed: ${r.stderr.trim().split("\n")[0]}`,
        );
      }
      const moved = deps.replan([{ cidr: plan.subnet, source: "docker network create (overlap)" }]);
      progress(`${plan.subnet} overlaps an existing network; moving to ${moved.subnet}`);
      plan = moved;
    }
    await writeMetadata(plan.state_dir, plan.metadata);
    const egress = networkName(slug);
    created.networks.push(egress);
    await must(
      networkCreateArgv({ name: egress, labels: labels("egress") }),
      `creating network ${egress}`,
    );

    // The bundle: config rendered into the state dir, mounted read-only.
    const config = renderBundleConfig({
      slug,
      egressAllow: plan.egress_allow,
      git: deps.bottle.git,
      homeDir: deps.env.get("HOME"),
    });
    const configDir = `${plan.state_dir}/bundle`;
    await ensurePrivateDir(configDir);
    await Deno.chmod(configDir, 0o755);
    for (const [path, text] of Object.entries(config.files)) {
      const full = `${configDir}/${path}`;
      await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
      await writeFileAtomic(full, text, 0o644);
    }
    const bundle = bundleName(slug);
    created.containers.push(bundle);
    await must(
      bundleRunArgv({
        slug,
        image: bundleImage,
        egressNetwork: internal,
        ip: plan.bundle_ip,
        configDir,
        identityMounts: config.identityMounts,
        labels: labels("bundle"),
      }),
      "starting the bundle",
    );
    await must(networkConnectArgv(egress, bundle), `connecting the bundle to ${egress}`);
    await waitHealthy(runner, bundle, deps.healthTimeoutMs ?? 90_000, interrupts);
    progress(`bundle ${bundle} is healthy at ${plan.bundle_ip}`);

    // The agent: hardened, internal network only, DNS at the bundle.
    const agent = agentContainerName(slug);
    const secretEnv: Record<string, string> = {};
    for (const s of plan.secrets) {
      const value = deps.env.get(s.host_var);
      if (value === undefined) {
        throw new UserError(
          `secret ${s.guest} needs host variable ${s.host_var}, which is not set`,
          {
            hint: `export ${s.host_var} and start again`,
          },
        );
      }
      secretEnv[s.guest] = value;
    }
    created.containers.push(agent);
    interrupts.check();
    const run = await runner.run(
      agentRunArgv({
        name: agent,
        image: agentImage,
        internalNetwork: internal,
        bundleIp: plan.bundle_ip,
        labels: labels("agent"),
        env: plan.guest_env,
        secretNames: plan.secrets.map((s) => s.guest),
        cpus: plan.resources.cpus,
        memoryMib: plan.resources.memory_mib,
        workdir: plan.workdir ?? undefined,
      }),
      { env: secretEnv },
    );
    interrupts.check();
    if (run.code !== 0) {
      throw new UserError(
        `starting the agent container failed: ${run.stderr.trim().split("\n")[0]}`,
      );
    }

    // Egress probe before the agent runs.
    created.containers.push(`${agent}-probe`);
    const probe = await runner.run(
      probeArgv({
        agent,
        name: `${agent}-probe`,
        image: bundleImage,
        bundleIp: plan.bundle_ip,
        target,
        labels: labels("probe"),
      }),
      { signal: interrupts.signal },
    );
    interrupts.check();
    const verdict = probe.stdout.trim().split("\n").pop() ?? "";
    if (probe.code !== 0) {
      throw new UserError(
        `the egress probe failed, so the agent was not started: ${
          verdict || probe.stderr.trim() || `exit ${probe.code}`
        }`,
      );
    }
    progress(verdict);

    // The agent, attached to this terminal; its exit code is ours.
    progress(`running ${plan.command.join(" ")} in ${agent}`);
    const exec = await runner.run(
      agentExecArgv({ name: agent, command: plan.command, tty: deps.stdinIsTerminal }),
      { interactive: true, env: secretEnv, signal: interrupts.signal },
    );
    interrupts.check();
    return exec.code;
  } catch (error) {
    if (interrupts.signal.aborted && !(error instanceof Interrupted)) {
      throw new Interrupted(interrupts.received ?? "SIGINT");
    }
    throw error;
  } finally {
    await teardown();
  }
}

/** Wait (bounded) for the bundle's health check; on failure say why, with its logs. */
async function waitHealthy(
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
