/**
 * `bot-bottle rm <slug>... | rm --stopped`: tear bottles down and delete
 * their state. A bottle already gone is said to be so (exit 0).
 */
import { UsageError } from "../errors.ts";
import { isValidSlug } from "../plan/slug.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";

const USAGE = "Run `bot-bottle rm --help` for usage.";

/** Refuse what cannot be a slug (a path, a space) before anything is looked up. */
export function checkSlugs(command: string, slugs: readonly string[]): void {
  for (const slug of slugs) {
    if (!isValidSlug(slug)) {
      throw new UsageError(
        `${command}: "${slug}" is not a bottle slug (see \`bot-bottle list -q\`)`,
        `Run \`bot-bottle ${command} --help\` for usage.`,
      );
    }
  }
}

/** Run `rm`. */
export async function runRm(
  ctx: CliContext,
  opts: { slugs: string[]; stopped: boolean },
): Promise<number> {
  if (opts.stopped && opts.slugs.length > 0) {
    throw new UsageError("rm: give slugs or --stopped, not both", USAGE);
  }
  if (!opts.stopped && opts.slugs.length === 0) throw new UsageError("rm: missing <slug>", USAGE);
  checkSlugs("rm", opts.slugs);
  const { stopBottles } = await import("../bottles/stop_bottle.ts");
  return await stopBottles(ctx, { slugs: opts.slugs, remove: true, allStopped: opts.stopped });
}

/** The `rm` command. */
export const command: Command = {
  name: "rm",
  args: "<slug>... | --stopped",
  summary: "tear bottles down and delete their state",
  description: `Tear each bottle down (machine, containers, networks) and delete its state dir;
--stopped does so for every stopped bottle. A bottle that is already gone is said to
be so and is not an error; a slug close to an existing one is. Nothing is removed
while Docker cannot be reached.`,
  options: {
    stopped: { type: "boolean", help: "remove every stopped bottle" },
  },
  positionals: { min: 0, max: Infinity },
  completes: "slugs",
  run: (ctx, { values, positionals }) =>
    runRm(ctx, { slugs: positionals, stopped: values.stopped === true }),
};
