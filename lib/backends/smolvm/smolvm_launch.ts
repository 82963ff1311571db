/**
 * The smolmachines launch (SPEC §6): network and bundle, the agent image as a
 * `docker save` archive, `machine create` with the rendered Smolfile, `--dns`
 * at the bundle and secrets by reference, the allowlist verified read-only in
 * smolvm's DB (fail closed), start, the egress probe inside the guest, the
 * agent attached, and teardown in reverse order on every path.
 */
import { UserError } from "../../errors.ts";
import type { Plan } from "../../plan/plan_types.ts";
import { LABEL_OWNER, machineName, networkName } from "../../plan/resource_names.ts";
import { createArgv, execArgv, startArgv } from "./smolvm_argv.ts";
import { smolvmDbPath } from "./smolvm_db_path.ts";
import { verifyAllowlist } from "./verify_allowlist.ts";
import { writeFileAtomic, writeStatus } from "../../state/metadata_store.ts";
import { type CreatedResources, createSubnetNetwork, startBundle } from "../../launch/bundle_up.ts";
import { parseProbeTarget, PROBE_SCRIPT } from "../../launch/egress_probe.ts";
import { ensureImageArchive } from "./image_archive.ts";
import {
  asInterruption,
  enterRunning,
  type LaunchDeps,
  prepareLaunch,
} from "../../launch/launch_deps.ts";
import { teardownDocker, teardownMachine } from "../../bottles/teardown.ts";

/** Host-side bound on the probe's `machine exec`. */
const PROBE_LIMIT_MS = 45_000;

/** What the smolmachines launch needs from the outside. */
export interface SmolvmLaunchDeps extends LaunchDeps {
  os: string;
  /** Where `docker save` archives are cached. */
  imageCacheDir: string;
}

/** Launch, run the agent, tear down. Returns the agent's exit code. */
export async function launchSmolvm(initial: Plan, deps: SmolvmLaunchDeps): Promise<number> {
  const { runner, progress, interrupts } = deps;
  let plan = initial;
  const slug = plan.slug;
  const machine = machineName(slug);
  const created: CreatedResources = { containers: [], networks: [] };
  let machineCreated = false;
  const smolvm = async (argv: string[], what: string, interactive = false) => {
    interrupts.check();
    const r = await runner.run(argv, { signal: interrupts.signal, interactive });
    interrupts.check();
    if (r.code !== 0 && !interactive) {
      const why = `${r.stderr}${r.stdout}`.trim().split("\n").pop() || `exit ${r.code}`;
      throw new UserError(`smolvm ${what} failed: ${why}`);
    }
    return r;
  };

  try {
    const target = parseProbeTarget(deps.env.get("BOT_BOTTLE_PROBE_TARGET"));
    const home = deps.env.get("HOME") ?? "";
    const dbPath = smolvmDbPath({ os: deps.os, env: (n) => deps.env.get(n), home });
    const { agentImage, bundleImage } = await prepareLaunch(plan, deps);
    const archive = await ensureImageArchive(runner, {
      image: agentImage,
      cacheDir: deps.imageCacheDir,
      progress,
      signal: interrupts.signal,
    });
    interrupts.check();

    // The bundle's network carries the /24; the host reaches the bundle on it,
    // which is how smolvm's user-space network stack delivers the guest's traffic.
    plan = await createSubnetNetwork(runner, plan, {
      name: networkName(slug),
      role: "egress",
      internal: false,
      created,
      interrupts,
      replan: deps.replan,
      progress,
    });
    await startBundle(runner, plan, {
      network: networkName(slug),
      image: bundleImage,
      git: deps.bottle.git,
      home,
      created,
      interrupts,
      env: deps.env,
      progress,
    });

    // The machine: Smolfile (no secrets), --dns at the bundle, secrets by reference.
    const smolfilePath = `${plan.state_dir}/Smolfile`;
    await writeFileAtomic(smolfilePath, plan.smolfile ?? "", 0o600);
    machineCreated = true;
    try {
      await smolvm(
        createArgv({
          name: machine,
          smolfilePath,
          imageArchive: archive,
          dns: plan.bundle_ip,
          secretEnv: plan.secrets.map((s) => ({ guest: s.guest, hostVar: s.host_var })),
        }),
        "machine create",
      );
    } catch (error) {
      // A machine of that name that was there before is not ours to delete.
      if (error instanceof UserError && /already exists/i.test(error.message)) {
        machineCreated = false;
      }
      throw error;
    }

    // Fail closed: read back what smolvm stored before anything boots.
    verifyAllowlist(dbPath, machine, { bundleIp: plan.bundle_ip });
    progress(
      `smolvm stored the allowlist ["${plan.bundle_ip}/32"], DNS ${plan.bundle_ip}: verified`,
    );

    await smolvm(startArgv(machine), "machine start");
    const probe = await runner.run(
      execArgv({
        name: machine,
        command: [
          "bash",
          "-c",
          PROBE_SCRIPT,
          "probe",
          plan.bundle_ip,
          target.host,
          String(target.port),
        ],
        interactive: false,
        timeout: "30s",
      }),
      // smolvm bounds the guest command; this bounds smolvm itself.
      { signal: AbortSignal.any([interrupts.signal, AbortSignal.timeout(PROBE_LIMIT_MS)]) },
    );
    interrupts.check();
    if (probe.code === 124 || probe.code === 143) {
      throw new UserError(
        `the egress probe inside the machine did not finish (smolvm exec exit ${probe.code}), so ` +
          "the agent was not started",
        {
          hint:
            "the machine may not have booted; its console log is under `smolvm machine data-dir`",
        },
      );
    }
    const verdict = `${probe.stdout}`.trim().split("\n").pop() ?? "";
    if (probe.code !== 0) {
      throw new UserError(
        `the egress probe inside the machine failed, so the agent was not started: ${
          verdict || probe.stderr.trim().split("\n").pop() || `exit ${probe.code}`
        }`,
      );
    }
    progress(verdict);
    await enterRunning(
      plan,
      deps,
      (command) => execArgv({ name: machine, command, interactive: false, stdin: true }),
    );
    progress(`running ${plan.command.join(" ")} in ${machine}`);
    const exec = await smolvm(
      execArgv({ name: machine, command: plan.command, interactive: deps.stdinIsTerminal }),
      "machine exec",
      true,
    );
    return exec.code;
  } catch (error) {
    throw asInterruption(error, interrupts);
  } finally {
    progress(`tearing down bottle ${slug}`);
    const failures = [
      ...(machineCreated ? await teardownMachine(runner, machine) : []),
      ...await teardownDocker(runner, slug, created, plan.labels[LABEL_OWNER]),
    ];
    for (const f of failures) progress(`could not remove ${f.name}: ${f.reason}`);
    if (failures.length > 0) {
      progress(
        `left behind: ${failures.map((f) => f.name).join(", ")}; \`bot-bottle cleanup\` retries, ` +
          `and \`smolvm machine delete --name ${machine} -f\` removes the machine by hand`,
      );
    }
    await writeStatus(plan.state_dir, "stopped").catch(() => {});
  }
}
