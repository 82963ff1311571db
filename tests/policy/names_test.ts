import assert from "node:assert/strict";
import { hostPathProblem, isName } from "../../lib/policy/names.ts";

Deno.test("names: lowercase letter first, then a-z 0-9 -, at most 63", () => {
  for (const yes of ["a", "dev", "dev-2", "a-b-c", "x".repeat(63)]) assert.equal(isName(yes), true);
  for (const no of ["", "A", "2dev", "-dev", "dev_x", "dév", "x".repeat(64), "a b"]) {
    assert.equal(isName(no), false, JSON.stringify(no));
  }
});

Deno.test("host paths a container may bind-mount", () => {
  for (const yes of ["/keys/id", "~/.ssh/id_ed25519", "/a b/c"]) {
    assert.equal(hostPathProblem(yes), null, yes);
  }
  const table: [string, RegExp][] = [
    ["", /empty/],
    ["relative/key", /absolute/],
    ["~user/key", /absolute/],
    ["/a:b", /':'/],
    ["/a,b", /','/],
    ["/a\nb", /control/],
  ];
  for (const [path, why] of table) assert.match(hostPathProblem(path) ?? "", why, path);
});
