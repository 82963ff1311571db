/**
 * Where the user and project manifests are (SPEC §3).
 */
import { isAbsolute, join, resolve } from "node:path";
import { ManifestError } from "./manifest_error.ts";

/** The file name of both manifests. */
export const MANIFEST_FILE_NAME = "bot-bottle.toml";

/** Which setting chose the user manifest path. */
export type UserManifestOrigin =
  | "--manifest"
  | "BOT_BOTTLE_MANIFEST"
  | "XDG_CONFIG_HOME"
  | "HOME"
  | "recorded";

/** The two manifest files a command reads. */
export interface ManifestSources {
  /** User manifest: may define bottles and agents. */
  userPath: string;
  /** True when `--manifest` or `BOT_BOTTLE_MANIFEST` named it: then it must exist. */
  userExplicit: boolean;
  /** Project manifest `<cwd>/bot-bottle.toml`: agents only (null: none is read). */
  projectPath: string | null;
  /** Which setting chose `userPath` (used in messages). */
  userOrigin?: UserManifestOrigin;
}

/**
 * Find the manifests. User manifest precedence: `--manifest` flag >
 * `BOT_BOTTLE_MANIFEST` > `$XDG_CONFIG_HOME/bot-bottle/bot-bottle.toml` (only
 * when XDG_CONFIG_HOME is absolute) > `$HOME/.config/bot-bottle/bot-bottle.toml`.
 * Relative flag/env paths resolve against `cwd`.
 *
 * @throws ManifestError when the flag is empty, or no path can be derived
 *   (no absolute XDG_CONFIG_HOME and no absolute HOME).
 */
export function manifestSources(opts: {
  flag?: string;
  env: (name: string) => string | undefined;
  cwd: string;
}): ManifestSources {
  const projectPath = resolve(opts.cwd, MANIFEST_FILE_NAME);
  if (opts.flag !== undefined) {
    if (opts.flag === "") {
      throw new ManifestError("--manifest was given an empty path; pass the manifest file's path");
    }
    return {
      userPath: resolve(opts.cwd, opts.flag),
      userExplicit: true,
      projectPath,
      userOrigin: "--manifest",
    };
  }
  const fromEnv = opts.env("BOT_BOTTLE_MANIFEST");
  if (fromEnv !== undefined && fromEnv !== "") {
    return {
      userPath: resolve(opts.cwd, fromEnv),
      userExplicit: true,
      projectPath,
      userOrigin: "BOT_BOTTLE_MANIFEST",
    };
  }
  const xdg = opts.env("XDG_CONFIG_HOME");
  if (xdg !== undefined && isAbsolute(xdg)) {
    return {
      userPath: join(xdg, "bot-bottle", MANIFEST_FILE_NAME),
      userExplicit: false,
      projectPath,
      userOrigin: "XDG_CONFIG_HOME",
    };
  }
  const home = opts.env("HOME");
  if (home !== undefined && isAbsolute(home)) {
    return {
      userPath: join(home, ".config", "bot-bottle", MANIFEST_FILE_NAME),
      userExplicit: false,
      projectPath,
      userOrigin: "HOME",
    };
  }
  throw new ManifestError(
    "cannot locate the user manifest: neither XDG_CONFIG_HOME nor HOME is set to an absolute " +
      "path; set HOME, or name the manifest with --manifest PATH or BOT_BOTTLE_MANIFEST=PATH",
  );
}
