/**
 * `bot-bottle deny <slug> <host[:port]>`: take a host off a bottle's live
 * allowlist (an approval, or the manifest's own entry) without a restart.
 */
import type { Command } from "./_shared/command.ts";
import { changeApprovals } from "./_shared/change_approvals.ts";

/** The `deny` command. */
export const command: Command = {
  name: "deny",
  args: "<slug> <host[:port]> [--json]",
  summary: "refuse a host in a bottle from now on (revokes an approval)",
  description: `Refuse <host[:port]> in the bottle from now on: revokes an approval, overrides the
manifest's own entry for this bottle, and refuses at once a request held by
egress.on_block = "ask". New connections are refused within a second; connections already
open stay until they close. Kept in the bottle's state like approvals.`,
  options: { json: { type: "boolean", help: "print what changed as JSON on stdout" } },
  positionals: { min: 2, max: 2, missing: "<slug> <host[:port]>" },
  run: (ctx, { values, positionals }) =>
    changeApprovals(ctx, {
      slug: positionals[0],
      host: positionals[1],
      action: "deny",
      json: values.json === true,
    }),
};
