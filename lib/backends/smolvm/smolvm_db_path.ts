/**
 * Where smolvm keeps its state DB (reference/smolvm.md §4.1, SPEC §6.5).
 *
 * smolvm uses `dirs::data_local_dir()/smolvm/server/smolvm.db`. On Linux,
 * smolvm >= 1.2.5 first applies `SMOLVM_DATA_DIR` (it sets `HOME` to it and
 * unsets `XDG_DATA_HOME`), so the DB moves under that directory.
 */

import { UserError } from "../../errors.ts";

/** Inputs of {@link smolvmDbPath}. */
export interface SmolvmDbPathInput {
  /** `Deno.build.os`: `"linux"`, `"darwin"`, ... */
  os: string;
  /** Environment lookup (the environment smolvm itself runs with). */
  env: (name: string) => string | undefined;
  /** The user's home directory. */
  home: string;
}

const DB_SUFFIX = "smolvm/server/smolvm.db";

function join(dir: string, rest: string): string {
  return `${dir.replace(/\/+$/, "")}/${rest}`;
}

/**
 * The path of smolvm's SQLite state DB.
 *
 * - Linux, `SMOLVM_DATA_DIR` set: `$SMOLVM_DATA_DIR/.local/share/smolvm/server/smolvm.db`.
 * - Linux: `$XDG_DATA_HOME/smolvm/server/smolvm.db` if `XDG_DATA_HOME` is absolute,
 *   else `<home>/.local/share/smolvm/server/smolvm.db`.
 * - macOS: `<home>/Library/Application Support/smolvm/server/smolvm.db`
 *   (`XDG_*` and `SMOLVM_DATA_DIR` have no effect there).
 *
 * Throws a `UserError` on any other OS (smolvm ships for Linux and macOS).
 */
export function smolvmDbPath(input: SmolvmDbPathInput): string {
  if (input.os === "darwin") {
    return join(input.home, `Library/Application Support/${DB_SUFFIX}`);
  }
  if (input.os !== "linux") {
    throw new UserError(
      `the smolmachines backend needs Linux or macOS, but this host is '${input.os}'`,
      { hint: "use the docker backend on this host" },
    );
  }
  const dataDir = input.env("SMOLVM_DATA_DIR");
  if (dataDir !== undefined && dataDir !== "") {
    return join(dataDir, `.local/share/${DB_SUFFIX}`);
  }
  const xdg = input.env("XDG_DATA_HOME");
  if (xdg !== undefined && xdg.startsWith("/")) return join(xdg, DB_SUFFIX);
  return join(input.home, `.local/share/${DB_SUFFIX}`);
}
