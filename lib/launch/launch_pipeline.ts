/**
 * The one launch pipeline (SPEC §6, §7): record the launch, make sure the
 * images exist, then the backend's steps — network and bundle, guest,
 * read-back, start, egress probe — the agent's prompt, the agent attached to
 * this terminal, and teardown in reverse creation order on every path (agent
 * exit, a failed step, SIGINT/SIGTERM/SIGHUP). Returns the agent's exit code.
 */
import type { Backend, Env, Launch, SubnetRole } from "../backends/backend.ts";
import { type Labelled, listLabelled, removeAll, teardownDocker } from "../bottles/teardown.ts";
import { ensureBundleImage } from "../bundle/bundle_image.ts";
import { CA_CERTS_FILE } from "../bundle/config/render_bundle_config.ts";
import { UserError } from "../errors.ts";
import type { HostProbe } from "../host/preflight.ts";
import { abortable, runAttached, type Runner } from "../host/runner.ts";
import type { TakenRange } from "../plan/bundle_subnet.ts";
import { WRITE_PROMPT_COMMAND } from "../plan/guest_env.ts";
import { metadataOf } from "../plan/metadata_record.ts";
import type { Plan } from "../plan/plan_types.ts";
import { LABEL_OWNER } from "../plan/resource_names.ts";
import { writeMetadata, writeStatus } from "../state/metadata_store.ts";
import { ensureAgentImage } from "./agent_image.ts";
import { installGuestTrust } from "./guest_trust.ts";
import { injectedPayload } from "./secret_delivery.ts";
import { parseProbeTarget } from "./egress_probe.ts";
import { watchHeldRequests } from "./held_requests.ts";
import { roleLabels } from "./bundle_up.ts";
import { copyIn, type StartedSnapshot, startSnapshot } from "../workspace/copy_in.ts";
import { captureWorkspace } from "../workspace/capture_workspace.ts";
import type { HelperContext } from "../workspace/survey_workspace.ts";
import { ensureWorkspaceImage } from "../workspace/workspace_image.ts";
import { formatSize } from "../workspace/workspace_size.ts";
import {
  forgetRestorable,
  workspaceDir,
  writeWorkspaceRecord,
} from "../workspace/workspace_state.ts";
import { keepBase, markLevel0 } from "../workspace/mark_level0.ts";
import { Interrupted, type Interrupts } from "./interrupts.ts";
import { type CreatedResource, type TeardownFailure, TeardownStack } from "./teardown_stack.ts";

/** What a launch needs from the outside. */
export interface LaunchDeps {
  runner: Runner;
  env: Env;
  progress(line: string): void;
  /** A terminal's one-line status (image builds show their current step there). */
  status?: (text: string) => void;
  /** The state root's owner id (labels image builds' intermediate containers). */
  owner?: string;
  /** Where image builds take their locks (`<state root>/builds`). */
  buildLockDir?: string;
  stdinIsTerminal: boolean;
  interrupts: Interrupts;
  /** Re-resolve the plan with more ranges marked taken (after an overlap at create time). */
  replan(extraTaken: TakenRange[], keep: SubnetRole[]): Plan;
  os: string;
  probe: HostProbe;
  /** Where `docker save` archives are cached (smolmachines). */
  imageCacheDir: string;
  /** Base image for bundle and Dockerfile builds (CI uses a locally built one). */
  baseImage?: string;
  /** Called just before the agent runs (what came before it was only setting up). */
  onAgentStart?: () => void;
  /** Called after teardown with what it created and what it could not remove. */
  onTeardown?: (
    created: readonly CreatedResource[],
    failures: readonly TeardownFailure[],
  ) => void;
}

/**
 * The values of the secrets the agent holds (the string form), by guest name; never in argv, only
 * in a child's env. Injected secrets are not here: their values go to the bundle only.
 */
export function secretValues(plan: Plan, env: Env): Record<string, string> {
  const values: Record<string, string> = {};
  for (const s of plan.secrets) {
    if (s.holder !== "agent") continue;
    const value = env.get(s.host_var);
    if (value === undefined) {
      throw new UserError(`secret ${s.guest} needs host variable ${s.host_var}, which is not set`, {
        hint: `export ${s.host_var} and start again`,
      });
    }
    values[s.guest] = value;
  }
  return values;
}

