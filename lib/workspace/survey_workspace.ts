/**
 * What `start --cwd` would copy, measured before anything is created: the
 * helper lists the tree as the snapshot will (tracked and untracked files
 * that git does not ignore, and .git; or a whole plain directory) and
 * reports count, size and what deserves a word (symlinks out of the tree,
 * unreadable paths, submodules, a merge in progress, non-UTF-8 names).
 */
import { UserError } from "../errors.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import type { WorkspaceSource } from "./workspace_source.ts";
import { workspaceHelperArgv } from "./workspace_helper_argv.ts";

/** Examples and a count. */
export interface Sample {
  count: number;
  examples: string[];
}

/** The helper's survey. */
export interface WorkspaceSurvey {
  kind: "git" | "dir";
  base: string | null;
  branch: string | null;
  dirty: boolean;
  in_progress: string | null;
  submodules: string[];
  files: number;
  bytes: number;
  non_utf8_names: number;
  symlinks_outside: Sample;
  unreadable: Sample;
}

/** Where the helper runs and as whom. */
export interface HelperContext {
  runner: Runner;
  image: string;
  uid: number;
  gid: number;
  labels: Record<string, string>;
}

/** Survey `source` (read-only). */
export async function surveyWorkspace(
  helper: HelperContext,
  source: WorkspaceSource,
): Promise<WorkspaceSurvey> {
  const r = await helper.runner.run(workspaceHelperArgv({
    ...helper,
    mounts: [{ source: source.root, target: "/src", readonly: true }],
    args: ["survey", source.kind],
  }));
  if (r.code !== 0) {
    throw new UserError(
      `cannot look at ${source.root} to copy it into the bottle: ${
        lastLine(r).replace(/^bb-workspace: /, "")
      }`,
      { hint: "make the directory readable to you, or start from another directory" },
    );
  }
  try {
    return JSON.parse(r.stdout) as WorkspaceSurvey;
  } catch {
    throw new UserError(
      `the workspace helper answered something else than a survey: ${lastLine(r)}`,
    );
  }
}
