/**
 * The docker backend (SPEC §7): the agent in a hardened container on an
 * `--internal` network it shares only with its bundle.
 *
 * Networks: `bot-bottle-<slug>-internal` is `--internal` and carries the
 * plan's /24 (the bundle at .2, the agent beside it, no route anywhere);
 * `bot-bottle-<slug>` is the bundle's egress bridge.
 */
import { UserError } from "../../errors.ts";
import { lastLine, runOk } from "../../host/runner.ts";
import {
  agentContainerName,
  bundleName,
  internalNetworkName,
  networkName,
} from "../../plan/resource_names.ts";
import type { Backend, Launch } from "../backend.ts";
import { agentExecArgv, agentRunArgv, confineNetnsArgv } from "./agent_container_argv.ts";
import { dockerChecks } from "./docker_preflight.ts";

// What only a launch (or a teardown) uses is loaded by the step that needs it, so planning
// (a dry run, doctor) does not load it.
const bundleSteps = () => import("../../launch/bundle_up.ts");
const teardowns = () => import("../../bottles/teardown.ts");

/** The docker backend. */
export const dockerBackend: Backend = {
  name: "docker",

  needsBridge: true,

  // `docker exec --user 0` writes them, root-owned, and extends the image's system store.
  guestTrust: { caDir: "/etc/bot-bottle/ca", systemStore: true },

  preflight: (deps) => dockerChecks(deps),

  planGuest: ({ slug, runtime }) => ({
    create: [
      { kind: "network", name: networkName(slug), role: "egress" },
      { kind: "internal-network", name: internalNetworkName(slug), role: "internal" },
      { kind: "container", name: bundleName(slug), role: "bundle" },
      { kind: "container", name: agentContainerName(slug), role: "agent" },
    ],
    smolfile: null,
    runtime: runtime ?? "runc",
  }),

  prepare: () => Promise.resolve(),

  async networkAndBundle(launch) {
    const { createSubnetNetwork, startBundle } = await bundleSteps();
    const slug = launch.plan.slug;
    // The internal /24 first (it may have to move), then the egress bridge.
    const internal = internalNetworkName(slug);
    await createSubnetNetwork(launch, {
      name: internal,
      role: "internal",
      internal: true,
      which: "subnet",
    });
    const egress = networkName(slug);
    await createSubnetNetwork(launch, {
      name: egress,
      role: "egress",
      internal: false,
      which: "bridge",
    });
    // The agent's idle container (nothing of its image runs: `sleep infinity`, on the internal
    // network only) is started while the bundle's health check is waited for.
    await startBundle(launch, {
      network: internal,
      alsoOn: egress,
      beside: () => runAgentContainer(launch),
    });
  },

  async createGuest(launch) {
    const plan = launch.plan;
    const agent = agentContainerName(plan.slug);
    if (plan.runtime === "runsc") {
      // gVisor applies no --sysctl to the network namespace and leaves a default route to the
      // (absent) gateway there, so an off-link connect would wait ~3 s for ARP instead of
      // failing at once: drop the route and shorten ARP, from a one-shot container in that
      // namespace (NET_ADMIN there only, nothing else).
      const { roleLabels } = await bundleSteps();
      await runOk(
        launch.runner,
        confineNetnsArgv({
          agent,
          image: launch.images.bundle,
          labels: roleLabels(plan, "probe"),
        }),
        "confining the gVisor agent's network namespace",
      );
    }
  },

  verify: () => Promise.resolve(null),

  // `docker run -d` started it beside the bundle's health wait (kept alive by `sleep infinity`
  // under docker's init).
  start: () => Promise.resolve(),

  async probe(launch, target) {
    const [{ roleLabels }, { probeArgv }] = await Promise.all([
      bundleSteps(),
      import("../../launch/egress_probe.ts"),
    ]);
    const plan = launch.plan;
    const agent = agentContainerName(plan.slug);
    // The probe runs with --rm; if it is interrupted, the teardown's label sweep finds it.
    const probe = await launch.runner.run(
      probeArgv({
        agent,
        name: `${agent}-probe`,
        image: launch.images.bundle,
        bundleIp: plan.bundle_ip,
        target,
        labels: roleLabels(plan, "probe"),
      }),
    );
    const verdict = probe.stdout.trim().split("\n").pop() ?? "";
    if (probe.code !== 0) {
      throw new UserError(
        `the egress probe failed, so the agent was not started: ${verdict || lastLine(probe)}`,
      );
    }
    return verdict;
  },

  execArgv: (bottle, command, mode) =>
    agentExecArgv({
      name: agentContainerName(bottle.slug),
      command,
      stdin: mode.stdin,
      tty: mode.tty,
      secretNames: bottle.secretNames,
      asRoot: mode.asRoot,
    }),

  guestName: (slug) => agentContainerName(slug),

  leftoverHint: () => null,

  teardown: async (runner, objects) =>
    (await teardowns()).teardownDocker(runner, objects.slug, objects, objects.owner),

  execStdinFromFd: true,

  guestTool: null,

  listGuests: () => Promise.resolve(null),
};

/** The agent's container, idle: `docker run -d` of `sleep infinity` on the internal network. */
async function runAgentContainer(launch: Launch): Promise<void> {
  const [{ roleLabels }, { removeContainer }] = await Promise.all([bundleSteps(), teardowns()]);
  const plan = launch.plan;
  const agent = agentContainerName(plan.slug);
  const argv = agentRunArgv({
    name: agent,
    image: launch.images.agent,
    internalNetwork: internalNetworkName(plan.slug),
    bundleIp: plan.bundle_ip,
    labels: roleLabels(plan, "agent"),
    env: plan.guest_env,
    cpus: plan.resources.cpus,
    memoryMib: plan.resources.memory_mib,
    workdir: plan.workdir ?? undefined,
    runtime: plan.runtime ?? undefined,
  });
  await runOk(launch.runner, argv, "starting the agent container");
  const runner = launch.teardownRunner;
  launch.teardown.add({ kind: "container", name: agent }, () => removeContainer(runner, agent));
}
