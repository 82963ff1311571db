/**
 * `bot-bottle agents`: the agents the manifests define, with their bottles.
 */
import { resolveBottle } from "../manifest/resolve_bottle.ts";
import { UsageError } from "../errors.ts";
import type { Style } from "../ui/style.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { loadManifestForCli } from "./_shared/load_manifest_for_cli.ts";
import { printReport } from "./_shared/output.ts";
import { INIT_HINT, noManifestFound } from "./_shared/find_agent.ts";

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
  opts: { json: boolean; quiet?: boolean; manifest?: string },
): Promise<number> {
  if (opts.json && opts.quiet) {
    throw new UsageError(
      "agents: --json and -q do not go together",
      "Run `bot-bottle agents --help` for usage.",
    );
  }
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
  if (opts.quiet) {
    for (const a of listings) ctx.stdout(`${a.name}\n`);
    return 0;
  }
  if (listings.length === 0 && !opts.json) {
    ctx.stderr(
      manifest.files.length === 0
        ? `bot-bottle: no agents defined: ${noManifestFound(manifest)}\nhint: ${INIT_HINT}\n`
        : `bot-bottle: no agents defined in ${manifest.files.join(", ")}\n`,
    );
    return 0;
  }
  printReport(ctx, {
    json: opts.json,
    doc: () => ({ schema: 1, files: manifest.files, agents: listings }),
    text: (style) => agentLines(listings, style),
  });
  return 0;
}

/** The readable listing: each agent, its bottle chain, image, command, egress and secrets. */
export function agentLines(listings: readonly AgentListing[], style: Style): string[] {
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
  return lines;
}

/** The `agents` command. */
export const command: Command = {
  name: "agents",
  args: "[--json | -q]",
  summary: "list the agents and bottles the manifests define",
  description: `List the agents the manifests define, with their bottle chain, image, command,
egress allowlist and secret names, on stdout.`,
  options: {
    json: { type: "boolean", help: "print the agents as JSON on stdout" },
    quiet: { type: "boolean", short: "q", help: "print only the agent names, one a line" },
  },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values, manifest }) =>
    runAgents(ctx, { json: values.json === true, quiet: values.quiet === true, manifest }),
};
