import assert from "node:assert/strict";
import { findWorkspaceSource, type SourceFs } from "../../lib/workspace/workspace_source.ts";

/** A file system of `files` (path -> content) and `dirs`. */
function fakeFs(dirs: string[], files: Record<string, string> = {}): SourceFs {
  return {
    lstat: (p) =>
      Promise.resolve(
        dirs.includes(p)
          ? { isFile: false, isDirectory: true }
          : p in files
          ? { isFile: true, isDirectory: false }
          : null,
      ),
    readTextFile: (p) => (p in files ? Promise.resolve(files[p]) : Promise.reject(new Error("no"))),
  };
}

Deno.test("the work tree holding cwd, else cwd itself", async () => {
  const fs = fakeFs(["/src/app", "/src/app/.git", "/src/app/lib/deep"]);
  assert.deepEqual(await findWorkspaceSource("/src/app/lib/deep", "/home/u", fs), {
    cwd: "/src/app/lib/deep",
    root: "/src/app",
    kind: "git",
  });
  assert.deepEqual(await findWorkspaceSource("/data/plain/", "/home/u", fakeFs(["/data/plain"])), {
    cwd: "/data/plain",
    root: "/data/plain",
    kind: "dir",
  });
});

Deno.test("bare repositories, linked worktrees, submodules, home and / are refused by name", async () => {
  const cases: [string, SourceFs, RegExp][] = [
    [
      "/r/x.git",
      fakeFs(["/r/x.git", "/r/x.git/objects", "/r/x.git/refs"], { "/r/x.git/HEAD": "" }),
      /is a bare repository/,
    ],
    [
      "/r/app/.git",
      fakeFs(["/r/app", "/r/app/.git"]),
      /is a bare repository \(or a \.git directory\)/,
    ],
    [
      "/w/feature",
      fakeFs(["/w/feature"], { "/w/feature/.git": "gitdir: /r/app/.git/worktrees/feature\n" }),
      /is a linked worktree.*start from the main checkout/s,
    ],
    [
      "/r/app/vendor/lib",
      fakeFs(["/r/app/vendor/lib"], {
        "/r/app/vendor/lib/.git": "gitdir: ../../.git/modules/lib\n",
      }),
      /is a submodule.*start from the superproject/s,
    ],
    ["/home/u", fakeFs(["/home/u"]), /your home directory \/home\/u .*keys and tokens/],
    ["/", fakeFs(["/"]), /the root directory/],
  ];
  for (const [cwd, fs, why] of cases) {
    await assert.rejects(() => findWorkspaceSource(cwd, "/home/u", fs), (e: Error) => {
      assert.match(`${e.message} ${(e as { hint?: string }).hint ?? ""}`, why, cwd);
      return true;
    });
  }
  // A repository *in* home is fine.
  const fs = fakeFs(["/home/u", "/home/u/proj", "/home/u/proj/.git"]);
  assert.equal((await findWorkspaceSource("/home/u/proj", "/home/u", fs)).root, "/home/u/proj");
});
