/**
 * `bot-bottle version [--json]` / `--version`.
 */
import { VERSION } from "../version.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { printReport } from "./_shared/output.ts";

/** Print the version on stdout. */
export function runVersion(ctx: CliContext, opts: { json: boolean } = { json: false }): number {
  printReport(ctx, {
    json: opts.json,
    doc: () => ({
      schema: 1,
      name: "bot-bottle",
      version: VERSION,
      deno: Deno.version.deno,
      target: Deno.build.target,
    }),
    text: () => [`bot-bottle ${VERSION}`],
  });
  return 0;
}

/** The `version` command. */
export const command: Command = {
  name: "version",
  args: "[--json]",
  summary: "print the version",
  description: "Print bot-bottle's version (with --json: also the Deno runtime and target).",
  options: { json: { type: "boolean", help: "print the version as JSON on stdout" } },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values }) => runVersion(ctx, { json: values.json === true }),
};
