/**
 * `bot-bottle diff <slug>`: the agent's work in a bottle's workspace as a
 * unified diff of base..tip (stdout), from its last capture, and what the
 * secret scan found in it (stderr).
 */
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { findCapture } from "./_shared/find_capture.ts";
import { visible } from "../plan/render_plan.ts";

/**
 * The patch for a terminal: every control character but the tab shown as an escape, so the
 * agent's file contents cannot erase, overwrite or restyle lines of the review.
 */
export function patchForTerminal(patch: string): string {
  return patch.split("\n").map((line) => line.split("\t").map(visible).join("\t")).join("\n");
}

/** Run `diff`. */
export async function runDiff(
  ctx: CliContext,
  opts: { slug: string; raw?: boolean },
): Promise<number> {
  const { capture, files } = await findCapture(ctx, opts.slug);
  const patch = await Deno.readTextFile(files.diff).catch(() => "");
  ctx.stdout(ctx.stdoutIsTerminal && !opts.raw ? patchForTerminal(patch) : patch);
  const range = `${capture.base ? capture.base.slice(0, 12) : "(empty)"}..${
    capture.tip.slice(0, 12)
  }`;
  if (patch === "") ctx.stderr(`bot-bottle: no changes in ${range}\n`);
  if (capture.findings.length > 0) {
    ctx.stderr(
      `bot-bottle: gitleaks found ${capture.findings.length} thing(s) in ${range} ` +
        "(values not shown); `export` refuses without --allow-findings:\n" +
        capture.findings.map((f) => `  ${visible(f)}\n`).join(""),
    );
  } else if (capture.scanned) {
    ctx.stderr(`bot-bottle: gitleaks found nothing in ${range}\n`);
  }
  return 0;
}

/** The `diff` command. */
export const command: Command = {
  name: "diff",
  args: "<slug>",
  summary: "the agent's work in a bottle's workspace, as a unified diff",
  description:
    `Print the unified diff of the bottle's workspace from its base (your HEAD when it was
copied) to the tip the last capture made (the agent's commits, plus one by bot-bottle of
what it left uncommitted). The capture runs when the agent exits and on \`stop\`. What
gitleaks found in those commits is listed on stderr (where, never the value). On a
terminal, control characters in the patch are shown as escapes (\\e, \\r, \\x07), so file
contents cannot rewrite the screen; piped, the patch is as git made it (for git apply).`,
  options: {
    raw: { type: "boolean", help: "the patch byte for byte, even on a terminal" },
  },
  positionals: { min: 1, max: 1, missing: "<slug>" },
  run: (ctx, { values, positionals }) =>
    runDiff(ctx, { slug: positionals[0], raw: values.raw === true }),
};
