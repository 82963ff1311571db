/**
 * The path `start` and `resume` share: preflight, plan, print, confirm,
 * launch on the plan's backend, and the exit code. Nothing on the host
 * changes before the preflight has passed and the user has said yes.
 */
import { backendFor } from "../backends/registry.ts";
import { UserError } from "../errors.ts";
import type { Manifest } from "../manifest/types.ts";
import type { ManifestSources } from "../manifest/manifest_paths.ts";
import type { TakenRange } from "../plan/bundle_subnet.ts";
import type { BackendName } from "../plan/plan_types.ts";
import type { SubnetRole } from "../backends/backend.ts";

import { notReadyReasons, renderChecks, renderPlan } from "../plan/render_plan.ts";
import { type PlanInput, resolvePlan } from "../plan/resolve_plan.ts";
import { makeSlug } from "../plan/slug.ts";
import { placeholderSource } from "../plan/placeholder.ts";
import { readDockerSubnets } from "../host/docker_networks.ts";
import { preflightPassed } from "../host/preflight.ts";
import { planImages } from "./plan_images.ts";
import { resolveBottle } from "../manifest/resolve_bottle.ts";
import { bottleStateDir, stateRoot } from "../state/state_paths.ts";
import { approvalTexts, readApprovals } from "../state/approvals.ts";
import type { PlannedWorkspace } from "../plan/plan_types.ts";
import { bottleLabels, LABEL_ROLE, ownerId } from "../plan/resource_names.ts";
import {
  planNewWorkspace,
  planResumedWorkspace,
  type WorkspacePlanDeps,
} from "../workspace/plan_workspace.ts";
import { makeStyle } from "../ui/style.ts";
import type { CliContext } from "../cli/_shared/context.ts";
import { printJson, stdoutStyle } from "../cli/_shared/output.ts";

/** The third octet of a 192.168.x.0/24. */
function octetOf(subnet: string): number {
  return Number(subnet.split(".")[2]);
}

/** What to plan and launch. */
export interface LaunchSpec {
  manifest: Manifest;
  agent: string;
  backend: BackendName;
  /** New bottle: the slug's base (label or agent). */
  slugBase?: string;
  /** Resumed bottle: its slug and recorded /24. */
  resume?: { slug: string; octet?: number; bridgeOctet?: number };
  label?: string;
  cwd?: string;
  /** `--max-workspace`: the workspace copy's size limit (bytes). */
  maxWorkspace?: number;
  agentArgs: string[];
  dryRun: boolean;
  json: boolean;
  yes: boolean;
  /** Delete the bottle's state when the agent exits (`start --rm`). */
  rm?: boolean;
  /** Where `manifest` was read from (recorded in the metadata for `resume`). */
  manifestSources?: ManifestSources;
  /** Extra plan notes (e.g. from resume). */
  notes?: string[];
}

const MAX_SLUG_TRIES = 5;

/** BOT_BOTTLE_AUDIT_MAX_BYTES: the audit log's rotation size (at least 4 KiB). */
export function auditMaxBytes(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const n = Number(value.trim());
  if (!Number.isInteger(n) || n < 4096 || n > 1024 * 1024 * 1024) {
    throw new UserError(
      `BOT_BOTTLE_AUDIT_MAX_BYTES is "${value}", not a byte count from 4096 to 1 GiB`,
      {
        hint: "unset it for the default (4 MiB per file, 3 old files kept)",
      },
    );
  }
  return n;
}

/** The workspace of the plan: surveyed for a new bottle, the kept archive for a resumed one. */
async function planWorkspace(
  ctx: CliContext,
  spec: LaunchSpec,
  root: string,
  slug: string,
  style: ReturnType<typeof makeStyle>,
): Promise<PlannedWorkspace | undefined> {
  const deps: WorkspacePlanDeps = {
    runner: ctx.runner,
    home: ctx.env.get("HOME"),
    uid: ctx.probe.uid() ?? 0,
    gid: ctx.probe.gid() ?? 0,
    buildDir: () => `${root}/bundle-build-${crypto.randomUUID().slice(0, 8)}`,
    baseImage: ctx.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined,
    progress: (line) => ctx.stderr(`${style.dim(`bot-bottle: ${line}`)}\n`),
    labels: { ...bottleLabels(slug, spec.backend, ownerId(root)), [LABEL_ROLE]: "workspace" },
  };
  if (spec.resume) {
    return (await planResumedWorkspace(
      deps,
      bottleStateDir(root, spec.resume.slug),
      spec.cwd ?? null,
      spec.maxWorkspace,
    )) ?? undefined;
  }
  return await planNewWorkspace(deps, spec.cwd!, spec.maxWorkspace);
}

