/**
 * `bot-bottle start <agent>`: resolve the plan, run the preflight, and (in
 * this build) print it with --dry-run. A real launch stops on a failed
 * preflight before any side effect.
 */
import { UsageError, UserError } from "../errors.ts";
import { NAME_PATTERN } from "../manifest/types.ts";
import { type PlanInput, resolvePlan } from "../plan/resolve_plan.ts";
import { resolveBottle } from "../manifest/resolve_bottle.ts";
import { launchDocker } from "../backend/docker_launch.ts";
import { launchSmolvm } from "../backend/smolvm_launch.ts";
import type { TakenRange } from "../plan/bundle_subnet.ts";
import { Interrupts } from "../backend/interrupts.ts";
import { type Backend, BACKENDS } from "../plan/plan_types.ts";
import { renderChecks, renderPlan } from "../plan/render_plan.ts";
import { makeSlug } from "../plan/slug.ts";
import { readDockerSubnets } from "../runtime/docker_networks.ts";
import { preflight, preflightPassed } from "../runtime/preflight.ts";
import { stateRoot } from "../state/state_paths.ts";
import { makeStyle } from "../ui/style.ts";
import type { CliContext } from "./context.ts";
import { findAgent } from "./find_agent.ts";
import { loadManifestForCli } from "./load_manifest_for_cli.ts";

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
  const manifest = await loadManifestForCli(ctx, opts.manifest);
  const agent = findAgent(manifest, opts.agent);
  const checks = await preflight(backend, { runner: ctx.runner, probe: ctx.probe });
  const style = makeStyle(ctx.stderrIsTerminal, ctx.env.get("NO_COLOR"));

  if (!opts.dryRun && !preflightPassed(checks)) {
    ctx.stderr(`${style.bold(`preflight for the ${backend} backend failed:`)}\n`);
    ctx.stderr(`${renderChecks(checks.filter((c) => c.status === "fail"), style).join("\n")}\n`);
    throw new UserError(`cannot start a ${backend} bottle on this host; nothing was created`);
  }

  const dockerOk = checks.some((c) => c.id === "docker-daemon" && c.status === "ok");
  const docker = dockerOk ? await readDockerSubnets(ctx.runner) : {
    ranges: [],
    note: "existing Docker networks not checked (the Docker daemon is not reachable)",
  };
  const routes = await ctx.hostRoutes();
  const input: PlanInput = {
    manifest,
    agent: opts.agent,
    backend,
    slug: makeSlug(opts.label ?? opts.agent, ctx.randomSuffix()),
    label: opts.label,
    cwd: opts.cwd ? ctx.cwd : undefined,
    agentArgs: opts.agentArgs,
    taken: [...docker.ranges, ...routes.ranges],
    preflight: checks,
    hasHostVar: (name) => ctx.env.get(name) !== undefined,
    stateRoot: stateRoot(ctx.env),
    smolvmVersion: checks.find((c) => c.id === "smolvm-version")?.version ?? null,
    now: ctx.now().toISOString(),
    notes: [docker.note, routes.note].filter((n): n is string => n !== undefined),
  };
  const plan = resolvePlan(input);
  if (opts.dryRun) {
    if (opts.json) ctx.stdout(`${JSON.stringify(plan, null, 2)}\n`);
    else ctx.stderr(renderPlan(plan, style));
    return 0;
  }

  ctx.stderr(renderPlan(plan, style));
  const unset = plan.secrets.filter((s) => !s.present);
  if (unset.length > 0) {
    throw new UserError(
      `secret host variable${unset.length > 1 ? "s" : ""} ${
        unset.map((s) => s.host_var).join(", ")
      } ` +
        "not set; nothing was created",
      { hint: `export ${unset.map((s) => s.host_var).join(" ")} and start again` },
    );
  }
  if (!opts.yes) {
    if (!ctx.stdinIsTerminal) {
      throw new UserError("refusing to launch without confirmation: stdin is not a terminal", {
        hint: "pass --yes to launch without the y/N prompt",
      });
    }
    ctx.stderr("Launch? [y/N] ");
    const answer = (await ctx.readLine())?.trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") {
      ctx.stderr("not launched; nothing was created\n");
      return 1;
    }
  }
  const interrupts = new Interrupts();
  try {
    const common = {
      runner: ctx.runner,
      env: ctx.env,
      progress: (line: string) => ctx.stderr(`${style.dim(`bot-bottle: ${line}`)}\n`),
      stdinIsTerminal: ctx.stdinIsTerminal,
      interrupts,
      replan: (extra: TakenRange[]) => {
        input.taken = [...input.taken, ...extra];
        return resolvePlan(input);
      },
      bottle: resolveBottle(manifest, agent.bottle),
      baseImage: ctx.env.get("BOT_BOTTLE_BASE_IMAGE") || undefined,
    };
    const code = backend === "docker"
      ? await launchDocker(plan, common)
      : await launchSmolvm(plan, {
        ...common,
        os: ctx.probe.os,
        imageCacheDir: `${input.stateRoot}/images`,
      });
    ctx.stderr(
      `${style.dim(`bot-bottle: agent exited with ${code}; state kept in ${plan.state_dir}`)}\n`,
    );
    return code;
  } finally {
    interrupts.dispose();
  }
}
