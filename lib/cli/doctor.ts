/**
 * `bot-bottle doctor`: the preflight for both backends, every check reported
 * with its fix. Never stops early; exits 1 when any check failed.
 */
import { renderChecks } from "../plan/render_plan.ts";
import { preflightAll } from "../backends/registry.ts";
import { preflightPassed } from "../host/preflight.ts";
import { makeStyle } from "../ui/style.ts";
import { VERSION } from "../version.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";

/** Run `doctor`. */
export async function runDoctor(ctx: CliContext, opts: { json: boolean }): Promise<number> {
  const checks = await preflightAll({ runner: ctx.runner, probe: ctx.probe, env: ctx.env });
  const ok = preflightPassed(checks);
  const ready = {
    smolmachines: preflightPassed(checks.filter((c) => c.backends.includes("smolmachines"))),
    docker: preflightPassed(checks.filter((c) => c.backends.includes("docker"))),
  };
  if (opts.json) {
    ctx.stdout(`${JSON.stringify({ version: VERSION, ok, ready, checks }, null, 2)}\n`);
  } else {
    const style = makeStyle(ctx.stderrIsTerminal, ctx.env.get("NO_COLOR"));
    const verdict = (b: boolean) => (b ? style.green("ready") : style.red("not ready"));
    ctx.stderr(
      `${style.bold(`bot-bottle ${VERSION} doctor`)}\n${renderChecks(checks, style).join("\n")}\n` +
        `  smolmachines backend: ${verdict(ready.smolmachines)}\n` +
        `  docker backend:       ${verdict(ready.docker)}\n`,
    );
  }
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
