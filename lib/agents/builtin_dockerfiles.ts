/**
 * The agent Dockerfiles that ship inside bot-bottle (text imports, like the
 * bundle's build files), so a manifest can name one as
 * `dockerfile = "builtin:<name>"` from anywhere: no relative path to break
 * when the manifest is copied or written by `init`. They are built on first
 * use with no build context (nothing to COPY), tagged by their content.
 */
import SHELL from "./dockerfiles/shell.Dockerfile" with { type: "text" };
import CLAUDE from "./dockerfiles/claude.Dockerfile" with { type: "text" };
import CODEX from "./dockerfiles/codex.Dockerfile" with { type: "text" };

/** How a manifest names a built-in Dockerfile. */
export const BUILTIN_PREFIX = "builtin:";

/** The built-in Dockerfiles by name, with what each builds. */
export const BUILTIN_DOCKERFILES: Readonly<Record<string, { text: string; summary: string }>> =
  Object.freeze({
    shell: { text: SHELL, summary: "a Debian shell with curl and git" },
    claude: { text: CLAUDE, summary: "Claude Code (npm @anthropic-ai/claude-code)" },
    codex: { text: CODEX, summary: "OpenAI Codex CLI (npm @openai/codex)" },
  });

/** The built-in name of `ref` (`builtin:claude` -> `claude`), or null for a file path. */
export function builtinName(ref: string): string | null {
  return ref.startsWith(BUILTIN_PREFIX) ? ref.slice(BUILTIN_PREFIX.length) : null;
}

/** The text of built-in Dockerfile `name`; throws for an unknown one (the manifest refuses it). */
export function builtinDockerfile(name: string): string {
  if (!Object.hasOwn(BUILTIN_DOCKERFILES, name)) {
    throw new Error(`no built-in Dockerfile named ${name}`);
  }
  return BUILTIN_DOCKERFILES[name].text;
}
