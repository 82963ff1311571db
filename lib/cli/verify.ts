/**
 * `bot-bottle verify <slug> [--json]` (SPEC §13): run the isolation suite
 * inside the live bottle, as the agent's user, and report each check with
 * its status, detail and time; exit 1 when any check fails.
 */
import { backendFor } from "../backends/registry.ts";
import { UserError } from "../errors.ts";
import { lastLine } from "../host/runner.ts";
import { stateRoot } from "../state/state_paths.ts";
import { VERIFY_SCRIPT, verifyScriptArgs } from "../verify/isolation_script.ts";
import { gatherVerifyArgs, injectedSecretHashes } from "../verify/verify_inputs.ts";
import { parseVerifyOutput, renderVerifyReport } from "../verify/verify_report.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { findBottle, isRunning } from "./_shared/find_bottle.ts";

/** The whole suite's bound (each probe inside has its own, of a few seconds). */
const SUITE_LIMIT_MS = 120_000;

/** Run `verify`. */
export async function runVerify(
  ctx: CliContext,
  opts: { slug: string; json: boolean },
): Promise<number> {
  const bottle = await findBottle(ctx, opts.slug);
  if (!bottle.running) {
    throw new UserError(`bottle ${opts.slug} is not running; verify tests a live bottle`, {
      hint:
        `start it again with \`bot-bottle resume ${opts.slug}\` and verify from another terminal`,
    });
  }
  const args = await gatherVerifyArgs(
    {
      env: ctx.env,
      stateRoot: stateRoot(ctx.env),
      isRunning,
      hostAddresses: () => Deno.networkInterfaces().map((i) => i.address),
    },
    bottle.meta,
    bottle.stateDir,
  );
  const backend = backendFor(bottle.meta.backend);
  for (const s of injectedSecretHashes(ctx.env, bottle.meta).unchecked) {
    ctx.stderr(
      `bot-bottle: ${s.host_var} is not set here, so verify cannot check that the value of the ` +
        `injected secret ${s.guest} is absent from the guest (export it and run verify again)\n`,
    );
  }
  if (!opts.json) {
    ctx.stderr(
      `bot-bottle: verifying bottle ${opts.slug} from inside ${backend.guestName(opts.slug)}\n`,
    );
  }
  const result = await ctx.runner.run(
    backend.execArgv(
      { slug: opts.slug, secretNames: [] },
      ["bash", "-c", VERIFY_SCRIPT, "verify", ...verifyScriptArgs(args)],
      { stdin: false, tty: false, timeout: "100s" },
    ),
    { signal: AbortSignal.timeout(SUITE_LIMIT_MS) },
  );
  const problem = result.code === 126 || result.code === 127
    ? `the guest could not run bash (exit ${result.code}: ${
      lastLine(result)
    }); verify needs bash and coreutils in the image`
    : `the suite stopped with exit ${result.code}: ${lastLine(result) || "no output"}`;
  const report = parseVerifyOutput(opts.slug, bottle.meta.backend, result.stdout, problem);
  ctx.stdout(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderVerifyReport(report));
  return report.passed ? 0 : 1;
}

/** The `verify` command. */
export const command: Command = {
  name: "verify",
  args: "<slug> [--json]",
  summary: "run the isolation suite inside a running bottle",
  description:
    `Run the isolation suite inside the running bottle, as the agent's user: unlisted host,
IP literal and unlisted port refused by the proxy; direct TCP and UDP refused fast; DNS
answers nothing; gateway, host and other bottles unreachable; link-local refused; IPv6
off; no capabilities or container-runtime socket; injected secrets absent. Each check
reports pass/fail/skip, a detail and its time; a probe that hangs fails. Direct probes
aim at BOT_BOTTLE_VERIFY_TARGET (else BOT_BOTTLE_PROBE_TARGET, else 1.1.1.1:443) and at
the host's own addresses (BOT_BOTTLE_VERIFY_HOSTS overrides them); nothing else is sent
anywhere but the bottle's bundle. Exit 1 when any check fails.`,
  options: {
    json: { type: "boolean", help: 'print {"schema":1,"slug","checks":[...]} on stdout' },
  },
  positionals: { min: 1, max: 1, missing: "<slug>" },
  run: (ctx, { values, positionals }) =>
    runVerify(ctx, { slug: positionals[0], json: values.json === true }),
};
