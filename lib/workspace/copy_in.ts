/**
 * The workspace into the guest (SPEC §11): the helper's snapshot of the
 * host tree — or, on resume, the archive of the guest workspace as it was
 * left — streamed through this process into `tar -x` in the guest, as the
 * agent's user, at /workspace. Nothing of the tree is written on the host.
 * On a terminal a progress line shows bytes against the planned size.
 */
import type { Backend } from "../backends/backend.ts";
import { UserError } from "../errors.ts";
import type { Runner } from "../host/runner.ts";
import { pipeStreams } from "./stream_pipe.ts";
import type { HelperContext } from "./survey_workspace.ts";
import { workspaceHelperArgv } from "./workspace_helper_argv.ts";
import { formatSize } from "./workspace_size.ts";
import { GUEST_WORKSPACE } from "./workspace_state.ts";

/** The guest side: unpack stdin into the workspace, owned by whoever runs it (the agent). */
export const GUEST_UNTAR = ["tar", "-x", "-f", "-", "-C", GUEST_WORKSPACE, "--no-same-owner"];

/** What to copy in. */
export type CopySource =
  | { kind: "snapshot"; root: string; tree: "git" | "dir" }
  | { kind: "archive"; path: string };

/** Copy the workspace in; returns the bytes streamed. */
export async function copyIn(opts: {
  runner: Runner;
  backend: Backend;
  slug: string;
  helper: HelperContext;
  source: CopySource;
  /** The planned size, for the progress line. */
  expectBytes: number;
  /** Progress on a terminal (`\r`-rewritten), or null for none. */
  onProgress: ((line: string) => void) | null;
}): Promise<{ bytes: number; ms: number; base: string | null }> {
  const t0 = performance.now();
  const sink = opts.runner.spawn(
    opts.backend.execArgv({ slug: opts.slug, secretNames: [] }, GUEST_UNTAR, {
      stdin: true,
      tty: false,
    }),
    { stdin: "piped", stdout: "piped", stderr: "piped" },
  );
  const source = opts.source.kind === "archive"
    ? (await Deno.open(opts.source.path, { read: true })).readable
    : opts.runner.spawn(
      workspaceHelperArgv({
        ...opts.helper,
        mounts: [{ source: opts.source.root, target: "/src", readonly: true }],
        args: ["snapshot", opts.source.tree, opts.source.root.split("/").pop() || "/"],
      }),
      { stdout: "piped", stderr: "piped" },
    );
  let last = 0;
  const result = await pipeStreams(source, sink, (bytes) => {
    const now = performance.now();
    if (opts.onProgress && now - last > 200) {
      last = now;
      const pct = opts.expectBytes > 0
        ? ` (${Math.min(100, Math.round((bytes / opts.expectBytes) * 100))}%)`
        : "";
      opts.onProgress(
        `copying the workspace: ${formatSize(bytes)} of ~${formatSize(opts.expectBytes)}${pct}`,
      );
    }
  });
  if (result.sourceCode !== null && result.sourceCode !== 0) {
    throw new UserError(
      `copying the workspace failed on the host side (exit ${result.sourceCode}): ${
        lastLines(result.sourceErr)
      }`,
      { hint: "the plan's workspace line says what was to be copied; fix the path it names" },
    );
  }
  if (result.sinkCode !== 0) {
    throw new UserError(
      `unpacking the workspace in the bottle failed (exit ${result.sinkCode}): ${
        lastLines(result.sinkErr)
      }`,
      { hint: "the agent image needs GNU or busybox tar on PATH, and room for the workspace" },
    );
  }
  // The snapshot says which commit it copied (a plain directory's is made by the helper).
  const base = /^bb-workspace: base ([0-9a-f]{40,64})$/m.exec(result.sourceErr)?.[1] ?? null;
  return { bytes: result.bytes, ms: performance.now() - t0, base };
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-3).join(" / ") || "no message";
}
