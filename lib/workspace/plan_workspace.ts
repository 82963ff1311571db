/**
 * The workspace part of a plan, gathered before anything is created: for a
 * new bottle, the host tree `--cwd` names, surveyed by the helper; for a
 * resumed one, the archive its last capture kept (or, when there is none,
 * the recorded tree again, said in the plan).
 */
import { ensureBundleImage } from "../bundle/bundle_image.ts";
import type { PlannedWorkspace } from "../plan/plan_types.ts";
import type { Runner } from "../host/runner.ts";
import { findWorkspaceSource, type WorkspaceSource } from "./workspace_source.ts";
import { type HelperContext, surveyWorkspace } from "./survey_workspace.ts";
import { DEFAULT_WORKSPACE_LIMIT, formatSize } from "./workspace_size.ts";
import {
  captureArchives,
  GUEST_WORKSPACE,
  readCapture,
  readWorkspaceRecord,
  workspaceFiles,
} from "./workspace_state.ts";

/** Host access for planning a workspace. */
export interface WorkspacePlanDeps {
  runner: Runner;
  home: string | undefined;
  uid: number;
  gid: number;
  /** Where a bundle image build may write its context (created only if it builds). */
  buildDir: () => string;
  baseImage?: string;
  progress: (line: string) => void;
  labels: Record<string, string>;
}

/** The helper context (the bundle image, present or built). */
export async function workspaceHelper(deps: WorkspacePlanDeps): Promise<HelperContext> {
  const dir = deps.buildDir();
  try {
    const image = await ensureBundleImage(deps.runner, {
      baseImage: deps.baseImage,
      workDir: dir,
      onProgress: deps.progress,
    });
    return { runner: deps.runner, image, uid: deps.uid, gid: deps.gid, labels: deps.labels };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Survey `source` into the plan's workspace. */
export async function plannedSnapshot(
  helper: HelperContext,
  source: WorkspaceSource,
  limit: number,
): Promise<PlannedWorkspace> {
  const s = await surveyWorkspace(helper, source);
  const notes: string[] = [];
  if (source.kind === "dir") {
    notes.push(
      `${source.root} is not in a git repository: all of it is copied, and a base ` +
        "commit of it is made for the agent's work to come back as commits",
    );
  } else {
    notes.push("ignored files (.gitignore) stay home; tracked and untracked files and .git go in");
    if (s.dirty) {
      notes.push(
        "the tree has uncommitted changes: they are copied, and `diff`/`export` show " +
          "them with the agent's work (its base is your HEAD)",
      );
    }
    if (s.base === null) notes.push("the repository has no commit yet: the export carries all");
  }
  if (s.symlinks_outside.count > 0) {
    notes.push(
      `${s.symlinks_outside.count} symlink(s) point outside the tree (${
        s.symlinks_outside.examples.join(", ")
      }): copied as links, never followed on the host`,
    );
  }
  for (const sub of s.submodules) {
    notes.push(`submodule ${sub}: its checked-out files go in, with its git dir from .git/modules`);
  }
  if (s.non_utf8_names > 0) {
    notes.push(`${s.non_utf8_names} name(s) are not UTF-8: copied as they are`);
  }
  return {
    mode: "snapshot",
    source: source.root,
    kind: source.kind,
    files: s.files,
    bytes: s.bytes,
    limit_bytes: limit,
    base: s.base,
    branch: s.branch,
    dirty: s.dirty,
    guest_path: GUEST_WORKSPACE,
    notes,
    unreadable: s.unreadable,
    in_progress: s.in_progress,
  };
}

/** A new bottle's workspace: the tree holding `cwd`. */
export async function planNewWorkspace(
  deps: WorkspacePlanDeps,
  cwd: string,
  limit = DEFAULT_WORKSPACE_LIMIT,
): Promise<PlannedWorkspace> {
  const source = await findWorkspaceSource(cwd, deps.home);
  return plannedSnapshot(await workspaceHelper(deps), source, limit);
}

/** A resumed bottle's workspace: the archive its last capture kept, else the tree again. */
export async function planResumedWorkspace(
  deps: WorkspacePlanDeps,
  stateDir: string,
  recordedCwd: string | null,
  limit = DEFAULT_WORKSPACE_LIMIT,
): Promise<PlannedWorkspace | null> {
  const record = await readWorkspaceRecord(stateDir);
  const files = workspaceFiles(stateDir);
  const capture = await readCapture(stateDir);
  // What the last capture lists (an older record: guest.tar), every one of them present.
  const archives = ((capture ? captureArchives(capture) : ["guest.tar"]) ?? []).map((a) =>
    `${files.dir}/${a}`
  );
  const sizes = await Promise.all(archives.map((a) => Deno.stat(a).then((s) => s.size, () => -1)));
  const bytes = archives.length > 0 && sizes.every((n) => n >= 0)
    ? sizes.reduce((n, b) => n + b, 0)
    : null;
  if (record && bytes !== null) {
    return {
      mode: "restore",
      source: archives[0],
      restore_archives: archives,
      kind: record.kind,
      files: null,
      bytes,
      limit_bytes: Math.max(limit, bytes),
      base: record.base,
      branch: record.branch,
      dirty: false,
      guest_path: GUEST_WORKSPACE,
      notes: [
        `the workspace as the agent left it${
          capture ? ` (captured ${capture.captured_at} by ${capture.by})` : ""
        }, ${formatSize(bytes)}${
          archives.length > 1 ? ` in ${archives.length} archives (copied in, then changes)` : ""
        }; the host tree is not read again`,
      ],
      unreadable: { count: 0, examples: [] },
      in_progress: null,
    };
  }
  if (recordedCwd === null) return null;
  const planned = await planNewWorkspace(deps, recordedCwd, limit);
  planned.notes.unshift(
    "no captured workspace to restore (the last run did not capture one): copying the tree again",
  );
  return planned;
}
