/**
 * `bot-bottle agents`: the agents the manifests define, with their bottles.
 */
import { resolveBottle } from "../manifest/resolve_bottle.ts";
import { makeStyle } from "../ui/style.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { loadManifestForCli } from "./_shared/load_manifest_for_cli.ts";

/** One agent as listed. */
export interface AgentListing {
  name: string;
  scope: string;
  source: string;
  bottle: string;
  bottles: string[];
  image: string | null;
  dockerfile: string | null;
  command: string[];
  egress_allow: string[];
  secrets: string[];
}

/** Run `agents`. */
export async function runAgents(
  ctx: CliContext,
  opts: { json: boolean; manifest?: string },
): Promise<number> {
  const manifest = await loadManifestForCli(ctx, opts.manifest);
  const listings: AgentListing[] = Object.values(manifest.agents)
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((agent) => {
      const bottle = resolveBottle(manifest, agent.bottle);
      return {
        name: agent.name,
        scope: agent.scope,
        source: agent.source,
        bottle: agent.bottle,
        bottles: bottle.chain,
        image: bottle.image ?? null,
        dockerfile: bottle.dockerfile ?? null,
        command: agent.command,
        egress_allow: bottle.egressAllow,
        secrets: Object.keys(bottle.secrets).sort(),
      };
    });
  if (opts.json) {
    ctx.stdout(`${JSON.stringify({ files: manifest.files, agents: listings }, null, 2)}\n`);
    return 0;
  }
  const style = makeStyle(ctx.stderrIsTerminal, ctx.env.get("NO_COLOR"));
  if (listings.length === 0) {
    ctx.stderr(
      `no agents defined (read: ${manifest.files.join(", ") || "no manifest file found"})\n` +
        "see examples/bot-bottle.toml for a starting point\n",
    );
    return 0;
  }
  const lines: string[] = [];
  for (const a of listings) {
    lines.push(`${style.bold(a.name)}  ${style.dim(`(${a.scope}: ${a.source})`)}`);
    lines.push(`  bottles  ${a.bottles.join(" -> ")}`);
    lines.push(`  image    ${a.image ?? `built from ${a.dockerfile}`}`);
    lines.push(`  command  ${a.command.join(" ")}`);
    lines.push(
      `  egress   ${a.egress_allow.length === 0 ? "(nothing)" : a.egress_allow.join(", ")}`,
    );
    if (a.secrets.length > 0) lines.push(`  secrets  ${a.secrets.join(", ")}`);
  }
  ctx.stderr(`${lines.join("\n")}\n`);
  return 0;
}

/** The `agents` command. */
export const command: Command = {
  name: "agents",
  args: "[--json]",
  summary: "list the agents and bottles the manifests define",
  description: "List the agents the manifests define, with their bottle chain, image and command.",
  options: { json: { type: "boolean", help: "print the agents as JSON on stdout" } },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values, manifest }) => runAgents(ctx, { json: values.json === true, manifest }),
};
