/**
 * Tear bottles down by slug, on any backend and for leftovers too, and
 * either keep their state for `resume` (stop) or delete it (rm).
 *
 * Idempotent: a bottle that is already stopped (stop) or gone (rm, stop)
 * is said to be so and is not a failure; a slug close to an existing one is
 * (a typo must not pass for "already removed"). Nothing is claimed when what
 * would be removed cannot be seen: if Docker (or the bottle's backend) cannot
 * list its objects, nothing is touched and the command fails.
 */
import { type BottleEntry, collectInventory } from "./inventory.ts";
import { teardownBottle } from "./teardown_bottle.ts";
import { UserError } from "../errors.ts";
import { abortable } from "../host/runner.ts";
import { didYouMean } from "../manifest/did_you_mean.ts";
import { readMetadata, writeStatus } from "../state/metadata_store.ts";
import { ownerAlive } from "../state/owner_lock.ts";
import { backendFor } from "../backends/registry.ts";
import { ensureBundleImage } from "../bundle/bundle_image.ts";
import { bottleLabels, LABEL_ROLE } from "../plan/resource_names.ts";
import { captureWorkspace } from "../workspace/capture_workspace.ts";
import { readWorkspaceRecord } from "../workspace/workspace_state.ts";
import { stateRoot } from "../state/state_paths.ts";
import { ownerId } from "../plan/resource_names.ts";
import type { CliContext } from "../cli/_shared/context.ts";
import { say } from "../cli/_shared/output.ts";

/** What to stop or remove. */
export interface StopRequest {
  /** The bottles, by slug (ignored with `allStopped`). */
  slugs: string[];
  /** Delete the state too (rm). */
  remove: boolean;
  /** rm --stopped: every stopped bottle. */
  allStopped?: boolean;
}

import { DOCKER_UNREACHABLE_HINT } from "../host/preflight.ts";

export { DOCKER_UNREACHABLE_HINT };

/**
 * Refuse when Docker's objects, or the guests of one of `backends` (all when not given),
 * could not be listed; `outcome` ends the message ("nothing was removed").
 */
export function requireListed(
  inventory: { unlisted: string[]; notes: string[] },
  outcome: string,
  backends?: readonly (string | null)[],
): void {
  const blind = inventory.unlisted.filter((source) =>
    source === "docker" || backends === undefined || backends.includes(source)
  );
  if (blind.length === 0) return;
  const why = inventory.notes.filter((n) => /not listed|smolvm/i.test(n)).join("; ");
  throw new UserError(
    `cannot see ${
      blind.map((b) => (b === "docker" ? "Docker's containers and networks" : `${b} guests`)).join(
        " or ",
      )
    }` +
      `${why ? ` (${why})` : ""}, so ${outcome}`,
    { hint: DOCKER_UNREACHABLE_HINT },
  );
}

/** Stop (remove = false) or remove (remove = true) bottles. Returns the exit code. */
export async function stopBottles(ctx: CliContext, req: StopRequest): Promise<number> {
  const root = stateRoot(ctx.env);
  const inventory = await collectInventory({
    runner: ctx.runner,
    stateRoot: root,
    now: ctx.now(),
    onPath: async (tool) => (await ctx.probe.which(tool)) !== null,
  });
  const verb = req.remove ? "removed" : "stopped";
  const bySlug = new Map(inventory.bottles.map((b) => [b.slug, b]));
  const slugs = req.allStopped
    ? inventory.bottles.filter((b) => b.state === "stopped").map((b) => b.slug)
    : [...new Set(req.slugs)];
  const targets = slugs.map((s) => bySlug.get(s)).filter((b): b is BottleEntry => !!b);
  requireListed(inventory, `nothing was ${verb}`, targets.map((b) => b.backend));
  if (req.allStopped && slugs.length === 0) {
    say(ctx, "no stopped bottles; nothing removed");
    return 0;
  }
  const problems: string[] = [];
  for (const slug of slugs) {
    const bottle = bySlug.get(slug);
    if (!bottle) {
      const near = didYouMean(slug, bySlug.keys());
      if (near) {
        problems.push(`no bottle "${slug}" on this machine (did you mean "${near}"?)`);
      } else {
        say(ctx, `${slug}: no such bottle on this machine (already ${verb}?); nothing to do`);
      }
      continue;
    }
    const failure = await stopOne(ctx, bottle, req.remove, ownerId(root));
    if (failure) problems.push(failure);
  }
  if (problems.length === 0) return 0;
  throw new UserError(problems.length === 1 ? problems[0] : problems.join("; "), {
    hint: slugs.length > 1
      ? "see `bot-bottle list`; the other bottles were done"
      : "see `bot-bottle list` for the bottles there are, or `bot-bottle cleanup` for leftovers",
  });
}

