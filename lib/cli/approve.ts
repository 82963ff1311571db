/**
 * `bot-bottle approve <slug> <host[:port]>`: add a host to a bottle's live
 * allowlist; its bundle takes it in without a restart (SPEC §13).
 */
import type { Command } from "./_shared/command.ts";
import { changeApprovals } from "./_shared/change_approvals.ts";

/** The `approve` command. */
export const command: Command = {
  name: "approve",
  args: "<slug> <host[:port]> [--json]",
  summary: "let a refused host through a bottle's proxy now, no restart",
  description:
    `Add <host[:port]> to the bottle's live allowlist. A running bottle's bundle takes it in
within a second (open connections stay); a request held by egress.on_block = "ask" goes
through. The approval is kept in the bottle's state: list shows it, resume keeps it. The
host is parsed as egress.allow parses it (a name, "*.suffix", an IPv4 address, :port);
anything a manifest could not list is refused. Prints the manifest line that keeps the
host for new bottles.`,
  options: { json: { type: "boolean", help: "print what changed as JSON on stdout" } },
  positionals: { min: 2, max: 2, missing: "<slug> <host[:port]>" },
  run: (ctx, { values, positionals }) =>
    changeApprovals(ctx, {
      slug: positionals[0],
      host: positionals[1],
      action: "approve",
      json: values.json === true,
    }),
};
