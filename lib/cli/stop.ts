/**
 * `bot-bottle stop <slug>`: tear the bottle down, keep its state for resume.
 */
import { stopBottle } from "../bottles/stop_bottle.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";

/** Run `stop`. */
export function runStop(ctx: CliContext, slug: string): Promise<number> {
  return stopBottle(ctx, { slug, remove: false });
}

/** The `stop` command. */
export const command: Command = {
  name: "stop",
  args: "<slug>",
  summary: "tear a bottle down, keep its state for resume",
  description: `Tear the bottle down (machine, containers, networks) and keep its state for
\`bot-bottle resume <slug>\`. Idempotent.`,
  options: {},
  positionals: { min: 1, max: 1, missing: "<slug>" },
  run: (ctx, { positionals }) => runStop(ctx, positionals[0]),
};
