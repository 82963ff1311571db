/**
 * `deno task install-launcher [--prefix DIR] [--force] [--uninstall]`: put a
 * `bot-bottle` launcher on PATH (default `~/.local/bin/bot-bottle`) that runs
 * this checkout's main.ts with exactly the compiled binary's permissions, from
 * any directory, so every command in the README works as written.
 *
 * The launcher is a two-line sh script: `exec <deno> run <flags> main.ts "$@"`,
 * where <flags> are those of deno.json's `bot-bottle` task (the one place they
 * live: `-q --no-prompt -P=bot-bottle`) plus `--config=<checkout>/deno.json`,
 * so the permission set is this checkout's whatever the working directory.
 * The working directory stays the caller's: a project's ./bot-bottle.toml is
 * read from where you run it.
 *
 * An existing file that is not a launcher (a release binary, say) is left
 * alone unless --force. --uninstall removes only a launcher this script wrote.
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");
/** The line that marks a file as a launcher this script wrote. */
export const MARKER = "# bot-bottle-launcher";

/** `deno run` flags of deno.json's `bot-bottle` task (between `deno run` and `main.ts`). */
export async function taskFlags(root = ROOT): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
  const command: string = config.tasks?.["bot-bottle"]?.command ?? "";
  const words = command.trim().split(/\s+/);
  if (
    words[0] !== "deno" || words[1] !== "run" || words[words.length - 1] !== "main.ts" ||
    !words.includes("-P=bot-bottle")
  ) {
    throw new Error(`deno.json's bot-bottle task is not \`deno run <flags> main.ts\`: ${command}`);
  }
  return words.slice(2, -1);
}

/** `value` quoted for a POSIX shell. */
export function shQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The launcher's text for the checkout at `root`, run by the deno at `deno`. */
export function launcherScript(root: string, deno: string, flags: readonly string[]): string {
  const argv = [deno, "run", ...flags, `--config=${root}/deno.json`, `${root}/main.ts`];
  return [
    "#!/bin/sh",
    `${MARKER} for the checkout ${root}`,
    "# Runs main.ts with exactly the compiled binary's permissions (deno.json's `bot-bottle`",
    "# permission set). Written by scripts/install_launcher.ts (`deno task install-launcher`);",
    "# run that again after moving the checkout or deno, or with --uninstall to remove this.",
    `[ -x ${shQuote(deno)} ] && [ -f ${shQuote(`${root}/main.ts`)} ] || {`,
    '  echo "bot-bottle launcher: the deno or the checkout it was written for is gone; run" \\',
    '    "\\`deno task install-launcher\\` in the checkout again" >&2',
    "  exit 127",
    "}",
    `exec ${argv.map(shQuote).join(" ")} "$@"`,
    "",
  ].join("\n");
}

interface Options {
  prefix: string;
  force: boolean;
  uninstall: boolean;
}

function parseOptions(args: string[]): Options {
  const home = Deno.env.get("HOME");
  const opts: Options = {
    prefix: home ? `${home}/.local/bin` : "",
    force: false,
    uninstall: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--prefix" && args[i + 1] !== undefined) opts.prefix = args[++i];
    else if (a.startsWith("--prefix=")) opts.prefix = a.slice("--prefix=".length);
    else if (a === "--force") opts.force = true;
    else if (a === "--uninstall") opts.uninstall = true;
    else if (a === "--help" || a === "-h") {
      console.log(
        "Usage: deno task install-launcher [--prefix DIR] [--force] [--uninstall]\n\n" +
          "Put a bot-bottle launcher in DIR (default ~/.local/bin) that runs this checkout's\n" +
          "main.ts with exactly the compiled binary's permissions, from any directory.\n" +
          "--force replaces a file there that is not a launcher; --uninstall removes the\n" +
          "launcher (only one this script wrote).",
      );
      Deno.exit(0);
    } else {
      console.error(`install-launcher: unknown argument ${a} (see --help)`);
      Deno.exit(2);
    }
  }
  if (!opts.prefix.startsWith("/")) {
    console.error("install-launcher: no absolute --prefix and no HOME; pass --prefix DIR");
    Deno.exit(2);
  }
  return opts;
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    // A binary (a release install) is not text: it is not ours either.
    if (error instanceof TypeError) return "";
    throw error;
  }
}

/** Install (or uninstall) the launcher; returns the exit code. */
export async function installLauncher(opts: Options, root = ROOT): Promise<number> {
  const target = `${opts.prefix.replace(/\/+$/, "")}/bot-bottle`;
  const existing = await readOrNull(target);
  const ours = existing !== null && existing.includes(MARKER);
  if (opts.uninstall) {
    if (existing === null) {
      console.error(`install-launcher: no launcher at ${target}; nothing removed`);
      return 0;
    }
    if (!ours) {
      console.error(`install-launcher: ${target} is not a launcher this script wrote; left alone`);
      return 1;
    }
    await Deno.remove(target);
    console.error(`install-launcher: removed ${target}`);
    return 0;
  }
  if (existing !== null && !ours && !opts.force) {
    console.error(
      `install-launcher: ${target} exists and is not a bot-bottle launcher (a release binary?); ` +
        "left alone. Pass --force to replace it, or --prefix DIR to install elsewhere.",
    );
    return 1;
  }
  const script = launcherScript(root, Deno.execPath(), await taskFlags(root));
  await Deno.mkdir(opts.prefix, { recursive: true });
  const tmp = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, script, { mode: 0o755 });
  await Deno.chmod(tmp, 0o755);
  await Deno.rename(tmp, target);
  console.error(`install-launcher: wrote ${target} (runs ${root}/main.ts)`);
  const path = (Deno.env.get("PATH") ?? "").split(":");
  if (!path.includes(opts.prefix) && !path.includes(opts.prefix.replace(/\/+$/, ""))) {
    console.error(
      `install-launcher: ${opts.prefix} is not on PATH; add it, e.g.\n` +
        `  export PATH="${opts.prefix}:$PATH"`,
    );
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await installLauncher(parseOptions(Deno.args)));
}
