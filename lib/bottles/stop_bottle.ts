/**
 * Tear one bottle down by slug, on any backend and for leftovers too, and
 * either keep its state for `resume` (stop) or delete it (rm). Idempotent.
 */
import { collectInventory } from "./inventory.ts";
import { teardownBottle } from "./teardown_bottle.ts";
import { UserError } from "../errors.ts";
import { writeStatus } from "../state/metadata_store.ts";
import { stateRoot } from "../state/state_paths.ts";
import { ownerId } from "../plan/resource_names.ts";
import type { CliContext } from "../cli/_shared/context.ts";

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
    if (opts.remove) await Deno.remove(bottle.state_dir, { recursive: true });
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
