/**
 * `bot-bottle start <agent>`: resolve the plan, print it, confirm, launch,
 * attach the agent, tear down when it exits. A launch stops on a failed
 * preflight before any side effect; `--dry-run` only prints the plan.
 */
import { UsageError } from "../errors.ts";
import { NAME_PATTERN } from "../manifest/types.ts";
import { BACKENDS } from "../plan/plan_types.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { findAgent } from "./_shared/find_agent.ts";
import { resolveBackend } from "./_shared/backend_choice.ts";

export { resolveBackend };
import { loadManifestForCli, sourcesForCli } from "./_shared/load_manifest_for_cli.ts";
import { parseSize } from "../workspace/workspace_size.ts";

/** Parsed `start` options. */
export interface StartOptions {
  agent: string;
  backend?: string;
  label?: string;
  cwd: boolean;
  /** `--max-workspace SIZE`, parsed. */
  maxWorkspace?: number;
  yes: boolean;
  dryRun: boolean;
  json: boolean;
  /** Delete the state when the agent exits. */
  rm?: boolean;
  manifest?: string;
  agentArgs: string[];
}

/** Run `start`. Returns the exit code. */
export async function runStart(ctx: CliContext, opts: StartOptions): Promise<number> {
  const backend = resolveBackend(opts.backend, ctx.env.get("BOT_BOTTLE_BACKEND"));
  if (opts.label !== undefined && !NAME_PATTERN.test(opts.label)) {
    throw new UsageError(
      `--label "${opts.label}" is not a valid name (lowercase letter first, then a-z, 0-9 or -)`,
      "Run `bot-bottle start --help` for usage.",
    );
  }
  if (opts.json && !opts.dryRun) {
    throw new UsageError("--json needs --dry-run", "Run `bot-bottle start --help` for usage.");
  }
  if (opts.maxWorkspace !== undefined && !opts.cwd) {
    throw new UsageError("--max-workspace needs --cwd", "Run `bot-bottle start --help` for usage.");
  }
  const sources = sourcesForCli(ctx, opts.manifest);
  const manifest = await loadManifestForCli(ctx, opts.manifest, sources);
  findAgent(manifest, opts.agent);
  const { planAndLaunch } = await import("../launch/plan_and_launch.ts");
  return await planAndLaunch(ctx, {
    manifest,
    agent: opts.agent,
    backend,
    slugBase: opts.label ?? opts.agent,
    label: opts.label,
    cwd: opts.cwd ? ctx.cwd : undefined,
    maxWorkspace: opts.maxWorkspace,
    agentArgs: opts.agentArgs,
    dryRun: opts.dryRun,
    json: opts.json,
    yes: opts.yes,
    rm: opts.rm,
    manifestSources: sources,
  });
}

/** The `start` command. */
export const command: Command = {
  name: "start",
  args: "<agent> [options] [-- <agent args>]",
  summary: "launch a bottle (or with --dry-run print its plan)",
  description: `Resolve the plan for a bottle running <agent> (slug, backend, bundle subnet, guest
environment with secret names only, egress allowlist, resources, Smolfile, preflight),
print it, ask "Launch? [y/N]" on a terminal, launch, attach the agent to this terminal,
tear everything down when it exits, and exit with the agent's exit code. The state is
kept for \`bot-bottle resume\` (not with --rm); a start that fails before the agent runs
leaves none. A dry run prints the plan on stdout and exits 1, saying why, when a start
would be refused (a failed preflight check, a secret's host variable not set).`,
  options: {
    "dry-run": { type: "boolean", help: "resolve and print the plan, change nothing" },
    json: { type: "boolean", help: "with --dry-run: print the plan as one JSON object on stdout" },
    backend: {
      type: "string",
      value: "NAME",
      help: "smolmachines (default) or docker; also BOT_BOTTLE_BACKEND",
      choices: BACKENDS,
    },
    label: {
      type: "string",
      value: "L",
      help: "name the bottle L instead of the agent (slug L-xxxxx)",
    },
    cwd: {
      type: "boolean",
      help: "copy the git work tree holding this directory (or the directory) to /workspace",
    },
    "max-workspace": {
      type: "string",
      value: "SIZE",
      help: "with --cwd: the largest workspace to copy (default 4GiB)",
    },
    yes: {
      type: "boolean",
      short: "y",
      help: "do not ask before launching (required without a terminal)",
    },
    rm: { type: "boolean", help: "delete the bottle's state when the agent exits (no resume)" },
  },
  positionals: { min: 1, max: 1, missing: "<agent>" },
  completes: "agents",
  tail: true,
  run: (ctx, { values, positionals, tail, manifest }) =>
    runStart(ctx, {
      agent: positionals[0],
      backend: values.backend as string | undefined,
      label: values.label as string | undefined,
      cwd: values.cwd === true,
      maxWorkspace: typeof values["max-workspace"] === "string"
        ? parseSize(values["max-workspace"], "--max-workspace")
        : undefined,
      yes: values.yes === true,
      dryRun: values["dry-run"] === true,
      json: values.json === true,
      rm: values.rm === true,
      manifest,
      agentArgs: tail,
    }),
};
