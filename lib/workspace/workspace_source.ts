/**
 * Which host directory `start --cwd` copies (SPEC §11): the git work tree
 * holding the current directory, or, outside git, the directory itself.
 * Found from the host's file system only (stat and read of `.git`), so a
 * refusal comes before anything runs. What cannot be copied faithfully is
 * refused with what to do instead: a bare repository (no work tree), a
 * linked worktree or a submodule (their git dir lies outside the tree), and
 * the home or root directory (they hold the user's credentials).
 */
import { UserError } from "../errors.ts";

/** What to copy. */
export interface WorkspaceSource {
  /** The directory the user started in. */
  cwd: string;
  /** The top of what is copied (the work tree's root, or cwd). */
  root: string;
  kind: "git" | "dir";
}

/** File-system access (real in the CLI, a fake in tests). */
export interface SourceFs {
  /** `lstat`: null when nothing is there. */
  lstat(path: string): Promise<{ isFile: boolean; isDirectory: boolean } | null>;
  readTextFile(path: string): Promise<string>;
}

/** The real file system. */
export const realSourceFs: SourceFs = {
  lstat: (path) =>
    Deno.lstat(path).then((s) => ({ isFile: s.isFile, isDirectory: s.isDirectory }), () => null),
  readTextFile: (path) => Deno.readTextFile(path),
};

function parentOf(dir: string): string | null {
  if (dir === "/") return null;
  const i = dir.lastIndexOf("/");
  return i <= 0 ? "/" : dir.slice(0, i);
}

async function looksBare(fs: SourceFs, dir: string): Promise<boolean> {
  const [head, objects, refs] = await Promise.all([
    fs.lstat(`${dir}/HEAD`),
    fs.lstat(`${dir}/objects`),
    fs.lstat(`${dir}/refs`),
  ]);
  return !!head?.isFile && !!objects?.isDirectory && !!refs?.isDirectory;
}

/** Find what `--cwd` copies from `cwd` (absolute, normalised). */
export async function findWorkspaceSource(
  cwd: string,
  home: string | undefined,
  fs: SourceFs = realSourceFs,
): Promise<WorkspaceSource> {
  const here = cwd.replace(/\/+$/, "") || "/";
  for (let dir: string | null = here; dir !== null; dir = parentOf(dir)) {
    if (dir.endsWith("/.git") || await looksBare(fs, dir)) {
      throw new UserError(
        `${dir} is a bare repository (or a .git directory): there is no work tree to copy`,
        { hint: "start from a checkout of it (git clone or git worktree), with --cwd there" },
      );
    }
    const dotGit = await fs.lstat(`${dir}/.git`);
    if (dotGit?.isDirectory) return refuseHome({ cwd: here, root: dir, kind: "git" }, home);
    if (dotGit?.isFile) {
      const text = await fs.readTextFile(`${dir}/.git`).catch(() => "");
      const gitdir = /^gitdir: (.*)$/m.exec(text)?.[1]?.trim() ?? "?";
      const what = gitdir.includes("/modules/") ? "a submodule" : "a linked worktree";
      throw new UserError(
        `${dir} is ${what}: its git dir (${gitdir}) lies outside the tree, so it cannot be ` +
          "copied as one repository",
        {
          hint: what === "a submodule"
            ? "start from the superproject (its submodules are copied with it)"
            : "start from the main checkout, or clone the branch into a directory of its own",
        },
      );
    }
  }
  return refuseHome({ cwd: here, root: here, kind: "dir" }, home);
}

function refuseHome(source: WorkspaceSource, home: string | undefined): WorkspaceSource {
  const h = home?.replace(/\/+$/, "");
  if (source.root === "/" || (h && source.root === h)) {
    throw new UserError(
      `--cwd would copy ${
        source.root === "/" ? "the root directory" : `your home directory ${h}`
      }` +
        " into the bottle, with your keys and tokens in it; refusing",
      { hint: "cd into the project (a git checkout or a directory of its own) and start there" },
    );
  }
  return source;
}
