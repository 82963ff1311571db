/**
 * `bot-bottle rm <slug>`: tear the bottle down and delete its state.
 */
import { stopBottle } from "../bottles/stop_bottle.ts";
import type { CliContext } from "./_shared/context.ts";

/** Run `rm`. */
export function runRm(ctx: CliContext, slug: string): Promise<number> {
  return stopBottle(ctx, { slug, remove: true });
}
