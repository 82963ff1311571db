/**
 * `bot-bottle stop <slug>...`: tear bottles down, keep their state for resume.
 */
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { checkSlugs } from "./rm.ts";

/** Run `stop`. */
export async function runStop(ctx: CliContext, slugs: string[]): Promise<number> {
  checkSlugs("stop", slugs);
  const { stopBottles } = await import("../bottles/stop_bottle.ts");
  return await stopBottles(ctx, { slugs, remove: false });
}

/** The `stop` command. */
export const command: Command = {
  name: "stop",
  args: "<slug>...",
  summary: "tear bottles down, keep their state for resume",
  description: `Tear each bottle down (machine, containers, networks) and keep its state for
\`bot-bottle resume <slug>\`. A bottle already stopped, or gone, is said to be so and
is not an error. Nothing is touched while Docker cannot be reached.`,
  options: {},
  positionals: { min: 1, max: Infinity, missing: "<slug>" },
  completes: "slugs",
  run: (ctx, { positionals }) => runStop(ctx, positionals),
};
