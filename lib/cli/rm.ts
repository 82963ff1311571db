/**
 * `bot-bottle rm <slug>`: tear the bottle down and delete its state.
 */
import { stopBottle } from "../bottles/stop_bottle.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";

/** Run `rm`. */
export function runRm(ctx: CliContext, slug: string): Promise<number> {
  return stopBottle(ctx, { slug, remove: true });
}

/** The `rm` command. */
export const command: Command = {
  name: "rm",
  args: "<slug>",
  summary: "tear a bottle down and delete its state",
  description: "Tear the bottle down and delete its state dir. Idempotent.",
  options: {},
  positionals: { min: 1, max: 1, missing: "<slug>" },
  run: (ctx, { positionals }) => runRm(ctx, positionals[0]),
};
