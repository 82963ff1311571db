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
import { didYouMean } from "../manifest/did_you_mean.ts";
import { writeStatus } from "../state/metadata_store.ts";
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
    if (bottle.state_dir) await Deno.remove(bottle.state_dir, { recursive: true });
    say(ctx, `${slug} removed, state deleted${what}`);
  } else if (bottle.state_dir) {
    await writeStatus(bottle.state_dir, "stopped");
    say(ctx, `${slug} stopped; resume it with \`bot-bottle resume ${slug}\`${what}`);
  } else {
    say(ctx, `${slug} stopped (it had no state to resume)${what}`);
  }
  return null;
}
