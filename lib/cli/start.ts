/**
 * `bot-bottle start <agent>`: resolve the plan, run the preflight, and (in
 * this build) print it with --dry-run. A real launch stops on a failed
 * preflight before any side effect.
 */
import { UsageError, UserError } from "../errors.ts";
import { NAME_PATTERN } from "../manifest/types.ts";
import { type Backend, BACKENDS } from "../plan/plan_types.ts";
import type { CliContext } from "./_shared/context.ts";
import { findAgent } from "./_shared/find_agent.ts";
import { loadManifestForCli } from "./_shared/load_manifest_for_cli.ts";
import { planAndLaunch } from "../launch/plan_and_launch.ts";

/** Parsed `start` options. */
export interface StartOptions {
  agent: string;
  backend?: string;
  label?: string;
  cwd: boolean;
  yes: boolean;
  dryRun: boolean;
  json: boolean;
  manifest?: string;
  agentArgs: string[];
}

/** `--backend` > `BOT_BOTTLE_BACKEND` > smolmachines; never a silent fallback. */
export function resolveBackend(flag: string | undefined, envValue: string | undefined): Backend {
  if (flag !== undefined) {
    if ((BACKENDS as readonly string[]).includes(flag)) return flag as Backend;
    throw new UsageError(
      `unknown backend "${flag}" for --backend (expected ${BACKENDS.join(" or ")})`,
      "Run `bot-bottle start --help` for usage.",
    );
  }
  if (envValue !== undefined && envValue !== "") {
    if ((BACKENDS as readonly string[]).includes(envValue)) return envValue as Backend;
    throw new UserError(
      `BOT_BOTTLE_BACKEND is "${envValue}", which is not a backend (expected ${
        BACKENDS.join(" or ")
      })`,
      { hint: "unset it or set it to smolmachines or docker" },
    );
  }
  return "smolmachines";
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
  if (opts.cwd && !opts.dryRun) {
    throw new UserError(
      "--cwd (copying the working directory into the bottle) is not implemented yet; nothing was " +
        "created",
      { hint: "leave out --cwd; the plan shows what it would record: --cwd --dry-run" },
    );
  }
  const manifest = await loadManifestForCli(ctx, opts.manifest);
  findAgent(manifest, opts.agent);
  return await planAndLaunch(ctx, {
    manifest,
    agent: opts.agent,
    backend,
    slugBase: opts.label ?? opts.agent,
    label: opts.label,
    cwd: opts.cwd ? ctx.cwd : undefined,
    agentArgs: opts.agentArgs,
    dryRun: opts.dryRun,
    json: opts.json,
    yes: opts.yes,
  });
}
