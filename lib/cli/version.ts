/**
 * `bot-bottle version` / `--version`.
 */
import { VERSION } from "../version.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";

/** Print the version on stdout. */
export function runVersion(ctx: CliContext): number {
  ctx.stdout(`bot-bottle ${VERSION}\n`);
  return 0;
}

/** The `version` command. */
export const command: Command = {
  name: "version",
  args: "",
  summary: "print the version",
  description: "Print bot-bottle's version.",
  options: {},
  positionals: { min: 0, max: 0 },
  run: (ctx) => runVersion(ctx),
};
