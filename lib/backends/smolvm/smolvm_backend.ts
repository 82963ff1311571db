/**
 * The smolmachines backend (SPEC §6): the agent in a smolvm microVM whose
 * only allowed address is its bundle. The agent image is handed over as a
 * `docker save` archive, `machine create` gets the rendered Smolfile, `--dns`
 * at the bundle and secrets by reference, and the record smolvm stored is
 * read back (read-only, fail closed) before the machine boots.
 */
import { UserError } from "../../errors.ts";
import { lastLine, runOk } from "../../host/runner.ts";
import { renderSmolfile } from "../../plan/render_smolfile.ts";
import {
  bundleName,
  machineName,
  networkName,
  RESOURCE_PREFIX,
} from "../../plan/resource_names.ts";
import { writeFileAtomic } from "../../state/metadata_store.ts";
import type { Backend, GuestEntry, Launch } from "../backend.ts";
import { dockerChecks } from "../docker/docker_preflight.ts";
import type { ImageArchive } from "./image_archive.ts";
import { createArgv, execArgv, lsJsonArgv, startArgv } from "./smolvm_argv.ts";
import { type SmolvmPaths, smolvmPaths, stagedArchiveDir } from "./smolvm_paths.ts";
import { IDLE_ENTRYPOINT } from "../../plan/render_smolfile.ts";
import { smolmachinesChecks } from "./smolvm_preflight.ts";

// What only a launch (or a teardown) uses is loaded by the step that needs it, so planning
// (a dry run, doctor) does not load it: the archive handling, the state DB read-back
// (node:sqlite), the bundle steps, the probe and teardown.
const archives = () => import("./image_archive.ts");
const bundleSteps = () => import("../../launch/bundle_up.ts");
const teardowns = () => import("../../bottles/teardown.ts");

/** Host-side bound on the probe's `machine exec`. */
const PROBE_LIMIT_MS = 45_000;

/** What a launch of this backend carries between its steps. */
interface SmolvmLaunchState {
  archive: ImageArchive;
  /** The private copy handed to `machine create -I`. */
  copy: string;
  paths: SmolvmPaths;
  /** The shared stage lock, held from create until the machine has booted. */
  lock: Deno.FsFile | null;
}

const states = new WeakMap<Launch, SmolvmLaunchState>();

/** smolvm's paths for this launch's environment. */
async function pathsFor(launch: Launch): Promise<SmolvmPaths> {
  return smolvmPaths({
    os: launch.os,
    env: (n) => launch.env.get(n),
    passwdHome: await launch.probe.passwdHome(),
  });
}

/** smolvm's machines, by `machine ls --json`. */
async function listMachines(launchOrRunner: Launch["runner"]): Promise<GuestEntry[] | string> {
  const r = await launchOrRunner.run(lsJsonArgv());
  if (r.code !== 0) return `smolvm machines not listed: ${lastLine(r)}`;
  try {
    const rows = JSON.parse(r.stdout) as { name?: unknown; state?: unknown }[];
    if (!Array.isArray(rows)) throw new Error("not an array");
    return rows.filter((m) => typeof m.name === "string").map((m) => ({
      name: m.name as string,
      state: typeof m.state === "string" ? m.state : "",
    }));
  } catch {
    return "`smolvm machine ls --json` printed something that is not a JSON array";
  }
}

/** The machines whose image is `local:<sha256>`, or why they could not be listed. */
async function machinesOnImage(
  runner: Launch["runner"],
  sha256: string,
): Promise<string[] | string> {
  const r = await runner.run(lsJsonArgv());
  if (r.code !== 0) return `smolvm machines not listed: ${lastLine(r)}`;
  try {
    const rows = JSON.parse(r.stdout) as { name?: unknown; image?: unknown }[];
    if (!Array.isArray(rows)) throw new Error("not an array");
    return rows.filter((m) => m.image === `local:${sha256}`).map((m) => String(m.name));
  } catch {
    return "`smolvm machine ls --json` printed something that is not a JSON array";
  }
}

