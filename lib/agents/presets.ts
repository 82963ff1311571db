/**
 * The presets `bot-bottle init` writes into a new user manifest (SPEC §14):
 * `shell`, `claude` (Claude Code) and `codex` (OpenAI Codex CLI), each a
 * bottle and an agent of that name, built from a Dockerfile that ships in
 * bot-bottle (`builtin:<name>`), so the file works wherever it lives.
 */
import { VERSION } from "../version.ts";
import { BUILTIN_PREFIX } from "./builtin_dockerfiles.ts";

/** A credential a preset reads from the host at launch (never written down). */
export interface PresetSecret {
  /** The variable the agent's CLI reads. */
  guest: string;
  /** The host variable holding it. */
  hostVar: string;
  /** The hosts the bundle injects it into (SPEC §12). */
  inject: string[];
  /** How to get one, for the comment above it. */
  howTo: string;
  /** Another way to authenticate, for a comment line. */
  alternative?: string;
}

/** One preset: a bottle and the agent that runs in it, both called `name`. */
export interface Preset {
  name: string;
  /** One line for the comment above it. */
  summary: string;
  /** Built-in Dockerfile name. */
  dockerfile: string;
  cpus: number;
  memory: number;
  env: Record<string, string>;
  egress: string[];
  secrets: PresetSecret[];
  command: string[];
  /** Extra comment lines (what to try, what to add). */
  notes: string[];
}

/**
 * How the codex preset logs in before it starts: Codex (0.171) takes an API key from
 * ~/.codex/auth.json, written by `codex login --with-api-key` from stdin, and from the environment
 * only in `codex exec` (CODEX_API_KEY), never from OPENAI_API_KEY. What it stores is the
 * placeholder the agent holds; the bundle swaps in the key.
 */
export const CODEX_LOGIN = "printenv OPENAI_API_KEY | codex login --with-api-key >/dev/null";

