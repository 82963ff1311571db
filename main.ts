/**
 * bot-bottle's entry point: parse the command line and dispatch from the
 * command table (lib/cli/commands.ts). Nothing else.
 */
import { parseArgs } from "node:util";
import { type Command, GLOBAL_OPTIONS, renderCommandHelp } from "./lib/cli/_shared/command.ts";
import { type CliContext, realContext } from "./lib/cli/_shared/context.ts";
import { reportError } from "./lib/cli/_shared/report_error.ts";
import { commandNames, COMMANDS, findCommand, renderMainHelp } from "./lib/cli/commands.ts";
import { command as version } from "./lib/cli/version.ts";
import { UsageError } from "./lib/errors.ts";
import { didYouMean, didYouMeanSuffix } from "./lib/manifest/did_you_mean.ts";

const HINT = "Run `bot-bottle --help` for usage.";

/** Split off `-- <agent args>` and find the command among the global options. */
function splitCommand(
  argv: readonly string[],
): { name?: string; rest: string[]; tail: string[] } {
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
    return { name: token, rest: [...head.slice(0, i), ...head.slice(i + 1)], tail };
  }
  return { rest: head, tail };
}

function parse(command: Command, args: string[], topLevel = false) {
  try {
    return parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw optionError(command, error, topLevel);
  }
}

/**
 * A bad option as a usage error in our own words: an unknown one with the
 * nearest option of that command ("did you mean"), a value missing or given
 * where none is taken. Exit 2.
 */
export function optionError(command: Command, error: unknown, topLevel = false): UsageError {
  const who = topLevel ? "bot-bottle" : command.name;
  const usage = topLevel ? HINT : `Run \`bot-bottle ${command.name} --help\` for usage.`;
  const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
  const options = { ...GLOBAL_OPTIONS, ...(topLevel ? {} : command.options) };
  const unknown = /^Unknown option '(-{1,2})([^']*)'/.exec(message);
  if (unknown) {
    const [, dashes, name] = unknown;
    const bare = name.split("=")[0];
    const near = dashes === "--"
      ? didYouMean(bare, Object.keys(options))
      : Object.entries(options).find(([, o]) => o.short?.toLowerCase() === bare.toLowerCase())
        ?.[0];
    const elsewhere = near === undefined && !topLevel
      ? COMMANDS.filter((c) => Object.hasOwn(c.options, bare)).map((c) => c.name)
      : [];
    return new UsageError(
      `${who}: unknown option ${dashes}${bare}` +
        (near !== undefined
          ? ` (did you mean --${near}?)`
          : elsewhere.length > 0
          ? ` (--${bare} is an option of ${elsewhere.join(", ")}, not of ${command.name})`
          : ""),
      usage,
    );
  }
  const missing = /^Option '--([^' ]+)[^']*' argument missing/.exec(message);
  if (missing) {
    const spec = options[missing[1]];
    return new UsageError(
      `${who}: --${missing[1]} needs a value (--${missing[1]} ${spec?.value ?? "VALUE"})`,
      usage,
    );
  }
  const noValue = /^Option '--([^' ]+)[^']*' does not take an argument/.exec(message);
  if (noValue) return new UsageError(`${who}: --${noValue[1]} takes no value`, usage);
  return new UsageError(`${who}: ${message.replace(/\. To specify.*$/, "")}`, usage);
}

/** Run bot-bottle with `argv` (without the program name); returns the exit code. */
export async function main(
  argv: readonly string[],
  ctx: CliContext = realContext(),
): Promise<number> {
  try {
    const { name, rest, tail } = splitCommand(argv);
    if (name === undefined) {
      const { values } = parse(version, rest, true);
      if (values.version) return await version.run(ctx, { values, positionals: [], tail });
      // Asked for, help is what the command produces (stdout); as a usage error, a diagnostic.
      if (values.help) {
        ctx.stdout(renderMainHelp());
        return 0;
      }
      ctx.stderr(renderMainHelp());
      throw new UsageError("no command given", HINT);
    }
    if (name === "help") {
      const target = rest[0] === undefined ? undefined : findCommand(rest[0]);
      if (rest[0] !== undefined && !target) {
        throw new UsageError(
          `help: unknown command "${rest[0]}"${didYouMeanSuffix(rest[0], commandNames())}`,
          HINT,
        );
      }
      ctx.stdout(target ? renderCommandHelp(target) : renderMainHelp());
      return 0;
    }
    const command = findCommand(name);
    if (!command) {
      throw new UsageError(
        `unknown command "${name}"${didYouMeanSuffix(name, commandNames())}`,
        HINT,
      );
    }
    const { values, positionals } = parse(command, rest);
    if (values.help) {
      ctx.stdout(renderCommandHelp(command));
      return 0;
    }
    if (values.version) return await version.run(ctx, { values, positionals: [], tail });
    const usage = `Run \`bot-bottle ${command.name} --help\` for usage.`;
    if (tail.length > 0 && !command.tail) {
      throw new UsageError(`${name} takes no arguments after --`, HINT);
    }
    if (positionals.length < command.positionals.min) {
      throw new UsageError(`${command.name}: missing ${command.positionals.missing}`, usage);
    }
    if (positionals.length > command.positionals.max) {
      throw new UsageError(
        `${name}: unexpected argument "${positionals[command.positionals.max]}"`,
        usage,
      );
    }
    return await command.run(ctx, {
      values,
      positionals,
      tail,
      manifest: values.manifest as string | undefined,
    });
  } catch (error) {
    return reportError(ctx, error);
  }
}

if (import.meta.main) {
  // Exit explicitly: a prompt interrupted by Ctrl-C leaves a stdin read that cannot be cancelled.
  Deno.exit(await main(Deno.args));
}