/** Launch `plan` on `backend`, run the agent, tear down. Returns the agent's exit code. */
export async function runLaunch(plan: Plan, backend: Backend, deps: LaunchDeps): Promise<number> {
  const { interrupts, progress } = deps;
  const teardown = new TeardownStack();
  const launch: Launch = {
    plan,
    runner: abortable(deps.runner, interrupts.signal),
    teardown,
    teardownRunner: deps.runner,
    env: deps.env,
    signal: interrupts.signal,
    images: { agent: "", bundle: "" },
    os: deps.os,
    probe: deps.probe,
    imageCacheDir: deps.imageCacheDir,
    progress,
    replan: deps.replan,
  };
  const slug = plan.slug;
  // Added first, so it runs last: whatever docker made for this bottle and no step recorded
  // (a container `docker run` created before failing, an interrupted probe) carries its labels.
  // When no docker call can still be in flight (nothing was interrupted or timed out), Docker
  // is asked for them as teardown starts, beside the first removals; what the stack removed
  // itself is then left out. Otherwise they are listed last, after everything else is gone.
  const owner = plan.labels[LABEL_OWNER];
  let listedEarly: Promise<Labelled> | null = null;
  teardown.defer("labelled leftovers", async () => {
    let failures: TeardownFailure[];
    if (listedEarly === null) {
      failures = await teardownDocker(deps.runner, slug, { containers: [], networks: [] }, owner);
    } else {
      const listed = await listedEarly;
      const failed = new Set(teardown.failures.map((f) => f.name));
      const removed = new Set(teardown.created.map((c) => c.name).filter((n) => !failed.has(n)));
      failures = await removeAll(deps.runner, {
        containers: listed.containers.filter((n) => !removed.has(n)),
        networks: listed.networks.filter((n) => !removed.has(n)),
      });
    }
    return failures.length === 0 ? null : failures.map((f) => `${f.name}: ${f.reason}`).join("; ");
  });
  let outcome: { code: number } | { error: unknown };
  let agentRan = false;
  // Set once the workspace is in the guest: from then on its capture runs before teardown.
  let workspaceIn = false;
  // The copy-in's base, kept from the guest while the agent works (the capture waits for it).
  let baseKept: Promise<boolean> | null = null;
  let snapshot: StartedSnapshot | null = null;
  try {
    const target = parseProbeTarget(deps.env.get("BOT_BOTTLE_PROBE_TARGET"));
    const secrets = secretValues(plan, deps.env);
    injectedPayload(plan, deps.env); // every injected value checked before anything is created
    await writeMetadata(plan.state_dir, metadataOf(plan));
    await writeStatus(plan.state_dir, "starting");
    launch.images = await ensureImages(launch, deps);
    // The workspace helper's container starts now, beside the bundle and the guest; it waits
    // on its FIFO until the copy reads it.
    if (plan.workspace?.mode === "snapshot") snapshot = await startWorkspaceSnapshot(launch, deps);
    await backend.prepare(launch);
    await backend.networkAndBundle(launch);
    await backend.createGuest(launch);
    const verified = await backend.verify(launch);
    if (verified !== null) progress(verified);
    await backend.start(launch);
    const trusted = await installGuestTrust(launch, backend);
    if (trusted !== null) progress(trusted);
    progress(await backend.probe(launch, target));
    if (launch.plan.workspace) {
      baseKept = (await copyWorkspaceIn(launch, backend, deps, snapshot)).kept;
      workspaceIn = true;
    }
    // Only the secrets the agent holds: an injected one's guest variable is its placeholder.
    const bottle = { slug, secretNames: Object.keys(secrets) };
    if (launch.plan.prompt !== null) {
      // The prompt travels on stdin, never in argv.
      const wrote = await launch.runner.run(
        backend.execArgv(bottle, WRITE_PROMPT_COMMAND, { stdin: true, tty: false }),
        { input: launch.plan.prompt, env: secrets },
      );
      if (wrote.code !== 0) {
        throw new UserError(
          `writing the agent's prompt into the bottle failed: ${wrote.stderr.trim()}`,
        );
      }
    }
    await writeStatus(launch.plan.state_dir, "running");
    agentRan = true;
    deps.onAgentStart?.();
    progress(`running ${launch.plan.command.join(" ")} in ${backend.guestName(slug)}`);
    // ask mode: what the proxy holds is shown here (a raw-mode terminal needs the \r).
    const eol = deps.stdinIsTerminal ? "\r" : "";
    const watcher = launch.plan.egress_on_block === "ask"
      ? watchHeldRequests(launch.plan.state_dir, slug, (line) => progress(`${line}${eol}`))
      : null;
    // The agent, attached to this terminal; its exit code is ours.
    let code: number;
    try {
      code = await runAttached(
        launch.runner,
        backend.execArgv(bottle, launch.plan.command, {
          stdin: true,
          tty: deps.stdinIsTerminal,
        }),
        { env: secrets },
      );
    } finally {
      await watcher?.stop();
    }
    interrupts.signal.throwIfAborted();
    outcome = { code };
  } catch (error) {
    outcome = { error: asInterruption(error, interrupts) };
  }
  // Whatever ended the agent, its work comes out of the guest before anything is removed.
  // The base first (bounded with the capture: without it the capture is a full one).
  if (baseKept) await deadline(baseKept, CAPTURE_LIMIT_MS);
  const settled = workspaceIn ? await captureBeforeTeardown(launch, backend, deps) : true;
  progress(`tearing down bottle ${slug}`);
  if (settled && !interrupts.signal.aborted) listedEarly = listLabelled(deps.runner, slug, owner);
  const failures = await teardown.dispose();
  for (const f of failures) progress(`could not remove ${f.name}: ${f.reason}`);
  if (failures.length > 0) {
    const byHand = backend.leftoverHint(slug);
    progress(
      `left behind: ${failures.map((f) => f.name).join(", ")}; \`bot-bottle cleanup\` retries` +
        (byHand ? `, and ${byHand}` : ""),
    );
  }
  await writeStatus(launch.plan.state_dir, "stopped").catch(() => {});
  deps.onTeardown?.(teardown.created, failures);
  if ("code" in outcome) return outcome.code;
  // An interruption says what it ended and what teardown removed, now that it has.
  if (outcome.error instanceof Interrupted) {
    throw outcome.error.after(teardown.created, failures, agentRan);
  }
  throw outcome.error;
}