function releaseLock(state: SmolvmLaunchState): void {
  try {
    state.lock?.close();
  } catch { /* already closed */ }
  state.lock = null;
}

/** The smolmachines backend. */
export const smolvmBackend: Backend = {
  name: "smolmachines",

  needsBridge: false,

  // smolvm's `machine exec` runs as the image's user (1.9.3 has no --user), so the trust files go
  // where any user may write, and the system store is left alone.
  guestTrust: { caDir: "/tmp/bot-bottle-ca", systemStore: false },

  async preflight(deps) {
    // Independent checks, asked at once.
    const [smolvm, docker] = await Promise.all([smolmachinesChecks(deps), dockerChecks(deps)]);
    return [...smolvm, ...docker];
  },

  planGuest: (input) => ({
    create: [
      { kind: "network", name: networkName(input.slug), role: "egress" },
      { kind: "container", name: bundleName(input.slug), role: "bundle" },
      { kind: "machine", name: machineName(input.slug), role: "agent" },
    ],
    smolfile: renderSmolfile({
      env: input.env,
      bundleIp: input.bundleIp,
      cpus: input.cpus,
      memory: input.memoryMib,
      workdir: input.workdir,
    }),
    runtime: null,
  }),

  async prepare(launch) {
    const { ensureImageArchive, privateCopy } = await archives();
    const paths = await pathsFor(launch);
    const archive = await ensureImageArchive(launch.runner, {
      image: launch.images.agent,
      cacheDir: launch.imageCacheDir,
      progress: (line) => launch.progress(line),
    });
    const copy = await privateCopy(archive, launch.plan.state_dir);
    launch.teardown.add({ kind: "file", name: copy }, async () => {
      await Deno.remove(copy).catch(() => {});
      return null;
    });
    states.set(launch, { archive, copy, paths, lock: null });
  },

  async networkAndBundle(launch) {
    // The bundle's network carries the /24; the host reaches the bundle on it,
    // which is how smolvm's user-space network stack delivers the guest's traffic.
    const network = networkName(launch.plan.slug);
    const { createSubnetNetwork, startBundle } = await bundleSteps();
    await createSubnetNetwork(launch, {
      name: network,
      role: "egress",
      internal: false,
      which: "subnet",
    });
    await startBundle(launch, { network });
  },

  async createGuest(launch) {
    const [{ prepareStagingDir, releaseStagedArchive, stageLock }, { removeMachine }] =
      await Promise
        .all([archives(), teardowns()]);
    const plan = launch.plan;
    const machine = machineName(plan.slug);
    // Whether the machine is ours is decided before create: absent now (the slug's state dir
    // is reserved, so no other bot-bottle picks the name), then whatever has the name is ours.
    const existing = await listMachines(launch.runner);
    if (typeof existing === "string") throw new UserError(existing);
    if (existing.some((m) => m.name === machine)) {
      throw new UserError(
        `a smolvm machine named ${machine} already exists and is not this bottle's; nothing ` +
          "was started",
        { hint: `look at it with \`smolvm machine status --name ${machine}\`` },
      );
    }
    const smolfilePath = `${plan.state_dir}/Smolfile`;
    await writeFileAtomic(smolfilePath, plan.smolfile ?? "", 0o600);
    // smolvm stages the archive under its own cache and never removes it: make the dir readable
    // for a per-VM uid (smolvm as root), and remove it once no live bottle uses it.
    const state = states.get(launch)!;
    const staged = stagedArchiveDir(state.paths, state.archive.sha256);
    await prepareStagingDir(staged);
    const bottlesDir = plan.state_dir.slice(0, plan.state_dir.lastIndexOf("/"));
    launch.teardown.add({ kind: "file", name: staged }, () =>
      releaseStagedArchive({
        stagedDir: staged,
        sha256: state.archive.sha256,
        cacheDir: launch.imageCacheDir,
        bottlesDir,
        self: plan.slug,
        // Run after this bottle's machine is deleted: any machine left on the image is not ours.
        machinesUsing: () => machinesOnImage(launch.teardownRunner, state.archive.sha256),
      }));
    state.lock = await stageLock(launch.imageCacheDir, false, 60_000);
    if (state.lock === null) {
      throw new UserError("another bot-bottle is removing a staged image archive; try again");
    }
    launch.teardown.defer("stage lock", () => {
      releaseLock(state);
      return Promise.resolve(null);
    });
    const runner = launch.teardownRunner;
    launch.teardown.add({ kind: "machine", name: machine }, () => removeMachine(runner, machine));
    await runOk(
      launch.runner,
      createArgv({
        name: machine,
        smolfilePath,
        imageArchive: state.copy,
        dns: plan.bundle_ip,
        // Only what the agent holds: an injected secret's guest variable is its placeholder (in
        // the Smolfile's env), and its value goes to the bundle alone.
        secretEnv: plan.secrets.filter((s) => s.holder === "agent").map((s) => ({
          guest: s.guest,
          hostVar: s.host_var,
        })),
      }),
      "smolvm machine create",
    );
  },

  async verify(launch) {
    const { verifyAllowlist } = await import("./verify_allowlist.ts");
    const plan = launch.plan;
    const state = states.get(launch)!;
    verifyAllowlist(state.paths.dbPath, machineName(plan.slug), {
      bundleIp: plan.bundle_ip,
      workload: IDLE_ENTRYPOINT,
      image: `local:${state.archive.sha256}`,
    });
    return `smolvm stored the allowlist ["${plan.bundle_ip}/32"], DNS ${plan.bundle_ip}: verified`;
  },

  async start(launch) {
    await runOk(launch.runner, startArgv(machineName(launch.plan.slug)), "smolvm machine start");
    // Booted: the staged archive has been read, so its removal no longer has to wait for us.
    releaseLock(states.get(launch)!);
  },

  async probe(launch, target) {
    const { PROBE_SCRIPT } = await import("../../launch/egress_probe.ts");
    const plan = launch.plan;
    const probe = await launch.runner.run(
      execArgv({
        name: machineName(plan.slug),
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
      { signal: AbortSignal.timeout(PROBE_LIMIT_MS) },
    );
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
    const verdict = probe.stdout.trim().split("\n").pop() ?? "";
    if (probe.code !== 0) {
      throw new UserError(
        `the egress probe inside the machine failed, so the agent was not started: ${
          verdict || lastLine(probe)
        }`,
      );
    }
    return verdict;
  },

  execArgv: (bottle, command, mode) =>
    execArgv({
      name: machineName(bottle.slug),
      command,
      interactive: mode.tty,
      stdin: mode.stdin,
      timeout: mode.timeout,
      // Without a terminal, output arrives as the command prints it, not when it exits.
      stream: !mode.tty,
    }),

  guestName: (slug) => machineName(slug),

  leftoverHint: (slug) =>
    `\`smolvm machine delete --name ${machineName(slug)} -f\` removes the machine by hand`,

  async teardown(runner, objects) {
    const { removeMachine, teardownDocker } = await teardowns();
    const machine = objects.machine ? await removeMachine(runner, objects.machine) : null;
    return [
      ...(machine === null ? [] : [{ name: objects.machine!, reason: machine }]),
      ...await teardownDocker(runner, objects.slug, objects, objects.owner),
    ];
  },

  execStdinFromFd: false,

  guestTool: "smolvm",

  async listGuests(runner) {
    const machines = await listMachines(runner);
    if (typeof machines === "string") return { note: machines };
    return { guests: machines.filter((m) => m.name.startsWith(RESOURCE_PREFIX)) };
  },
};
