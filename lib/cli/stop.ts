/**
 * `bot-bottle stop <slug>`: tear the bottle down, keep its state for resume.
 */
import { stopBottle } from "../bottles/stop_bottle.ts";
import type { CliContext } from "./_shared/context.ts";

/** Run `stop`. */
export function runStop(ctx: CliContext, slug: string): Promise<number> {
  return stopBottle(ctx, { slug, remove: false });
}
