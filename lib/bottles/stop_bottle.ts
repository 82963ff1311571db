/**
 * Tear one bottle down by slug, on any backend and for leftovers too, and
 * either keep its state for `resume` (stop) or delete it (rm). Idempotent.
 */
import { collectInventory } from "./inventory.ts";
import { teardownBottle } from "./teardown_bottle.ts";
import { UserError } from "../errors.ts";
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
    await captureWorkspace({
      runner: ctx.runner,
      backend: backendFor(meta.backend),
      slug,
      stateDir,
      run: meta.started_at,
      by: "stop",
      helper: {
        runner: ctx.runner,
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

/** Stop (remove = false) or remove (remove = true) the bottle `slug`. */
export async function stopBottle(
  ctx: CliContext,
  opts: { slug: string; remove: boolean },
): Promise<number> {
  const inventory = await collectInventory({
    runner: ctx.runner,
    stateRoot: stateRoot(ctx.env),
    now: ctx.now(),
    onPath: async (tool) => (await ctx.probe.which(tool)) !== null,
  });
  const bottle = inventory.bottles.find((b) => b.slug === opts.slug);
  if (!bottle) {
    throw new UserError(`no bottle named "${opts.slug}" on this machine`, {
      hint: "see `bot-bottle list` for the bottles there are",
    });
  }
  // A running bottle with a workspace: the agent's work comes out before anything is removed.
  if (!opts.remove && bottle.state === "running" && bottle.state_dir) {
    await captureOnStop(ctx, bottle.state_dir, opts.slug);
  }
  const failures = await teardownBottle(ctx.runner, bottle, ownerId(stateRoot(ctx.env)));
  for (const f of failures) ctx.stderr(`bot-bottle: could not remove ${f.name}: ${f.reason}\n`);
  if (failures.length > 0) {
    throw new UserError(`${opts.slug} was not fully torn down (${failures.length} left)`, {
      hint: `run \`bot-bottle ${
        opts.remove ? "rm" : "stop"
      } ${opts.slug}\` again, or \`bot-bottle cleanup\``,
    });
  }
  if (bottle.state_dir) {
    if (opts.remove) await removeStateDir(bottle.state_dir);
    else await writeStatus(bottle.state_dir, "stopped");
  }
  const what = opts.remove
    ? "removed, state deleted"
    : bottle.state_dir
    ? `stopped; resume it with \`bot-bottle resume ${opts.slug}\``
    : "stopped (it had no state to resume)";
  ctx.stderr(`bot-bottle: ${opts.slug} ${what}\n`);
  return 0;
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
