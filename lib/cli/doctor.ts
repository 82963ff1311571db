/**
 * `bot-bottle doctor`: the preflight for both backends, every check reported
 * with its fix. Never stops early; exits 1 when any check failed.
 */
import { renderChecks } from "../plan/render_plan.ts";
import { preflightAll } from "../backends/registry.ts";
import { preflightPassed } from "../host/preflight.ts";
import { VERSION } from "../version.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { printReport } from "./_shared/output.ts";

/** Run `doctor`. */
export async function runDoctor(ctx: CliContext, opts: { json: boolean }): Promise<number> {
  const checks = await preflightAll({ runner: ctx.runner, probe: ctx.probe, env: ctx.env });
  const ok = preflightPassed(checks);
  const ready = {
    smolmachines: preflightPassed(checks.filter((c) => c.backends.includes("smolmachines"))),
    docker: preflightPassed(checks.filter((c) => c.backends.includes("docker"))),
  };
  printReport(ctx, {
    json: opts.json,
    doc: () => ({ schema: 1, version: VERSION, ok, ready, checks }),
    text: (style) => {
      const verdict = (b: boolean) => (b ? style.green("ready") : style.red("not ready"));
      return [
        style.bold(`bot-bottle ${VERSION} doctor`),
        ...renderChecks(checks, style),
        `  smolmachines backend: ${verdict(ready.smolmachines)}`,
        `  docker backend:       ${verdict(ready.docker)}`,
      ];
    },
  });
  return ok ? 0 : 1;
}

/** The `doctor` command. */
export const command: Command = {
  name: "doctor",
  args: "[--json]",
  summary: "check this host for both backends (no side effects)",
  description: `Run the preflight checks for both backends and report each with its fix. Exits 1
when a check fails. Changes nothing.`,
  options: { json: { type: "boolean", help: "print the report as JSON on stdout" } },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values }) => runDoctor(ctx, { json: values.json === true }),
};
