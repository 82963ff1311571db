/**
 * Where bot-bottle keeps per-bottle state (SPEC §4.5):
 * `$XDG_STATE_HOME/bot-bottle` (only if absolute) or `~/.local/state/bot-bottle`.
 */
import { UserError } from "../errors.ts";

/** The state root for this user. */
export function stateRoot(env: { get(name: string): string | undefined }): string {
  const xdg = env.get("XDG_STATE_HOME");
  if (xdg && xdg.startsWith("/")) return `${xdg.replace(/\/+$/, "")}/bot-bottle`;
  const home = env.get("HOME");
  if (!home) {
    throw new UserError("neither XDG_STATE_HOME nor HOME is set, so there is no place for state", {
      hint: "set HOME (or XDG_STATE_HOME to an absolute path) and try again",
    });
  }
  return `${home.replace(/\/+$/, "")}/.local/state/bot-bottle`;
}

/** The state dir of one bottle. */
export function bottleStateDir(root: string, slug: string): string {
  return `${root}/bottles/${slug}`;
}
