/**
 * The workspace into the guest (SPEC §11): the helper's snapshot of the
 * host tree — or, on resume, the archive of the guest workspace as it was
 * left — streamed through this process into `tar -x` in the guest, as the
 * agent's user, at /workspace. Nothing of the tree is written on the host.
 * On a terminal a progress line shows bytes against the planned size.
 */
import type { Backend } from "../backends/backend.ts";
import { UserError } from "../errors.ts";
import type { Runner, Spawned } from "../host/runner.ts";
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
  /** A private directory (the state dir's workspace dir) for the snapshot's FIFO. */
  streamDir: string;
}): Promise<{ bytes: number; ms: number; base: string | null }> {
  const t0 = performance.now();
  const sink = opts.runner.spawn(
    opts.backend.execArgv({ slug: opts.slug, secretNames: [] }, GUEST_UNTAR, {
      stdin: true,
      tty: false,
    }),
    { stdin: "piped", stdout: "piped", stderr: "piped" },
  );
  let helper: Spawned | null = null;
  let fifoDir: string | null = null;
  let source: ReadableStream<Uint8Array>;
  if (opts.source.kind === "archive") {
    source = (await Deno.open(opts.source.path, { read: true })).readable;
  } else {
    // The helper writes the tar into a FIFO in a private dir of the state dir, which this
    // process reads: a container's stdout would cross the Docker daemon's attach stream.
    fifoDir = await Deno.makeTempDir({ dir: opts.streamDir, prefix: "stream-" });
    helper = opts.runner.spawn(
      workspaceHelperArgv({
        ...opts.helper,
        mounts: [
          { source: opts.source.root, target: "/src", readonly: true },
          { source: fifoDir, target: "/stream", readonly: false },
        ],
        args: [
          "snapshot",
          opts.source.tree,
          opts.source.root.split("/").pop() || "/",
          "/stream/tar",
        ],
      }),
      { stdout: "null", stderr: "piped" },
    );
    source = await openFifo(`${fifoDir}/tar`, helper);
  }
  let last = 0;
  const helperErr = helper ? textOf(helper.stderr) : Promise.resolve("");
  const piped = pipeStreams(source, sink, (bytes) => {
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
  const [streamed, helperCode] = await Promise.all([piped, helper ? helper.status : null]);
  if (fifoDir) await Deno.remove(fifoDir, { recursive: true }).catch(() => {});
  const result = { ...streamed, sourceCode: helperCode, sourceErr: await helperErr };
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

/** Open the helper's FIFO once it exists (the helper may fail before it makes it). */
async function openFifo(path: string, helper: Spawned): Promise<ReadableStream<Uint8Array>> {
  let exited = false;
  helper.status.then(() => (exited = true));
  for (let i = 0; i < 1200 && !exited; i++) {
    const st = await Deno.lstat(path).catch(() => null);
    if (st?.isFifo) return (await Deno.open(path, { read: true })).readable;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!exited) helper.kill("SIGTERM");
  // Nothing to read: the helper's exit code and stderr say why.
  return new ReadableStream({ start: (c) => c.close() });
}

async function textOf(stream: ReadableStream<Uint8Array> | null): Promise<string> {
  if (!stream) return "";
  let out = "";
  const d = new TextDecoder();
  for await (const chunk of stream) {
    if (out.length < 65536) out += d.decode(chunk, { stream: true });
  }
  return out;
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-3).join(" / ") || "no message";
}
