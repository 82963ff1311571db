/**
 * What a command is: its name, options, help and run, in one object, so the
 * help can never drift from the flags (it is generated from them) and
 * main.ts only looks a command up and dispatches.
 */
import type { CliContext } from "./context.ts";

/** One option of a command. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** The value's name in help (`--label L`); strings only. */
  value?: string;
  /** One line for the help. */
  help: string;
  /** A string option given more than once collects every value. */
  multiple?: boolean;
  /** The values it takes, for shell completion. */
  choices?: readonly string[];
  /** Its value is a file path (shell completion offers files). */
  file?: boolean;
}

/** What a command's positionals are, for shell completion. */
export type Completes = "agents" | "slugs" | "commands" | readonly string[];

/** Parsed options. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A parsed command line. */
export interface Invocation {
  values: OptionValues;
  positionals: string[];
  /** Arguments after `--`. */
  tail: string[];
  /** `--manifest PATH` (a global option). */
  manifest?: string;
}

/** One command. */
export interface Command {
  name: string;
  aliases?: string[];
  /** `<agent> [options] [-- <agent args>]`: what follows the command name in the usage line. */
  args: string;
  /** One line for the command list. */
  summary: string;
  /** What it does, a paragraph or more (wrapped as written). */
  description: string;
  options: Record<string, OptionSpec>;
  /** How many positionals it takes. */
  positionals: { min: number; max: number; missing?: string };
  /** Whether it takes `-- <args>`. */
  tail?: boolean;
  /** What its positionals complete to in a shell (completions). */
  completes?: Completes;
  run(ctx: CliContext, invocation: Invocation): Promise<number> | number;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  manifest: {
    type: "string",
    value: "PATH",
    help: "use PATH as the user manifest (also BOT_BOTTLE_MANIFEST)",
    file: true,
  },
  help: { type: "boolean", short: "h", help: "show this help" },
  version: { type: "boolean", help: "print the version" },
};

function optionLabel(name: string, spec: OptionSpec): string {
  const long = `--${name}${spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : ""}`;
  return spec.short ? `-${spec.short}, ${long}` : `    ${long}`;
}

/** The option table of a help text. */
export function renderOptions(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, spec]) => [optionLabel(name, spec), spec.help]);
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return rows.map(([label, help]) => `  ${label.padEnd(width)}  ${help}`);
}

/** `bot-bottle <command> --help`. */
export function renderCommandHelp(command: Command): string {
  const names = [command.name, ...(command.aliases ?? [])].join(", ");
  const lines = [
    `Usage: bot-bottle ${command.name} ${command.args}`.trimEnd(),
    "",
    command.description.trimEnd(),
    "",
  ];
  if (command.aliases?.length) lines.splice(1, 0, `       (also: ${names})`);
  if (Object.keys(command.options).length > 0) {
    lines.push("Options:", ...renderOptions(command.options), "");
  }
  lines.push("Global options:", ...renderOptions(GLOBAL_OPTIONS));
  return `${lines.join("\n")}\n`;
}
