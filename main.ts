/**
 * bot-bottle's entry point: parse the command line and dispatch. Nothing else.
 */
import { parseArgs } from "node:util";
import { runAgents } from "./lib/cli/agents.ts";
import { type CliContext, realContext } from "./lib/cli/context.ts";
import { runDoctor } from "./lib/cli/doctor.ts";
import { reportError } from "./lib/cli/report_error.ts";
import { runStart } from "./lib/cli/start.ts";
import { COMMAND_USAGE, MAIN_USAGE } from "./lib/cli/usage.ts";
import { runVersion } from "./lib/cli/version.ts";
import { UsageError, UserError } from "./lib/errors.ts";
import { VERSION } from "./lib/version.ts";

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

const GLOBAL_OPTIONS: OptionSpec = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  manifest: { type: "string" },
};

const COMMAND_OPTIONS: Record<string, OptionSpec> = {
  start: {
    backend: { type: "string" },
    label: { type: "string" },
    cwd: { type: "boolean" },
    yes: { type: "boolean", short: "y" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
  },
  agents: { json: { type: "boolean" } },
  doctor: { json: { type: "boolean" } },
  version: {},
};

/** Commands of the spec that later work brings; they refuse plainly until then. */
const NOT_YET = new Set(["resume", "list", "ls", "stop", "rm", "cleanup", "bundle"]);

const HINT = "Run `bot-bottle --help` for usage.";

/** Split off `-- <agent args>` and find the command among the global options. */
function splitCommand(
  argv: readonly string[],
): { command?: string; rest: string[]; tail: string[] } {
  // A leading `--` (as `deno task bot-bottle -- start ...` passes it) means nothing.
  if (argv[0] === "--") argv = argv.slice(1);
  const dash = argv.indexOf("--");
  const head = dash === -1 ? [...argv] : argv.slice(0, dash);
  const tail = dash === -1 ? [] : argv.slice(dash + 1);
  for (let i = 0; i < head.length; i++) {
    const token = head[i];
    if (token === "--manifest") {
      i++;
      continue;
    }
    if (token.startsWith("-")) continue;
    return { command: token, rest: [...head.slice(0, i), ...head.slice(i + 1)], tail };
  }
  return { rest: head, tail };
}

function parse(command: string, args: string[]) {
  try {
    return parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[command] },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0].replace(/\. To specify.*$/, "");
    throw new UsageError(
      `${command}: ${message}`,
      `Run \`bot-bottle ${command} --help\` for usage.`,
    );
  }
}

/** Run bot-bottle with `argv` (without the program name); returns the exit code. */
export async function main(
  argv: readonly string[],
  ctx: CliContext = realContext(),
): Promise<number> {
  try {
    const { command, rest, tail } = splitCommand(argv);
    if (command === undefined) {
      const { values } = parse("version", rest);
      if (values.version) return runVersion(ctx);
      ctx.stderr(MAIN_USAGE);
      if (values.help) return 0;
      throw new UsageError("no command given", HINT);
    }
    if (command === "help") {
      ctx.stderr(COMMAND_USAGE[rest[0]] ?? MAIN_USAGE);
      return 0;
    }
    if (NOT_YET.has(command)) {
      throw new UserError(`\`${command}\` is not in this build of bot-bottle (${VERSION}) yet`, {
        hint: "available now: start --dry-run, agents, doctor, version",
      });
    }
    if (!(command in COMMAND_OPTIONS)) {
      throw new UsageError(`unknown command "${command}"`, HINT);
    }
    const { values, positionals } = parse(command, rest);
    if (values.help) {
      ctx.stderr(COMMAND_USAGE[command]);
      return 0;
    }
    if (values.version) return runVersion(ctx);
    if (tail.length > 0 && command !== "start") {
      throw new UsageError(`${command} takes no arguments after --`, HINT);
    }
    const manifest = values.manifest as string | undefined;
    const extra = (max: number) => {
      if (positionals.length > max) {
        throw new UsageError(
          `${command}: unexpected argument "${positionals[max]}"`,
          `Run \`bot-bottle ${command} --help\` for usage.`,
        );
      }
    };
    switch (command) {
      case "start": {
        if (positionals.length === 0) {
          throw new UsageError(
            "start: missing <agent>",
            "Run `bot-bottle start --help` for usage.",
          );
        }
        extra(1);
        return await runStart(ctx, {
          agent: positionals[0],
          backend: values.backend as string | undefined,
          label: values.label as string | undefined,
          cwd: values.cwd === true,
          yes: values.yes === true,
          dryRun: values["dry-run"] === true,
          json: values.json === true,
          manifest,
          agentArgs: tail,
        });
      }
      case "agents":
        extra(0);
        return await runAgents(ctx, { json: values.json === true, manifest });
      case "doctor":
        extra(0);
        return await runDoctor(ctx, { json: values.json === true });
      default:
        extra(0);
        return runVersion(ctx);
    }
  } catch (error) {
    return reportError(ctx, error);
  }
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
