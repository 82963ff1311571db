/**
 * The command table: every command, in the order `--help` lists them, and
 * the top-level help generated from it.
 */
import { VERSION } from "../version.ts";
import { command as agents } from "./agents.ts";
import { command as approve } from "./approve.ts";
import { command as deny } from "./deny.ts";
import { command as diff } from "./diff.ts";
import { command as exportCommand } from "./export.ts";
import { command as exec } from "./exec.ts";
import { command as logs } from "./logs.ts";
import { command as verify } from "./verify.ts";
import { command as bundle } from "./bundle.ts";
import { command as cleanup } from "./cleanup.ts";
import { command as completions } from "./completions.ts";
import { type Command, GLOBAL_OPTIONS, renderOptions } from "./_shared/command.ts";
import { command as doctor } from "./doctor.ts";
import { command as init } from "./init.ts";
import { command as list } from "./list.ts";
import { command as resume } from "./resume.ts";
import { command as rm } from "./rm.ts";
import { command as start } from "./start.ts";
import { command as stop } from "./stop.ts";
import { command as version } from "./version.ts";

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [
  start,
  resume,
  list,
  exec,
  logs,
  approve,
  deny,
  verify,
  diff,
  exportCommand,
  stop,
  rm,
  cleanup,
  init,
  agents,
  doctor,
  bundle,
  completions,
  version,
];

/** The command called `name` (or one of its aliases), if any. */
export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || (c.aliases ?? []).includes(name));
}

/** Every name a command answers to. */
export function commandNames(): string[] {
  return COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
}

/** `bot-bottle --help`. */
export function renderMainHelp(): string {
  const rows = COMMANDS.map((c) => {
    const first = c.args.split(" ")[0];
    const arg = first.startsWith("<") || /^[a-z]+$/.test(first) ? ` ${first}` : "";
    return [[c.name, ...(c.aliases ?? [])].join(", ") + arg, c.summary];
  });
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    `bot-bottle ${VERSION} - run AI coding agents in a bottle whose only way out is`,
    "its sidecar egress allowlist.",
    "",
    "Usage: bot-bottle [--manifest PATH] <command> [options]",
    "",
    "Commands:",
    ...rows.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`),
    "",
    "Global options:",
    ...renderOptions(GLOBAL_OPTIONS),
    "",
    "Backend: --backend > BOT_BOTTLE_BACKEND > smolmachines. Exit codes: 0 ok, 1 error,",
    "2 usage, 130 interrupted; start and resume pass the agent's exit code through.",
    "Run `bot-bottle <command> --help` for a command's options.",
    "",
  ].join("\n");
}
