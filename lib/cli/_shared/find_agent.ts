/**
 * Look an agent up by name, with a "did you mean" for near misses.
 */
import { UserError } from "../../errors.ts";
import { didYouMean } from "../../manifest/did_you_mean.ts";
import type { AgentDef, Manifest } from "../../manifest/types.ts";

/** The agent named `name`, or a UserError that lists what exists. */
export function findAgent(manifest: Manifest, name: string): AgentDef {
  if (Object.hasOwn(manifest.agents, name)) return manifest.agents[name];
  const names = Object.keys(manifest.agents).sort();
  const near = didYouMean(name, names);
  const files = manifest.files.length > 0 ? manifest.files.join(", ") : "no manifest file found";
  throw new UserError(
    `no agent named "${name}" in ${files}${near ? ` (did you mean "${near}"?)` : ""}`,
    {
      hint: names.length > 0
        ? `defined agents: ${names.join(", ")}; see \`bot-bottle agents\``
        : "define one under [agents.<name>] in your manifest (see examples/bot-bottle.toml)",
    },
  );
}