/** The presets, in the order the file lists them. */
export const PRESETS: readonly Preset[] = [
  {
    name: "shell",
    summary: "a Debian shell (curl, git) whose only way out is deb.debian.org",
    dockerfile: "shell",
    cpus: 1,
    memory: 1024,
    env: { TERM: "xterm-256color" },
    egress: ["deb.debian.org"],
    secrets: [],
    command: ["bash", "-l"],
    notes: [
      "Try `curl -sI https://deb.debian.org` (allowed) and `curl -sI https://example.com`",
      "(refused: the bundle answers CONNECT with a 403 naming the host and the reason).",
    ],
  },
  {
    name: "claude",
    summary: "Claude Code (Anthropic), with permission prompts off inside the bottle",
    dockerfile: "claude",
    cpus: 2,
    memory: 4096,
    env: { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1" },
    egress: ["api.anthropic.com"],
    secrets: [{
      guest: "CLAUDE_CODE_OAUTH_TOKEN",
      hostVar: "BOT_BOTTLE_CLAUDE_TOKEN",
      inject: ["api.anthropic.com"],
      howTo: "`claude setup-token` on your machine prints a long-lived token",
      alternative: "With an API key instead, name this table ANTHROPIC_API_KEY and read it " +
        "from BOT_BOTTLE_ANTHROPIC_KEY.",
    }],
    command: ["claude", "--dangerously-skip-permissions"],
    notes: [
      "Non-essential traffic (telemetry, error reports, update checks) is turned off, so only",
      "the API is allowed; add the hosts your work needs (registry.npmjs.org, github.com, ...).",
    ],
  },
  {
    name: "codex",
    summary: "OpenAI Codex CLI, with approvals and its own sandbox off inside the bottle",
    dockerfile: "codex",
    cpus: 2,
    memory: 4096,
    env: {},
    egress: ["api.openai.com"],
    secrets: [{
      guest: "OPENAI_API_KEY",
      hostVar: "BOT_BOTTLE_OPENAI_KEY",
      inject: ["api.openai.com"],
      howTo: "an API key from platform.openai.com (a ChatGPT sign-in refreshes its token " +
        "inside the guest, which injection cannot serve)",
    }],
    command: [
      "sh",
      "-c",
      `${CODEX_LOGIN} && exec codex --dangerously-bypass-approvals-and-sandbox "$@"`,
      "codex",
    ],
    notes: [
      "The bottle is the sandbox: Codex's own would need privileges the bottle does not give.",
      "Codex reads its API key from ~/.codex/auth.json (CODEX_API_KEY in `codex exec` only), so",
      "the agent first logs in with the placeholder it holds; only the bundle has the key.",
      "Add the hosts your work needs (registry.npmjs.org, github.com, ...).",
    ],
  },
];

/** A TOML basic string (JSON's escapes are a subset of TOML's). */
function str(value: string): string {
  return JSON.stringify(value);
}

function inlineTable(entries: Record<string, string>): string {
  return `{ ${Object.entries(entries).map(([k, v]) => `${k} = ${str(v)}`).join(", ")} }`;
}

// ---------------------------------------------------------------------------
// PRESET SECRETS: the one place the presets' credentials are written.
//
// They are injected (SPEC §12): the value is read from the host at launch and
// handed to the bottle's bundle only; the agent's variable holds a random
// placeholder, which the bundle swaps for the value in requests to the
// preset's API hosts (PresetSecret.inject) and nowhere else:
//
//   [bottles.<name>.secrets.<NAME>]
//   from = "<HOSTVAR>"
//   inject = ["<host>", ...]
//
// A table, so these lines come last in the bottle (after egress.allow).
// ---------------------------------------------------------------------------
/** The TOML lines (at the end of `[bottles.<name>]`) that declare `preset`'s secrets. */
export function presetSecretLines(preset: Preset): string[] {
  return preset.secrets.flatMap((s) => [
    "",
    ...commentLines(
      `${s.guest} is read from $${s.hostVar} at launch and never written down; the agent ` +
        "holds only a placeholder, which the bundle replaces by the value in requests to " +
        `${s.inject.join(", ")}. Get one: ${s.howTo}.` +
        (s.alternative ? ` ${s.alternative}` : ""),
    ),
    `[bottles.${preset.name}.secrets.${s.guest}]`,
    `from = ${str(s.hostVar)}`,
    `inject = [${s.inject.map(str).join(", ")}]`,
  ]);
}

/** `text` as `# ` comment lines of at most 88 characters. */
function commentLines(text: string, width = 88): string[] {
  const out: string[] = [];
  let line = "#";
  for (const word of text.split(" ")) {
    if (line.length + 1 + word.length > width && line !== "#") {
      out.push(line);
      line = "#";
    }
    line += ` ${word}`;
  }
  out.push(line);
  return out;
}

/** The TOML of one preset: its bottle and its agent. */
export function presetToml(preset: Preset): string {
  const lines = [
    `# ${preset.name}: ${preset.summary}.`,
    ...preset.notes.map((n) => `# ${n}`),
    `[bottles.${preset.name}]`,
    `dockerfile = ${str(BUILTIN_PREFIX + preset.dockerfile)}`,
    `cpus = ${preset.cpus}`,
    `memory = ${preset.memory}`,
  ];
  if (Object.keys(preset.env).length > 0) lines.push(`env = ${inlineTable(preset.env)}`);
  lines.push(`egress.allow = [${preset.egress.map(str).join(", ")}]`);
  lines.push(...presetSecretLines(preset));
  lines.push(
    "",
    `[agents.${preset.name}]`,
    `bottle = ${str(preset.name)}`,
    `command = [${preset.command.map(str).join(", ")}]`,
  );
  return `${lines.join("\n")}\n`;
}

/** The whole user manifest `init` writes. */
export function userManifestToml(presets: readonly Preset[] = PRESETS): string {
  const head = [
    `# bot-bottle user manifest, written by \`bot-bottle init\` (bot-bottle ${VERSION}).`,
    "#",
    "# Bottles say what an agent may reach (egress.allow) and hold (secrets); they are",
    "# read only from this file. A repository's ./bot-bottle.toml may add [agents.*]",
    "# that run in these bottles, never bottles of its own. Every key: README, Manifest.",
    "#",
    "# Each preset is a bottle and an agent of the same name; `bot-bottle start <name>`.",
    '# dockerfile = "builtin:<name>" builds an image from a Dockerfile that ships in',
    '# bot-bottle (on first use); set image = "..." or dockerfile = "path" for your own.',
    "",
  ].join("\n");
  return `${head}\n${presets.map(presetToml).join("\n")}`;
}
