/**
 * Where smolvm keeps its state (reference/smolvm.md §4.1, §10; smolvm 1.9.3
 * `SmolvmDb::default_path`, `process::apply_system_data_root`, the `dirs`
 * crate): the SQLite DB under `dirs::data_local_dir()`, and the staged image
 * archives under `dirs::cache_dir()`.
 *
 * - Linux, `SMOLVM_DATA_DIR` set (even to ""): smolvm sets HOME to it and
 *   drops XDG_DATA_HOME / XDG_CACHE_HOME, so both dirs live under it.
 * - A HOME that is unset or empty falls back to the user's passwd entry.
 * - XDG_DATA_HOME / XDG_CACHE_HOME count only when absolute.
 * - macOS: `~/Library/Application Support` and `~/Library/Caches`; XDG and
 *   SMOLVM_DATA_DIR have no effect there.
 */
import { UserError } from "../../errors.ts";

/** Inputs of {@link smolvmPaths}. */
export interface SmolvmPathsInput {
  /** `Deno.build.os`: `"linux"`, `"darwin"`, ... */
  os: string;
  /** The environment smolvm runs with (bot-bottle's own: smolvm inherits it). */
  env: (name: string) => string | undefined;
  /** This user's home in the passwd database, for an unset or empty HOME (null: no entry). */
  passwdHome: string | null;
}

/** smolvm's state locations. */
export interface SmolvmPaths {
  /** The HOME smolvm resolves its dirs from. */
  home: string;
  /** `<data>/smolvm/server/smolvm.db`. */
  dbPath: string;
  /** `dirs::cache_dir()`: `<cache>/smolvm-image-archives/<sha256>/archive.tar` lives here. */
  cacheDir: string;
}

function join(dir: string, rest: string): string {
  return `${dir.replace(/\/+$/, "")}/${rest}`;
}

/** Where smolvm keeps its DB and caches. Throws a UserError when it cannot be told. */
export function smolvmPaths(input: SmolvmPathsInput): SmolvmPaths {
  if (input.os !== "linux" && input.os !== "darwin") {
    throw new UserError(
      `the smolmachines backend needs Linux or macOS, but this host is '${input.os}'`,
      { hint: "use the docker backend on this host: --backend docker" },
    );
  }
  const dataDirSet = input.os === "linux" && input.env("SMOLVM_DATA_DIR") !== undefined;
  const rawHome = dataDirSet ? input.env("SMOLVM_DATA_DIR")! : input.env("HOME");
  const home = rawHome !== undefined && rawHome !== "" ? rawHome : input.passwdHome;
  if (home === null || home === "") {
    throw new UserError(
      "cannot tell where smolvm keeps its state: " +
        (dataDirSet ? "SMOLVM_DATA_DIR is empty" : "HOME is not set") +
        ", and this user has no home directory in the passwd database",
      { hint: "set HOME (or SMOLVM_DATA_DIR) to the directory smolvm uses, and try again" },
    );
  }
  if (input.os === "darwin") {
    return {
      home,
      dbPath: join(home, "Library/Application Support/smolvm/server/smolvm.db"),
      cacheDir: join(home, "Library/Caches"),
    };
  }
  const xdg = (name: string) => {
    const value = dataDirSet ? undefined : input.env(name);
    return value !== undefined && value.startsWith("/") ? value : undefined;
  };
  return {
    home,
    dbPath: join(xdg("XDG_DATA_HOME") ?? join(home, ".local/share"), "smolvm/server/smolvm.db"),
    cacheDir: xdg("XDG_CACHE_HOME") ?? join(home, ".cache"),
  };
}

/** Where smolvm stages a `-I` archive whose SHA-256 is `sha256`. */
export function stagedArchiveDir(paths: SmolvmPaths, sha256: string): string {
  return join(paths.cacheDir, `smolvm-image-archives/${sha256}`);
}