/** Bound on the capture `stop` makes (the guest's side and the helper's). */
const STOP_CAPTURE_LIMIT_MS = 10 * 60_000;

/** Capture the workspace of a running bottle before it is torn down (a failure is said). */
async function captureOnStop(ctx: CliContext, stateDir: string, slug: string): Promise<void> {
  const meta = await readMetadata(stateDir).catch(() => null);
  if (!meta?.copy_cwd || !(await readWorkspaceRecord(stateDir))) return;
  const say = (line: string) => ctx.stderr(`bot-bottle: ${line}\n`);
  try {
    const root = stateRoot(ctx.env);
    const buildDir = `${root}/bundle-build-${crypto.randomUUID().slice(0, 8)}`;
    let image: string;
    try {
      image = await ensureBundleImage(ctx.runner, {
        baseImage: ctx.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined,
        workDir: buildDir,
      });
    } finally {
      await Deno.remove(buildDir, { recursive: true }).catch(() => {});
    }
    say(`capturing the workspace of ${slug} before it is torn down`);
    // Bounded as the launch's own capture is: a hung guest must not keep the bottle up.
    const runner = abortable(ctx.runner, AbortSignal.timeout(STOP_CAPTURE_LIMIT_MS));
    await captureWorkspace({
      runner,
      backend: backendFor(meta.backend),
      slug,
      stateDir,
      run: meta.started_at,
      by: "stop",
      helper: {
        runner,
        image,
        uid: ctx.probe.uid() ?? 0,
        gid: ctx.probe.gid() ?? 0,
        labels: { ...bottleLabels(slug, meta.backend, ownerId(root)), [LABEL_ROLE]: "workspace" },
      },
      say,
    });
  } catch (error) {
    say(`workspace not captured: ${(error as Error).message}`);
  }
}

/** One bottle; what went wrong, or null. */
async function stopOne(
  ctx: CliContext,
  bottle: BottleEntry,
  remove: boolean,
  owner: string,
): Promise<string | null> {
  const slug = bottle.slug;
  const hasResources = bottle.containers.length > 0 || bottle.networks.length > 0 ||
    bottle.machine !== null;
  if (!remove && bottle.state === "stopped" && !hasResources) {
    say(ctx, `${slug} is already stopped; resume it with \`bot-bottle resume ${slug}\``);
    return null;
  }
  // A running bottle with a workspace: the agent's work comes out before anything is removed.
  if (!remove && bottle.state === "running" && bottle.state_dir) {
    await captureOnStop(ctx, bottle.state_dir, slug);
  }
  const failures = await teardownBottle(ctx.runner, bottle, owner);
  for (const f of failures) say(ctx, `could not remove ${f.name}: ${f.reason}`);
  if (failures.length > 0) {
    return `${slug} was not fully torn down (${failures.length} left; run \`bot-bottle ` +
      `${remove ? "rm" : "stop"} ${slug}\` again, or \`bot-bottle cleanup\`)`;
  }
  const removed = [
    ...(bottle.machine ? [`machine ${bottle.machine.name}`] : []),
    ...bottle.containers.map((c) => `container ${c.name}`),
    ...bottle.networks.map((n) => `network ${n}`),
  ];
  const what = removed.length > 0 ? `; removed ${removed.join(", ")}` : "";
  if (remove) {
    if (bottle.state_dir) await removeStateDir(bottle.state_dir);
    say(ctx, `${slug} removed, state deleted${what}`);
  } else if (bottle.state_dir) {
    await writeStatus(bottle.state_dir, "stopped");
    say(ctx, `${slug} stopped; resume it with \`bot-bottle resume ${slug}\`${what}`);
  } else {
    say(ctx, `${slug} stopped (it had no state to resume)${what}`);
  }
  return null;
}

/** How long `rm` waits for a bottle's own launch to finish after its guest was torn down. */
export const OWNER_EXIT_WAIT_MS = 30_000;
const REMOVE_TRIES = 20;
const PAUSE_MS = 100;

/**
 * Delete a bottle's state dir. Tearing a running bottle down ends its agent, and its own
 * `start`/`resume` process then runs its teardown, writing into this dir as it exits: wait
 * (bounded) until it has let go of the owner lock, then remove, trying again while something
 * is still being written there ("Directory not empty").
 */
async function removeStateDir(dir: string): Promise<void> {
  const deadline = Date.now() + OWNER_EXIT_WAIT_MS;
  while (Date.now() < deadline && await ownerAlive(dir)) {
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
  }
  for (let attempt = 1;; attempt++) {
    try {
      await Deno.remove(dir, { recursive: true });
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      const busy = (error as { code?: string }).code === "ENOTEMPTY" ||
        /directory not empty/i.test((error as Error).message);
      if (!busy || attempt >= REMOVE_TRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    }
  }
}
