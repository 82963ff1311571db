/**
 * `bot-bottle doctor [--backend B] [--json]`: the preflight, every check
 * reported with its fix; changes nothing. With --backend, that backend's
 * checks only. Exits 0 when the backend a `start` would use (--backend, else
 * BOT_BOTTLE_BACKEND, else smolmachines) is ready, 1 when it is not.
 */
import { renderChecks } from "../plan/render_plan.ts";
import { backendFor, preflightAll } from "../backends/registry.ts";
import { type PreflightCheck, preflightPassed } from "../host/preflight.ts";
import { type BackendName, BACKENDS } from "../plan/plan_types.ts";
import { VERSION } from "../version.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { printReport } from "./_shared/output.ts";
import { resolveBackend } from "./_shared/backend_choice.ts";

/** Run `doctor`. */
export async function runDoctor(
  ctx: CliContext,
  opts: { json: boolean; backend?: string },
): Promise<number> {
  const only = opts.backend === undefined
    ? undefined
    : resolveBackend(opts.backend, undefined, "doctor");
  const target = only ?? resolveBackend(undefined, ctx.env.get("BOT_BOTTLE_BACKEND"), "doctor");
  const deps = { runner: ctx.runner, probe: ctx.probe, env: ctx.env };
  const [checks, routes] = await Promise.all([
    only
      ? backendFor(only).preflight(deps).then((cs) =>
        cs.map((c): PreflightCheck => ({ ...c, backends: [only] }))
      )
      : preflightAll(deps),
    ctx.hostRoutes(),
  ]);
  const names: BackendName[] = only ? [only] : [...BACKENDS];
  const ready = Object.fromEntries(
    names.map((b) => [b, preflightPassed(checks.filter((c) => c.backends.includes(b)))]),
  ) as Partial<Record<BackendName, boolean>>;
  const ok = ready[target] === true;
  const notes = routes.note ? [routes.note] : [];
  printReport(ctx, {
    json: opts.json,
    doc: () => ({ schema: 1, version: VERSION, backend: target, ok, ready, checks, notes }),
    text: (style) => {
      const verdict = (b: boolean) => (b ? style.green("ready") : style.red("not ready"));
      const width = Math.max(...names.map((b) => b.length));
      const lines = [
        style.bold(`bot-bottle ${VERSION} doctor${only ? ` (${only} backend)` : ""}`),
        ...renderChecks(checks, style),
        ...notes.map((n) => `  ${style.yellow("note")} ${n}`),
        ...names.map((b) => `  ${`${b} backend:`.padEnd(width + 9)} ${verdict(ready[b]!)}`),
      ];
      if (!only) {
        const why = ctx.env.get("BOT_BOTTLE_BACKEND") ? "BOT_BOTTLE_BACKEND" : "the default";
        const other = names.find((b) => b !== target && ready[b]);
        lines.push(
          `start uses the ${target} backend (${why}): ${verdict(ok)}` +
            (!ok && other
              ? `; the ${other} backend is ready: use --backend ${other} or ` +
                `BOT_BOTTLE_BACKEND=${other}`
              : ""),
        );
      }
      return lines;
    },
  });
  return ok ? 0 : 1;
}

/** The `doctor` command. */
export const command: Command = {
  name: "doctor",
  args: "[--backend B] [--json]",
  summary: "check this host for the backends (no side effects)",
  description: `Run the preflight checks for both backends (or, with --backend, one) and report
each with its fix, on stdout. Exits 0 when the backend a start would use (--backend,
else BOT_BOTTLE_BACKEND, else smolmachines) is ready, 1 when it is not. Changes
nothing.`,
  options: {
    backend: {
      type: "string",
      value: "B",
      help: "check only backend B (smolmachines or docker); exit 0 when it is ready",
      choices: BACKENDS,
    },
    json: { type: "boolean", help: "print the report as JSON on stdout" },
  },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values }) =>
    runDoctor(ctx, { json: values.json === true, backend: values.backend as string | undefined }),
};
