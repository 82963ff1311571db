/**
 * Look an agent up by name, with a "did you mean" for near misses; with no
 * manifest at all, say where one was looked for and name `init`.
 */
import { UserError } from "../../errors.ts";
import { didYouMean } from "../../manifest/did_you_mean.ts";
import type { AgentDef, Manifest } from "../../manifest/types.ts";

/** How to get a first manifest. */
export const INIT_HINT = "run `bot-bottle init` to write one with the shell, claude and codex " +
  "presets, or name one with --manifest PATH (or BOT_BOTTLE_MANIFEST)";

/** "no manifest found (looked for A and B)". */
export function noManifestFound(manifest: Manifest): string {
  const searched = manifest.searched ?? [];
  return searched.length === 0
    ? "no manifest found"
    : `no manifest found (looked for ${searched.join(" and ")})`;
}

/** The agent named `name`, or a UserError that lists what exists. */
export function findAgent(manifest: Manifest, name: string): AgentDef {
  if (Object.hasOwn(manifest.agents, name)) return manifest.agents[name];
  if (manifest.files.length === 0) {
    throw new UserError(`no agent named "${name}": ${noManifestFound(manifest)}`, {
      hint: INIT_HINT,
    });
  }
  const names = Object.keys(manifest.agents).sort();
  const near = didYouMean(name, names);
  throw new UserError(
    `no agent named "${name}" in ${manifest.files.join(", ")}${
      near ? ` (did you mean "${near}"?)` : ""
    }`,
    {
      hint: names.length > 0
        ? `defined agents: ${names.join(", ")}; see \`bot-bottle agents\``
        : "define one under [agents.<name>] in your manifest, or start from the presets: " +
          "bot-bottle init --force",
    },
  );
}
