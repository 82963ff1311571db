/**
 * `bot-bottle exec <slug> [-i] [-t] -- CMD...` (SPEC §13): run a command in a
 * running bottle as the agent's user, with the agent's environment, and pass
 * its exit code through. Secrets the guest holds by value (the string form)
 * come, as for the agent, from this terminal's environment, by name only;
 * injected secrets never do (the guest has their placeholders).
 */
import { backendFor } from "../backends/registry.ts";
import { UsageError, UserError } from "../errors.ts";
import { runAttached } from "../host/runner.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { findBottle } from "./_shared/find_bottle.ts";

/** Run `exec`. */
export async function runExec(
  ctx: CliContext,
  opts: { slug: string; interactive: boolean; tty: boolean; command: string[] },
): Promise<number> {
  if (opts.command.length === 0) {
    throw new UsageError(
      "exec: no command given",
      `put it after --: bot-bottle exec ${opts.slug} -it -- bash`,
    );
  }
  if (opts.tty && !ctx.stdinIsTerminal) {
    throw new UsageError(
      "exec: -t needs a terminal on stdin, and stdin is not one",
      "drop -t (keep -i to pass stdin through)",
    );
  }
  const bottle = await findBottle(ctx, opts.slug);
  if (!bottle.running) {
    throw new UserError(`bottle ${opts.slug} is not running, so there is nothing to exec in`, {
      hint: `start it again with \`bot-bottle resume ${opts.slug}\` and exec from another terminal`,
    });
  }
  const env: Record<string, string> = {};
  const missing: string[] = [];
  for (const secret of bottle.meta.secrets ?? []) {
    // An injected secret's guest variable is its placeholder, already in the guest's own
    // environment: its value never goes into the bottle.
    if (secret.inject) continue;
    const value = ctx.env.get(secret.host_var);
    if (value === undefined) missing.push(`${secret.guest} (host variable ${secret.host_var})`);
    else env[secret.guest] = value;
  }
  if (missing.length > 0) {
    ctx.stderr(
      `bot-bottle: not set in this terminal, so the command runs without: ${missing.join(", ")}\n`,
    );
  }
  const argv = backendFor(bottle.meta.backend).execArgv(
    { slug: opts.slug, secretNames: Object.keys(env) },
    opts.command,
    { stdin: opts.interactive || opts.tty, tty: opts.tty },
  );
  // The command's exit code is ours; Ctrl-C goes to it (the terminal sends it to both), and
  // we wait for it to finish instead of exiting first.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  try {
    return await runAttached(ctx.runner, argv, { env });
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
  }
}

/** The `exec` command. */
export const command: Command = {
  name: "exec",
  args: "<slug> [-i] [-t] -- <command>...",
  summary: "run a command in a running bottle (e.g. a shell: exec <slug> -it -- bash)",
  description: `Run <command> in the running bottle <slug> as the agent's user, with the agent's
environment and working directory; its exit code is passed through. -i passes stdin
through, -t gives it a terminal (needs one on stdin). Secrets the agent holds by value
are passed from this terminal's environment, by name, as for the agent. A stopped or
unknown bottle is refused.`,
  options: {
    interactive: { type: "boolean", short: "i", help: "pass stdin through to the command" },
    tty: { type: "boolean", short: "t", help: "give the command a terminal (implies -i)" },
  },
  positionals: { min: 1, max: 1, missing: "<slug>" },
  tail: true,
  run: (ctx, { values, positionals, tail }) =>
    runExec(ctx, {
      slug: positionals[0],
      interactive: values.interactive === true,
      tty: values.tty === true,
      command: tail,
    }),
};
