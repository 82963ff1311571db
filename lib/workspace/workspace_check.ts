/**
 * The plan's check of a workspace copy: refused (before anything is
 * created) when it is over the size limit, when the helper could not read
 * some of it, or when the repository is in the middle of a merge or rebase.
 * Pure.
 */
import type { PreflightCheck } from "../host/preflight.ts";
import type { BackendName, PlannedWorkspace } from "../plan/plan_types.ts";
import { formatSize } from "./workspace_size.ts";

/** The `workspace` check. */
export function workspaceCheck(w: PlannedWorkspace): PreflightCheck {
  const base = { id: "workspace" as const, backends: ["smolmachines", "docker"] as BackendName[] };
  const what = w.mode === "restore"
    ? `restores the workspace the bottle left (${formatSize(w.bytes)})`
    : `copies ${w.files} entries, ${formatSize(w.bytes)}, from ${w.source}`;
  if (w.bytes > w.limit_bytes) {
    return {
      ...base,
      status: "fail",
      summary: `the workspace is ${formatSize(w.bytes)}, over the ${
        formatSize(w.limit_bytes)
      } limit (${w.source})`,
      fix: `raise it for this launch with --max-workspace ${
        Math.ceil(w.bytes / 1024 ** 3) + 1
      }GiB, or add what need not go in (build output, data) to .gitignore`,
    };
  }
  if (w.unreadable.count > 0) {
    return {
      ...base,
      status: "fail",
      summary:
        `${w.unreadable.count} path(s) in ${w.source} cannot be read, so the copy would be ` +
        `incomplete: ${w.unreadable.examples.join(", ")}`,
      fix: "make them readable to you (chmod), or ignore them in .gitignore",
    };
  }
  if (w.in_progress) {
    return {
      ...base,
      status: "fail",
      summary: `the repository at ${w.source} is in the middle of a ${w.in_progress}; its state ` +
        "cannot be copied as commits",
      fix: `finish the ${w.in_progress} (git ${
        w.in_progress === "bisect" ? "bisect reset" : `${w.in_progress} --continue`
      }) or abort it (git ${
        w.in_progress === "bisect" ? "bisect reset" : `${w.in_progress} --abort`
      }), then start again`,
    };
  }
  return { ...base, status: "ok", summary: what };
}
