import assert from "node:assert/strict";
import { smolvmDbPath } from "../../../lib/backends/smolvm/smolvm_db_path.ts";
import { UserError } from "../../../lib/errors.ts";

Deno.test("smolvmDbPath follows dirs::data_local_dir and SMOLVM_DATA_DIR", () => {
  const table: [string, string, Record<string, string>, string][] = [
    ["linux default", "linux", {}, "/home/u/.local/share/smolvm/server/smolvm.db"],
    [
      "linux XDG absolute",
      "linux",
      { XDG_DATA_HOME: "/x/data" },
      "/x/data/smolvm/server/smolvm.db",
    ],
    [
      "linux XDG trailing slash",
      "linux",
      { XDG_DATA_HOME: "/x/data/" },
      "/x/data/smolvm/server/smolvm.db",
    ],
    [
      "linux XDG relative ignored",
      "linux",
      { XDG_DATA_HOME: "rel/data" },
      "/home/u/.local/share/smolvm/server/smolvm.db",
    ],
    [
      "linux XDG empty ignored",
      "linux",
      { XDG_DATA_HOME: "" },
      "/home/u/.local/share/smolvm/server/smolvm.db",
    ],
    [
      "linux SMOLVM_DATA_DIR",
      "linux",
      { SMOLVM_DATA_DIR: "/var/lib/smolvm" },
      "/var/lib/smolvm/.local/share/smolvm/server/smolvm.db",
    ],
    [
      "linux SMOLVM_DATA_DIR beats XDG",
      "linux",
      { SMOLVM_DATA_DIR: "/d", XDG_DATA_HOME: "/x" },
      "/d/.local/share/smolvm/server/smolvm.db",
    ],
    [
      "linux SMOLVM_DATA_DIR empty = unset",
      "linux",
      { SMOLVM_DATA_DIR: "" },
      "/home/u/.local/share/smolvm/server/smolvm.db",
    ],
    ["macOS", "darwin", {}, "/home/u/Library/Application Support/smolvm/server/smolvm.db"],
    ["macOS ignores XDG and SMOLVM_DATA_DIR", "darwin", {
      XDG_DATA_HOME: "/x",
      SMOLVM_DATA_DIR: "/d",
    }, "/home/u/Library/Application Support/smolvm/server/smolvm.db"],
  ];
  for (const [label, os, vars, expected] of table) {
    assert.equal(smolvmDbPath({ os, env: (n) => vars[n], home: "/home/u" }), expected, label);
  }
});

Deno.test("smolvmDbPath refuses other operating systems with a UserError", () => {
  assert.throws(
    () => smolvmDbPath({ os: "windows", env: () => undefined, home: "C:/Users/u" }),
    (e) => e instanceof UserError && /windows/.test(e.message),
  );
});
