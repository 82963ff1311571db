/**
 * The docker backend's launch (SPEC §7): networks, bundle, hardened agent,
 * egress probe, the agent attached to the terminal, and teardown in reverse
 * order on every path (agent exit, a failed step, SIGINT, SIGTERM).
 *
 * Networks: `bot-bottle-<slug>-internal` is `--internal` and carries the
 * plan's /24 (the bundle at .2, the agent beside it, no route anywhere);
 * `bot-bottle-<slug>` is the bundle's egress bridge (Docker picks its subnet).
 */
import { UserError } from "../../errors.ts";
import type { Plan } from "../../plan/plan_types.ts";
import {
  agentContainerName,
  internalNetworkName,
  LABEL_OWNER,
  networkName,
} from "../../plan/resource_names.ts";
import { agentExecArgv, agentRunArgv, networkCreateArgv } from "../../host/docker_argv.ts";
import { writeStatus } from "../../state/metadata_store.ts";
import { createSubnetNetwork, roleLabels, startBundle } from "../../launch/bundle_up.ts";
import { parseProbeTarget, probeArgv } from "../../launch/egress_probe.ts";
import {
  asInterruption,
  enterRunning,
  type LaunchDeps,
  prepareLaunch,
} from "../../launch/launch_deps.ts";
import { teardownDocker } from "../../bottles/teardown.ts";

/** What the docker launch needs from the outside. */
export type DockerLaunchDeps = LaunchDeps;

/** Launch, run the agent, tear down. Returns the agent's exit code. */
export async function launchDocker(initial: Plan, deps: DockerLaunchDeps): Promise<number> {
  const { runner, progress, interrupts } = deps;
  let plan = initial;
  const slug = plan.slug;
  const created = { containers: [] as string[], networks: [] as string[] };
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
    const failures = await teardownDocker(runner, slug, created, plan.labels[LABEL_OWNER]);
    for (const f of failures) progress(`could not remove ${f.name}: ${f.reason}`);
    await writeStatus(plan.state_dir, "stopped").catch(() => {});
  };

  try {
    const target = parseProbeTarget(deps.env.get("BOT_BOTTLE_PROBE_TARGET"));
    const { agentImage, bundleImage } = await prepareLaunch(plan, deps);

    // Networks: the internal /24 first (it may have to move), then the egress bridge.
    const internal = internalNetworkName(slug);
    plan = await createSubnetNetwork(runner, plan, {
      name: internal,
      role: "internal",
      internal: true,
      created,
      interrupts,
      replan: deps.replan,
      progress,
    });
    // Names are recorded only once docker created them: on a name clash the existing object
    // is not ours, and teardown must not remove it (what docker did create carries our labels).
    const egress = networkName(slug);
    await must(
      networkCreateArgv({ name: egress, labels: roleLabels(plan, "egress") }),
      `creating network ${egress}`,
    );
    created.networks.push(egress);

    // The bundle: on the internal network at the plan's IP, then on the egress bridge.
    await startBundle(runner, plan, {
      network: internal,
      image: bundleImage,
      git: deps.bottle.git,
      home: deps.env.get("HOME"),
      alsoOn: egress,
      created,
      interrupts,
      env: deps.env,
      progress,
    });

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
    interrupts.check();
    const run = await runner.run(
      agentRunArgv({
        name: agent,
        image: agentImage,
        internalNetwork: internal,
        bundleIp: plan.bundle_ip,
        labels: roleLabels(plan, "agent"),
        env: plan.guest_env,
        cpus: plan.resources.cpus,
        memoryMib: plan.resources.memory_mib,
        workdir: plan.workdir ?? undefined,
      }),
    );
    interrupts.check();
    if (run.code !== 0) {
      throw new UserError(
        `starting the agent container failed: ${run.stderr.trim().split("\n")[0]}`,
      );
    }
    created.containers.push(agent);

    // Egress probe before the agent runs.
    // The probe runs with --rm; if it is interrupted, teardown finds it by its labels.
    const probe = await runner.run(
      probeArgv({
        agent,
        name: `${agent}-probe`,
        image: bundleImage,
        bundleIp: plan.bundle_ip,
        target,
        labels: roleLabels(plan, "probe"),
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
    await enterRunning(plan, deps, (command) => [
      "docker",
      "exec",
      "--interactive",
      agent,
      ...command,
    ]);
    // The agent, attached to this terminal; its exit code is ours.
    progress(`running ${plan.command.join(" ")} in ${agent}`);
    const exec = await runner.run(
      agentExecArgv({
        name: agent,
        command: plan.command,
        tty: deps.stdinIsTerminal,
        secretNames: plan.secrets.map((s) => s.guest),
      }),
      { interactive: true, env: secretEnv, signal: interrupts.signal },
    );
    interrupts.check();
    return exec.code;
  } catch (error) {
    throw asInterruption(error, interrupts);
  } finally {
    await teardown();
  }
}
