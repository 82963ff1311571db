/**
 * bot-bottle's entry point: parse the command line and dispatch. Nothing else.
 */
import { parseArgs } from "node:util";
import { runAgents } from "./lib/cli/agents.ts";
import { runBundle } from "./lib/cli/bundle.ts";
import { runCleanup } from "./lib/cli/cleanup.ts";
import { runList } from "./lib/cli/list.ts";
import { runResume } from "./lib/cli/resume.ts";
import { runRm } from "./lib/cli/rm.ts";
import { runStop } from "./lib/cli/stop.ts";
import { type CliContext, realContext } from "./lib/cli/_shared/context.ts";
import { runDoctor } from "./lib/cli/doctor.ts";
import { reportError } from "./lib/cli/_shared/report_error.ts";
import { runStart } from "./lib/cli/start.ts";
import { COMMAND_USAGE, MAIN_USAGE } from "./lib/cli/_shared/usage.ts";
import { runVersion } from "./lib/cli/version.ts";
import { UsageError } from "./lib/errors.ts";

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
  resume: {
    yes: { type: "boolean", short: "y" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
  },
  list: { json: { type: "boolean" } },
  stop: {},
  rm: {},
  cleanup: { yes: { type: "boolean", short: "y" }, "dry-run": { type: "boolean" } },
  agents: { json: { type: "boolean" } },
  doctor: { json: { type: "boolean" } },
  bundle: {},
  version: {},
};

const ALIASES: Record<string, string> = { ls: "list" };

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
    const name = ALIASES[command] ?? command;
    if (!Object.hasOwn(COMMAND_OPTIONS, name)) {
      throw new UsageError(`unknown command "${command}"`, HINT);
    }
    const { values, positionals } = parse(name, rest);
    if (values.help) {
      ctx.stderr(COMMAND_USAGE[name]);
      return 0;
    }
    if (values.version) return runVersion(ctx);
    if (tail.length > 0 && command !== "start") {
      throw new UsageError(`${command} takes no arguments after --`, HINT);
    }
    const manifest = values.manifest as string | undefined;
    const slug = () => {
      if (positionals.length === 0) {
        throw new UsageError(
          `${name}: missing <slug>`,
          `Run \`bot-bottle ${name} --help\` for usage.`,
        );
      }
      extra(1);
      return positionals[0];
    };
    const extra = (max: number) => {
      if (positionals.length > max) {
        throw new UsageError(
          `${command}: unexpected argument "${positionals[max]}"`,
          `Run \`bot-bottle ${command} --help\` for usage.`,
        );
      }
    };
    switch (name) {
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
      case "resume":
        return await runResume(ctx, {
          slug: slug(),
          yes: values.yes === true,
          dryRun: values["dry-run"] === true,
          json: values.json === true,
          manifest,
          agentArgs: [],
        });
      case "list":
        extra(0);
        return await runList(ctx, { json: values.json === true });
      case "stop":
        return await runStop(ctx, slug());
      case "rm":
        return await runRm(ctx, slug());
      case "cleanup":
        extra(0);
        return await runCleanup(ctx, {
          dryRun: values["dry-run"] === true,
          yes: values.yes === true,
        });
      case "bundle":
        extra(1);
        return await runBundle(ctx, positionals[0]);
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