/** Bound on a capture before teardown (the guest archive and the helper's git work). */
const CAPTURE_LIMIT_MS = 10 * 60_000;

/** `p`, or nothing once `ms` have passed. */
async function deadline(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function workspaceHelperOf(launch: Launch, deps: LaunchDeps, runner: Runner): HelperContext {
  return {
    runner,
    image: launch.images.bundle,
    uid: deps.probe.uid() ?? 0,
    gid: deps.probe.gid() ?? 0,
    labels: roleLabels(launch.plan, "workspace"),
  };
}

/**
 * A new bottle's snapshot, started; teardown waits for its container to be gone, and stops it
 * first unless it said its copy is done (a launch that ended before the copy leaves it waiting
 * on its FIFO; if it will not stop, the label sweep removes it). The last capture stops
 * restoring: its archives were taken against the base this copy replaces.
 */
async function startWorkspaceSnapshot(launch: Launch, deps: LaunchDeps): Promise<StartedSnapshot> {
  const plan = launch.plan;
  const w = plan.workspace!;
  const streamDir = workspaceDir(plan.state_dir);
  await Deno.mkdir(streamDir, { recursive: true, mode: 0o700 });
  await forgetRestorable(plan.state_dir);
  const started = await startSnapshot({
    runner: launch.runner,
    helper: workspaceHelperOf(launch, deps, launch.runner),
    root: w.source,
    tree: w.kind,
    streamDir,
  });
  launch.teardown.defer("workspace snapshot", async () => {
    await started.cancel();
    return null;
  });
  return started;
}

/** The workspace in; the base being kept from the guest meanwhile (null: none is). */
async function copyWorkspaceIn(
  launch: Launch,
  backend: Backend,
  deps: LaunchDeps,
  snapshot: StartedSnapshot | null,
): Promise<{ kept: Promise<boolean> | null }> {
  const plan = launch.plan;
  const w = plan.workspace!;
  launch.progress(
    w.mode === "restore"
      ? `restoring the workspace the bottle left into ${w.guest_path}`
      : `copying ${w.source} into ${w.guest_path} (${formatSize(w.bytes)})`,
  );
  const streamDir = workspaceDir(plan.state_dir);
  await Deno.mkdir(streamDir, { recursive: true, mode: 0o700 });
  const copied = await copyIn({
    streamDir,
    runner: launch.runner,
    backend,
    slug: plan.slug,
    helper: workspaceHelperOf(launch, deps, launch.runner),
    source: w.mode === "restore"
      ? {
        kind: "archives",
        archives: (w.restore_archives ?? [w.source]).map((path, i) => ({
          path,
          incremental: i > 0,
        })),
      }
      : snapshot
      ? { kind: "started", snapshot }
      : { kind: "snapshot", root: w.source, tree: w.kind },
    expectBytes: w.bytes,
    onProgress: deps.status ?? null,
  });
  // The state an incremental capture starts from, before the agent runs: the archives that
  // make this workspace (the chain restored, or the base the guest's copy is kept as, while
  // the agent works).
  const archives = w.mode === "restore"
    ? (w.restore_archives ?? [w.source]).map((p) => p.slice(p.lastIndexOf("/") + 1))
    : ["base.tar"];
  const marked = await markLevel0({
    runner: launch.runner,
    backend,
    slug: plan.slug,
    stateDir: plan.state_dir,
    run: plan.started_at,
    archives,
  });
  let kept: Promise<boolean> | null = null;
  if (marked && w.mode === "snapshot") {
    kept = keepBase({
      runner: launch.runner,
      backend,
      slug: plan.slug,
      stateDir: plan.state_dir,
      limitBytes: w.limit_bytes,
    }).catch(() => false);
  }
  if (w.mode === "snapshot") {
    await writeWorkspaceRecord(plan.state_dir, {
      schema: 1,
      root: w.source,
      kind: w.kind,
      base: copied.base ?? w.base,
      branch: w.branch,
      copied_at: new Date().toISOString(),
      limit_bytes: w.limit_bytes,
    });
  }
  launch.progress(
    `workspace in ${w.guest_path}: ${formatSize(copied.bytes)} in ${
      (copied.ms / 1000).toFixed(1)
    } s`,
  );
  // In an object: an async function returning the promise itself would wait for it.
  return { kept };
}

/**
 * Capture the workspace before teardown, whatever ended the agent (bounded; never throws).
 * True when it ran to its end (false: it failed or timed out, a helper may be left running).
 */
async function captureBeforeTeardown(
  launch: Launch,
  backend: Backend,
  deps: LaunchDeps,
): Promise<boolean> {
  const runner = abortable(deps.runner, AbortSignal.timeout(CAPTURE_LIMIT_MS));
  try {
    await captureWorkspace({
      runner,
      backend,
      slug: launch.plan.slug,
      stateDir: launch.plan.state_dir,
      run: launch.plan.started_at,
      by: deps.interrupts.signal.aborted ? "interrupt" : "exit",
      helper: workspaceHelperOf(launch, deps, runner),
      say: launch.progress,
    });
    return true;
  } catch (error) {
    launch.progress(`workspace not captured: ${(error as Error).message}`);
    return false;
  }
}

/** Make sure the agent's and the bundle's images exist. */
async function ensureImages(
  launch: Launch,
  deps: LaunchDeps,
): Promise<{ agent: string; bundle: string }> {
  const plan = launch.plan;
  const scope = { owner: deps.owner, lockDir: deps.buildLockDir, signal: launch.signal };
  // The bundle first: a Dockerfile bottle with ca_certs builds its trust from the bundle image.
  const bundle = await ensureBundleImage(launch.runner, {
    baseImage: deps.baseImage,
    workDir: `${plan.state_dir}/bundle-build`,
    onProgress: launch.progress,
    onStatus: deps.status,
    ...scope,
  });
  const pem = plan.bundle_config.files[CA_CERTS_FILE];
  const agent = await ensureAgentImage(launch.runner, {
    bottle: plan.bottles[plan.bottles.length - 1],
    image: plan.image,
    dockerfile: plan.dockerfile,
    baseImage: deps.baseImage,
    progress: launch.progress,
    status: deps.status,
    ...scope,
    buildTrust: pem ? { pem, fromImage: bundle } : undefined,
  });
  // With a workspace: the same image plus an empty /workspace owned by its user.
  const guest = plan.workspace
    ? await ensureWorkspaceImage(launch.runner, agent, launch.progress)
    : agent;
  return { agent: guest, bundle };
}

/** An error raised while a signal aborted the launch is reported as the interruption. */
export function asInterruption(error: unknown, interrupts: Interrupts): unknown {
  if (interrupts.signal.aborted && !(error instanceof Interrupted)) {
    return new Interrupted(interrupts.received ?? "SIGINT");
  }
  return error;
}
