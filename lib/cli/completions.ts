/**
 * `bot-bottle completions bash|zsh|fish`: a shell completion script on
 * stdout, generated from the command table (commands, aliases, options, the
 * values an option takes), so it can never drift from the CLI. Agents and
 * slugs complete from `bot-bottle agents -q` and `bot-bottle list -q`.
 */
import { UsageError } from "../errors.ts";
import type { Command, Completes, OptionSpec } from "./_shared/command.ts";
import { GLOBAL_OPTIONS } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";

/** The shells a script is generated for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

const AGENTS = "bot-bottle agents -q 2>/dev/null";
const SLUGS = "bot-bottle list -q 2>/dev/null";

function optionWords(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).flatMap(([name, o]) => [
    `--${name}`,
    ...(o.short ? [`-${o.short}`] : []),
  ]);
}

/** Every option of every command that takes a value, with what it completes to. */
function valueOptions(commands: readonly Command[]): Map<string, OptionSpec> {
  const out = new Map<string, OptionSpec>();
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) if (o.type === "string") out.set(name, o);
  for (const c of commands) {
    for (const [name, o] of Object.entries(c.options)) if (o.type === "string") out.set(name, o);
  }
  return out;
}

/** The positional completion of `completes`, as a bash word list command. */
function bashWords(completes: Completes | undefined, commandNames: string[]): string {
  if (completes === undefined) return "";
  if (completes === "agents") return `$(${AGENTS})`;
  if (completes === "slugs") return `$(${SLUGS})`;
  if (completes === "commands") return commandNames.join(" ");
  return completes.join(" ");
}

/** The bash script (zsh loads the same through bashcompinit). */
export function bashScript(commands: readonly Command[]): string {
  const names = commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const valued = valueOptions(commands);
  const valueCases = [...valued.entries()].map(([name, o]) => {
    const reply = o.file
      ? 'COMPREPLY=($(compgen -f -- "$cur"))'
      : o.choices
      ? `COMPREPLY=($(compgen -W "${o.choices.join(" ")}" -- "$cur"))`
      : "COMPREPLY=()";
    return `    --${name}) ${reply}; return 0 ;;`;
  });
  const commandCases = commands.map((c) => {
    const pattern = [c.name, ...(c.aliases ?? [])].join("|");
    const opts = optionWords({ ...c.options, ...GLOBAL_OPTIONS }).join(" ");
    return `    ${pattern}) opts="${opts}"; words="${bashWords(c.completes, names)}" ;;`;
  });
  return `# bot-bottle completion for bash. Load it with:
#   source <(bot-bottle completions bash)
# or save it as ~/.local/share/bash-completion/completions/bot-bottle
_bot_bottle() {
  local cur prev cmd="" i opts="" words=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --) return 0 ;;
${[...valued.keys()].map((n) => `      --${n}) ((i++)) ;;`).join("\n")}
      -*) ;;
      *) [ -z "$cmd" ] && cmd="\${COMP_WORDS[i]}" ;;
    esac
  done
  case "$prev" in
${valueCases.join("\n")}
  esac
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W "${names.join(" ")} ${
    optionWords(GLOBAL_OPTIONS).join(" ")
  }" -- "$cur"))
    return 0
  fi
  case "$cmd" in
${commandCases.join("\n")}
    help) words="${names.join(" ")}" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
  return 0
}
complete -F _bot_bottle bot-bottle
`;
}

/** The zsh script: the bash one through bashcompinit. */
export function zshScript(commands: readonly Command[]): string {
  return `#compdef bot-bottle
# bot-bottle completion for zsh. Load it with:
#   source <(bot-bottle completions zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${
    bashScript(commands).split("\n").filter((l) => !l.startsWith("#")).join("\n")
      // bashcompinit hands over COMP_WORDS as a zsh (1-based) array: read it as bash does.
      .replace("_bot_bottle() {\n", "_bot_bottle() {\n  setopt localoptions ksharrays\n")
  }`;
}

function fishQuote(text: string): string {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** The fish script. */
export function fishScript(commands: readonly Command[]): string {
  const names = commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const lines = [
    "# bot-bottle completion for fish. Load it with:",
    "#   bot-bottle completions fish | source",
    "# or save it as ~/.config/fish/completions/bot-bottle.fish",
    "complete -c bot-bottle -f",
  ];
  const option = (condition: string, name: string, o: OptionSpec) => {
    const parts = ["complete -c bot-bottle", `-n ${fishQuote(condition)}`, `-l ${name}`];
    if (o.short) parts.push(`-s ${o.short}`);
    if (o.type === "string") parts.push(o.file ? "-r -F" : "-x");
    if (o.choices) parts.push(`-a ${fishQuote(o.choices.join(" "))}`);
    parts.push(`-d ${fishQuote(o.help)}`);
    return parts.join(" ");
  };
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) lines.push(option("true", name, o));
  for (const c of commands) {
    for (const name of [c.name, ...(c.aliases ?? [])]) {
      lines.push(
        `complete -c bot-bottle -n '__fish_use_subcommand' -a ${name} -d ${fishQuote(c.summary)}`,
      );
    }
    const seen = `__fish_seen_subcommand_from ${[c.name, ...(c.aliases ?? [])].join(" ")}`;
    for (const [name, o] of Object.entries(c.options)) lines.push(option(seen, name, o));
    const words = c.completes === "agents"
      ? `(${AGENTS})`
      : c.completes === "slugs"
      ? `(${SLUGS})`
      : c.completes === "commands"
      ? names.join(" ")
      : c.completes?.join(" ");
    if (words) lines.push(`complete -c bot-bottle -n ${fishQuote(seen)} -a ${fishQuote(words)}`);
  }
  lines.push(
    `complete -c bot-bottle -n '__fish_seen_subcommand_from help' -a ${fishQuote(names.join(" "))}`,
  );
  return `${lines.join("\n")}\n`;
}

/** Run `completions <shell>`. */
export async function runCompletions(ctx: CliContext, shell: string | undefined): Promise<number> {
  if (shell === undefined || !(SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError(
      shell === undefined
        ? `completions: missing shell (${SHELLS.join(", ")})`
        : `completions: unknown shell "${shell}" (expected ${SHELLS.join(", ")})`,
      "Run `bot-bottle completions --help` for usage.",
    );
  }
  // The table imports this command: read it when run, not when loaded.
  const { COMMANDS } = await import("./commands.ts");
  const script = shell === "bash"
    ? bashScript(COMMANDS)
    : shell === "zsh"
    ? zshScript(COMMANDS)
    : fishScript(COMMANDS);
  ctx.stdout(script);
  return 0;
}

/** The `completions` command. */
export const command: Command = {
  name: "completions",
  args: "bash|zsh|fish",
  summary: "print a shell completion script",
  description: `Print a completion script for bash, zsh or fish on stdout: commands, options,
backends, agents (from \`bot-bottle agents -q\`) and slugs (from \`bot-bottle list -q\`).
  bash:  source <(bot-bottle completions bash)     (or save it in
         ~/.local/share/bash-completion/completions/bot-bottle)
  zsh:   source <(bot-bottle completions zsh)
  fish:  bot-bottle completions fish | source      (or save it in
         ~/.config/fish/completions/bot-bottle.fish)`,
  options: {},
  positionals: { min: 1, max: 1, missing: "shell (bash, zsh or fish)" },
  completes: SHELLS,
  run: (ctx, { positionals }) => runCompletions(ctx, positionals[0]),
};
