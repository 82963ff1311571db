/**
 * Names: bottles, agents, git remotes and labels (`^[a-z][a-z0-9-]*$`, at
 * most 63 characters, so a name fits a Docker or smolvm object name and a
 * path component), and environment variable names.
 */

/** Names of bottles, agents, git remotes and labels. */
export const NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

/** Longest name. */
export const MAX_NAME_LENGTH = 63;

/** The rule, for messages. */
export const NAME_RULE = "names must match ^[a-z][a-z0-9-]*$: a lowercase letter, then " +
  'lowercase letters, digits and "-", at most 63 characters';

/** True for a valid name. */
export function isName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(name);
}

/** Environment variable names (env keys, secrets keys and host variable names). */
export const VAR_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A path on the host a container may bind-mount: absolute, or `~/...`; no `,` `:` or control. */
export function hostPathProblem(path: string): string | null {
  if (path === "") return "is empty";
  if (!path.startsWith("/") && !path.startsWith("~/")) return "must be an absolute path or ~/...";
  if (/[,:\p{Cc}]/u.test(path)) return "contains ',', ':' or a control character";
  return null;
}
