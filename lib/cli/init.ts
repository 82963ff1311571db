/**
 * `bot-bottle init [--force]`: write the user manifest with the presets
 * `shell`, `claude` and `codex` (lib/agents/presets.ts). Never overwrites
 * without `--force`; with it, the old file is kept beside the new one as
 * `<file>.bak`.
 */

import { UserError } from "../errors.ts";
import { manifestSources } from "../manifest/manifest_paths.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { say } from "./_shared/output.ts";

/** Run `init`. */
export async function runInit(
  ctx: CliContext,
  opts: { force: boolean; manifest?: string },
): Promise<number> {
  const { userPath } = manifestSources({
    flag: opts.manifest,
    env: (name) => ctx.env.get(name),
    cwd: ctx.cwd,
  });
  const [{ dirname }, { PRESETS, userManifestToml }, { parseManifestText }] = await Promise.all([
    import("node:path"),
    import("../agents/presets.ts"),
    import("../manifest/parse_manifest.ts"),
  ]);
  const text = userManifestToml();
  // What init writes must itself be a valid manifest (a test checks it too).
  parseManifestText(text, userPath, "user");
  await Deno.mkdir(dirname(userPath), { recursive: true, mode: 0o700 });
  let backup: string | null = null;
  if (opts.force) {
    backup = `${userPath}.bak`;
    try {
      await Deno.rename(userPath, backup);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw cannotWrite(userPath, error);
      backup = null;
    }
  }
  try {
    await Deno.writeTextFile(userPath, text, { createNew: true, mode: 0o644 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new UserError(
        `${userPath} already exists; init never overwrites a manifest (it is left as it was)`,
        {
          hint: `look at it with \`bot-bottle agents\`, or replace it with \`bot-bottle init ` +
            `--force\` (the old file is kept as ${userPath}.bak)`,
        },
      );
    }
    throw cannotWrite(userPath, error);
  }
  const names = PRESETS.map((p) => p.name);
  say(ctx, `wrote ${userPath} with the agents ${names.join(", ")}`);
  if (backup) say(ctx, `the previous file is kept as ${backup}`);
  const secrets = PRESETS.flatMap((p) => p.secrets.map((s) => ({ preset: p.name, ...s })));
  ctx.stderr(
    [
      "next:",
      "  bot-bottle agents                  what each agent runs and may reach",
      "  bot-bottle start shell --dry-run   the plan, nothing created",
      "  bot-bottle start shell             build on first use, then a shell in the bottle",
      ...secrets.map((s) =>
        `  export ${s.hostVar}=...`.padEnd(36) + ` for ${s.preset}: ${s.howTo}`
      ),
      "",
    ].join("\n"),
  );
  return 0;
}

function cannotWrite(path: string, error: unknown): UserError {
  const reason = error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : error instanceof Error
    ? error.message.split("\n")[0]
    : String(error);
  return new UserError(`cannot write the manifest ${path}: ${reason}`, {
    hint: "check that directory's permissions, or write it elsewhere: bot-bottle init " +
      "--manifest PATH (and use --manifest PATH or BOT_BOTTLE_MANIFEST=PATH after)",
  });
}

/** The `init` command. */
export const command: Command = {
  name: "init",
  args: "[--force]",
  summary: "write a user manifest with the shell, claude and codex presets",
  description: `Write your user manifest ($XDG_CONFIG_HOME/bot-bottle/bot-bottle.toml, default
~/.config/bot-bottle/bot-bottle.toml, or the --manifest / BOT_BOTTLE_MANIFEST path)
with three presets, each a bottle and an agent: shell (a Debian shell), claude
(Claude Code) and codex (OpenAI Codex CLI). Their Dockerfiles ship in bot-bottle
(dockerfile = "builtin:<name>"), so the file works wherever it lives. An existing
file is never overwritten without --force.`,
  options: {
    force: {
      type: "boolean",
      help: "replace an existing manifest (the old one is kept as <file>.bak)",
    },
  },
  positionals: { min: 0, max: 0 },
  run: (ctx, { values, manifest }) => runInit(ctx, { force: values.force === true, manifest }),
};
