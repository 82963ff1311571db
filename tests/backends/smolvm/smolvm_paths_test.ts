import assert from "node:assert/strict";
import { smolvmPaths, stagedArchiveDir } from "../../../lib/backends/smolvm/smolvm_paths.ts";
import { UserError } from "../../../lib/errors.ts";

const PASSWD = "/pw/home";

Deno.test("smolvm's DB and cache follow dirs::data_local_dir/cache_dir and SMOLVM_DATA_DIR", () => {
  const table: [string, string, Record<string, string>, string, string][] = [
    ["linux default", "linux", {}, "/home/u/.local/share", "/home/u/.cache"],
    [
      "XDG absolute",
      "linux",
      { XDG_DATA_HOME: "/x/data", XDG_CACHE_HOME: "/x/c" },
      "/x/data",
      "/x/c",
    ],
    ["XDG trailing slash", "linux", { XDG_DATA_HOME: "/x/data/" }, "/x/data", "/home/u/.cache"],
    [
      "XDG relative ignored",
      "linux",
      { XDG_DATA_HOME: "rel", XDG_CACHE_HOME: "rel" },
      "/home/u/.local/share",
      "/home/u/.cache",
    ],
    ["XDG empty ignored", "linux", { XDG_DATA_HOME: "" }, "/home/u/.local/share", "/home/u/.cache"],
    [
      "SMOLVM_DATA_DIR",
      "linux",
      { SMOLVM_DATA_DIR: "/var/lib/smolvm" },
      "/var/lib/smolvm/.local/share",
      "/var/lib/smolvm/.cache",
    ],
    [
      "SMOLVM_DATA_DIR drops XDG",
      "linux",
      { SMOLVM_DATA_DIR: "/d", XDG_DATA_HOME: "/x", XDG_CACHE_HOME: "/y" },
      "/d/.local/share",
      "/d/.cache",
    ],
    // smolvm 1.9.3 sets HOME="" and removes XDG: the passwd home, whatever XDG said.
    [
      "SMOLVM_DATA_DIR empty = passwd home",
      "linux",
      { SMOLVM_DATA_DIR: "", XDG_DATA_HOME: "/x" },
      `${PASSWD}/.local/share`,
      `${PASSWD}/.cache`,
    ],
    [
      "HOME unset = passwd home",
      "linux",
      { HOME: "" },
      `${PASSWD}/.local/share`,
      `${PASSWD}/.cache`,
    ],
    ["macOS", "darwin", {}, "/home/u/Library/Application Support", "/home/u/Library/Caches"],
    [
      "macOS ignores XDG and SMOLVM_DATA_DIR",
      "darwin",
      { XDG_DATA_HOME: "/x", SMOLVM_DATA_DIR: "/d" },
      "/home/u/Library/Application Support",
      "/home/u/Library/Caches",
    ],
  ];
  for (const [label, os, vars, data, cache] of table) {
    const env: Record<string, string | undefined> = { HOME: "/home/u", ...vars };
    if (env.HOME === "") delete env.HOME;
    const paths = smolvmPaths({ os, env: (n) => env[n], passwdHome: PASSWD });
    assert.equal(paths.dbPath, `${data}/smolvm/server/smolvm.db`, label);
    assert.equal(paths.cacheDir, cache, label);
  }
});

Deno.test("the staged archive dir is keyed by the archive's SHA-256", () => {
  const paths = smolvmPaths({ os: "linux", env: (n) => ({ HOME: "/h" })[n], passwdHome: null });
  assert.equal(
    stagedArchiveDir(paths, "ab".repeat(32)),
    `/h/.cache/smolvm-image-archives/${"ab".repeat(32)}`,
  );
});

Deno.test("no home anywhere, or another OS, is a UserError that says why", () => {
  assert.throws(
    () => smolvmPaths({ os: "linux", env: () => undefined, passwdHome: null }),
    (e) => e instanceof UserError && /HOME is not set.*passwd/.test(e.message),
  );
  assert.throws(
    () => smolvmPaths({ os: "linux", env: (n) => ({ SMOLVM_DATA_DIR: "" })[n], passwdHome: null }),
    (e) => e instanceof UserError && /SMOLVM_DATA_DIR is empty/.test(e.message),
  );
  assert.throws(
    () => smolvmPaths({ os: "windows", env: () => undefined, passwdHome: "C:/Users/u" }),
    (e) => e instanceof UserError && /windows/.test(e.message),
  );
});