/** Plan, print, confirm and launch. Returns the exit code. */
export async function planAndLaunch(ctx: CliContext, spec: LaunchSpec): Promise<number> {
  const { backend } = spec;
  const bottle = resolveBottle(spec.manifest, spec.manifest.agents[spec.agent].bottle);
  // Everything the plan asks of the host, at once: the preflight, and (read-only, used only if
  // the preflight finds Docker reachable) the Docker networks, the images and the host routes.
  const checksAsked = backendFor(backend).preflight({
    runner: ctx.runner,
    probe: ctx.probe,
    env: ctx.env,
  });
  const networksAsked = readDockerSubnets(ctx.runner);
  const routesAsked = ctx.hostRoutes();
  const imagesAsked = planImages(ctx.runner, {
    bottle: bottle.name,
    image: bottle.image ?? null,
    dockerfile: bottle.dockerfile ?? null,
    // A build that trusts ca_certs is tagged by them: the plan names the image the launch builds.
    caCertsPem: bottle.caCerts.map((c) => c.pem).join(""),
    baseImage: ctx.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined,
    dockerReachable: true,
  });
  // Awaited whatever happens next, so nothing runs on after this function.
  const facts = Promise.allSettled([networksAsked, routesAsked, imagesAsked]);
  const checks = await checksAsked;
  const style = makeStyle(ctx.stderrIsTerminal, ctx.env.get("NO_COLOR"));
  if (!spec.dryRun && !preflightPassed(checks)) {
    await facts;
    ctx.stderr(`${style.bold(`preflight for the ${backend} backend failed:`)}\n`);
    ctx.stderr(`${renderChecks(checks.filter((c) => c.status === "fail"), style).join("\n")}\n`);
    throw new UserError(`cannot start a ${backend} bottle on this host; nothing was created`);
  }
  await facts;
  const dockerOk = checks.some((c) => c.id === "docker-daemon" && c.status === "ok");
  const docker = dockerOk ? await networksAsked : {
    ranges: [],
    note: "existing Docker networks not checked (the Docker daemon is not reachable)",
  };
  const routes = await routesAsked;
  const asked = await imagesAsked;
  const images = dockerOk ? asked : {
    agent: { ...asked.agent, present: null },
    bundle: { ...asked.bundle, present: null },
  };
  const root = stateRoot(ctx.env);
  // A resumed bottle keeps what `approve`/`deny` decided (it is in its state dir).
  const approvals = spec.resume
    ? approvalTexts(await readApprovals(bottleStateDir(root, spec.resume.slug)))
    : undefined;
  const slug = spec.resume?.slug ?? makeSlug(spec.slugBase ?? spec.agent, ctx.randomSuffix());
  const workspace = spec.cwd === undefined
    ? undefined
    : dockerOk
    ? await planWorkspace(ctx, spec, root, slug, style)
    : undefined;
  const input: PlanInput = {
    manifest: spec.manifest,
    agent: spec.agent,
    backend,
    slug,
    label: spec.label,
    workspace,
    cwd: spec.cwd,
    agentArgs: spec.agentArgs,
    taken: [...docker.ranges, ...routes.ranges],
    preferredOctet: spec.resume?.octet,
    preferredBridgeOctet: spec.resume?.bridgeOctet,
    preflight: checks,
    hasHostVar: (name) => ctx.env.get(name) !== undefined,
    home: ctx.env.get("HOME"),
    stateRoot: root,
    smolvmVersion: checks.find((c) => c.id === "smolvm-version")?.version ?? null,
    now: ctx.now().toISOString(),
    approvals,
    auditMaxBytes: auditMaxBytes(ctx.env.get("BOT_BOTTLE_AUDIT_MAX_BYTES")),
    // Fresh for each launch, kept across its replans.
    placeholder: placeholderSource(),
    // Unreadable routes are how the compiled binary always is: doctor says it, plans do not.
    notes: [
      docker.note,
      routes.expected ? undefined : routes.note,
      spec.cwd !== undefined && !dockerOk
        ? "the workspace was not surveyed: its helper runs in Docker, which is not reachable"
        : undefined,
      ...(spec.notes ?? []),
    ].filter((n): n is string => n !== undefined),
    images,
    manifestSources: spec.manifestSources,
  };
  let plan = resolvePlan(input);
  if (spec.dryRun) {
    // A dry run's plan is what it produces (stdout); whether it would launch is its exit code.
    if (spec.json) printJson(ctx, plan);
    else ctx.stdout(renderPlan(plan, stdoutStyle(ctx)));
    if (plan.ready) return 0;
    const reasons = notReadyReasons(plan);
    ctx.stderr(
      `bot-bottle: not ready: a start would be refused (${reasons.length} ` +
        `${reasons.length === 1 ? "reason" : "reasons"}):\n` +
        reasons.map((r) => `  ${r}\n`).join(""),
    );
    return 1;
  }

  // What only a launch needs, loaded only for one (a dry run stays light).
  const [
    { runLaunch },
    { Interrupts },
    { reserveStateDir },
    { takeOwnerLock },
    { StatusLine },
    { confirm },
  ] = await Promise.all([
    import("./launch_pipeline.ts"),
    import("./interrupts.ts"),
    import("../state/metadata_store.ts"),
    import("../state/owner_lock.ts"),
    import("../ui/status_line.ts"),
    import("../cli/_shared/prompt.ts"),
  ]);
  // A launch shows its plan as part of the y/N dialogue; stdout is the agent's.
  ctx.stderr(renderPlan(plan, style));
  // Checks the bottle itself adds (its runtime) can fail where the host's passed.
  if (!preflightPassed(plan.preflight)) {
    throw new UserError(
      `cannot start this bottle on this host: ${
        plan.preflight.filter((c) => c.status === "fail").map((c) => c.summary).join("; ")
      }; nothing was created`,
      { hint: plan.preflight.find((c) => c.status === "fail")?.fix },
    );
  }
  const unset = plan.secrets.filter((s) => !s.present);
  if (unset.length > 0) {
    throw new UserError(
      `secret host variable${unset.length > 1 ? "s" : ""} ${
        unset.map((s) => s.host_var).join(", ")
      } not set; nothing was created`,
      { hint: `export ${unset.map((s) => s.host_var).join(" ")} and start again` },
    );
  }
  if (!spec.yes) {
    if (!ctx.stdinIsTerminal) {
      throw new UserError("refusing to launch without confirmation: stdin is not a terminal", {
        hint: "pass --yes to launch without the y/N prompt",
      });
    }
    if (!(await confirm(ctx, "Launch?", "not launched, nothing was created"))) {
      ctx.stderr("not launched; nothing was created\n");
      return 1;
    }
  }

  // Claim the slug: a new bottle reserves a fresh state dir (atomic mkdir);
  // both hold the owner lock for the bottle's whole life.
  if (!spec.resume) {
    for (let tries = 1; !(await reserveStateDir(plan.state_dir)); tries++) {
      if (tries >= MAX_SLUG_TRIES) {
        throw new UserError(`could not reserve a free slug for ${spec.agent}`);
      }
      input.slug = makeSlug(spec.slugBase ?? spec.agent, ctx.randomSuffix());
      plan = resolvePlan(input);
    }
  }
  const lock = await takeOwnerLock(plan.state_dir);
  if (!lock) {
    throw new UserError(`bottle ${plan.slug} is running (another bot-bottle process owns it)`, {
      hint: `stop it first: bot-bottle stop ${plan.slug}`,
    });
  }
  let agentStarted = false;
  let teardownFailed = false;
  const interrupts = new Interrupts();
  const statusLine = ctx.stderrIsTerminal ? new StatusLine((t) => ctx.stderr(t)) : null;
  const progress = (line: string) => {
    const text = `${style.dim(`bot-bottle: ${line}`)}`;
    if (statusLine) statusLine.line(text);
    else ctx.stderr(`${text}\n`);
  };
  try {
    const code = await runLaunch(plan, backendFor(backend), {
      runner: ctx.runner,
      env: ctx.env,
      progress,
      status: statusLine ? (text) => statusLine.set(`bot-bottle: ${text}`) : undefined,
      owner: ownerId(root),
      buildLockDir: `${root}/builds`,
      stdinIsTerminal: ctx.stdinIsTerminal,
      interrupts,
      replan: (extra: TakenRange[], keep: SubnetRole[]) => {
        input.taken = [...input.taken, ...extra];
        // What is already created stays where it is (its own range is not "taken" by others).
        if (keep.includes("subnet")) input.preferredOctet = octetOf(plan.subnet);
        if (keep.includes("bridge") && plan.bridge_subnet) {
          input.preferredBridgeOctet = octetOf(plan.bridge_subnet);
        }
        plan = resolvePlan(input);
        return plan;
      },
      os: ctx.probe.os,
      probe: ctx.probe,
      imageCacheDir: `${root}/images`,
      baseImage: ctx.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined,
      onAgentStart: () => agentStarted = true,
      onTeardown: (_created, failures) => teardownFailed = failures.length > 0,
    });
    const kept = spec.rm
      ? await forget(plan.state_dir, teardownFailed)
      : `state kept for \`bot-bottle resume ${plan.slug}\``;
    progress(`agent exited with ${code}; ${kept}`);
    return code;
  } catch (error) {
    // A new bottle that never ran its agent leaves nothing, its record included (a resumed
    // one keeps its state: it is still the bottle to resume). With --rm, nothing either.
    if ((!agentStarted && !spec.resume) || spec.rm) {
      const gone = await forget(plan.state_dir, teardownFailed);
      progress(agentStarted ? gone : `the agent never ran: ${gone}`);
    }
    throw error;
  } finally {
    interrupts.dispose();
    lock.release();
  }
}

/**
 * Delete a bottle's state dir, unless teardown left something behind (then the state is what
 * lets `list` and `cleanup` find it); says which.
 */
async function forget(stateDir: string, teardownFailed: boolean): Promise<string> {
  if (teardownFailed) {
    return `state kept in ${stateDir} because teardown left something; \`bot-bottle cleanup\` ` +
      "removes both";
  }
  try {
    await Deno.remove(stateDir, { recursive: true });
    return "its state was deleted";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "its state was deleted";
    return `its state ${stateDir} could not be deleted: ${(error as Error).message}`;
  }
}
