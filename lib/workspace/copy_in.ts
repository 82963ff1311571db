/**
 * The workspace into the guest (SPEC §11): the helper's snapshot of the
 * host tree — or, on resume, the archives of the guest workspace as it was
 * left (what was copied in, then each capture's changes, applied in order) —
 * streamed through this process into `tar -x` in the guest, as the agent's
 * user, at /workspace. Nothing of the tree is written on the host on the way
 * (the base later captures are taken against is kept from the guest while the
 * agent works: mark_level0.ts). On a terminal a progress line shows bytes
 * against the planned size.
 */
import { closeSync, constants as fsConstants, openSync } from "node:fs";
import type { Backend } from "../backends/backend.ts";
import { UserError } from "../errors.ts";
import type { Runner, Spawned } from "../host/runner.ts";
import { type PipeSource, pipeStreams } from "./stream_pipe.ts";
import type { HelperContext } from "./survey_workspace.ts";
import { workspaceHelperArgv } from "./workspace_helper_argv.ts";
import { formatSize } from "./workspace_size.ts";
import { GUEST_WORKSPACE } from "./workspace_state.ts";

/** The guest side: unpack stdin into the workspace, owned by whoever runs it (the agent). */
export const GUEST_UNTAR = ["tar", "-x", "-f", "-", "-C", GUEST_WORKSPACE, "--no-same-owner"];

/**
 * The same for a capture's changes (a GNU incremental archive): files not in a directory's
 * recorded listing are removed, so a file the agent deleted stays deleted.
 */
export const GUEST_UNTAR_INCREMENTAL = [
  "tar",
  "-x",
  "-f",
  "-",
  "--listed-incremental=/dev/null",
  "-C",
  GUEST_WORKSPACE,
  "--no-same-owner",
];

/** One archive of a restore, in order: the first is plain, the later ones incremental. */
export interface RestoreArchive {
  path: string;
  incremental: boolean;
}

/** What to copy in. */
export type CopySource =
  | { kind: "snapshot"; root: string; tree: "git" | "dir" }
  | { kind: "started"; snapshot: StartedSnapshot }
  | { kind: "archives"; archives: RestoreArchive[] };

/** The helper's snapshot, started: it waits on its FIFO until the copy reads it. */
export interface StartedSnapshot {
  helper: Spawned;
  fifoDir: string;
  /**
   * How the snapshot ended: the code the helper said once its tar was done (its container's
   * removal is not waited for: {@link cancel}), or, if it ended without saying so, its exit
   * code and whether it had begun to stream.
   */
  done: Promise<{ code: number; streamed: boolean }>;
  /**
   * True once the helper says it holds the FIFO's write end (it then writes the tar); false if
   * it ended without saying so (all it printed read).
   */
  streams: Promise<boolean>;
  /** All the helper said (its protocol lines left out), once it said it is done or ended. */
  stderr: Promise<string>;
  /** Lines of the helper's stderr, as they come (each listener sees those after it was added). */
  onLine(listener: (line: string) => void): void;
  /**
   * Stop it unless it said it is done (a launch that ends before the copy), and wait for its
   * container to be gone, at most 10 s (after that the label sweep takes it).
   */
  cancel(): Promise<void>;
}

/**
 * Start the helper's snapshot of `root` (a launch starts it beside the bundle, so the copy
 * itself does not wait for a container to start). The helper writes the tar into a FIFO in a
 * private dir of `streamDir`, which this process reads: a container's stdout would cross the
 * Docker daemon's attach stream.
 */
export async function startSnapshot(opts: {
  runner: Runner;
  helper: HelperContext;
  root: string;
  tree: "git" | "dir";
  streamDir: string;
}): Promise<StartedSnapshot> {
  const fifoDir = await Deno.makeTempDir({ dir: opts.streamDir, prefix: "stream-" });
  const helper = opts.runner.spawn(
    workspaceHelperArgv({
      ...opts.helper,
      mounts: [
        { source: opts.root, target: "/src", readonly: true },
        { source: fifoDir, target: "/stream", readonly: false },
      ],
      args: ["snapshot", opts.tree, opts.root.split("/").pop() || "/", "/stream/tar"],
    }),
    { stdout: "null", stderr: "piped" },
  );
  const listeners: ((line: string) => void)[] = [];
  let said: number | null = null;
  let saidDone: () => void = () => {};
  const doneSaid = new Promise<void>((resolve) => (saidDone = resolve));
  // Its word counts once it streams (before that it has not made the copy; its own lines
  // escape control characters, and tar quotes the names it prints).
  let streaming = false;
  let streamsNow: () => void = () => {};
  const streamsSaid = new Promise<void>((resolve) => (streamsNow = resolve));
  listeners.push((line) => {
    const done = DONE_LINE.exec(line);
    if (line === STREAMING_LINE) {
      streaming = true;
      streamsNow();
    } else if (done && streaming && said === null) {
      said = Number(done[1]);
      saidDone();
    }
  });
  const lines = linesOf(helper.stderr, (line) => listeners.forEach((l) => l(line)));
  lines.ended.catch(() => {}); // a read that failed: the exit code says the rest
  let exited = false;
  helper.status.then(() => (exited = true));
  // Ended without saying: what it printed is all read first (its exit can come before that).
  const ended = helper.status.then(async (code) => {
    await lines.ended.catch(() => {});
    return code;
  });
  return {
    helper,
    fifoDir,
    done: Promise.race([doneSaid, ended]).then(async () =>
      said !== null ? { code: said, streamed: true } : { code: await ended, streamed: streaming }
    ),
    streams: Promise.race([streamsSaid.then(() => true), ended.then(() => streaming)]),
    // What it said up to "done" is all there is to say (the rest is its exit).
    stderr: Promise.race([doneSaid, lines.ended.catch(() => {})]).then(() => lines.text()),
    onLine: (listener) => void listeners.push(listener),
    async cancel() {
      // Again every half second: a SIGTERM that came before the helper's handler was lost.
      for (let i = 0; i < 20 && !exited; i++) {
        if (said === null) helper.kill("SIGTERM");
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([helper.status, new Promise((r) => (timer = setTimeout(r, 500)))]);
        clearTimeout(timer);
      }
      await Deno.remove(fifoDir, { recursive: true }).catch(() => {});
    },
  };
}

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
  if (opts.source.kind === "archives") {
    let bytes = 0;
    for (const archive of opts.source.archives) {
      const file = await Deno.open(archive.path, { read: true });
      const r = await intoGuest(
        opts,
        file,
        archive.incremental ? GUEST_UNTAR_INCREMENTAL : GUEST_UNTAR,
        bytes,
      );
      bytes += r.bytes;
      sinkCheck(r);
    }
    return { bytes, ms: performance.now() - t0, base: null };
  }
  const started = opts.source.kind === "started" ? opts.source.snapshot : await startSnapshot({
    runner: opts.runner,
    helper: opts.helper,
    root: opts.source.root,
    tree: opts.source.tree,
    streamDir: opts.streamDir,
  });
  let streamed: Awaited<ReturnType<typeof fifoIntoGuest>>;
  let done: Awaited<StartedSnapshot["done"]>;
  try {
    [streamed, done] = await Promise.all([
      opts.backend.execStdinFromFd
        ? fifoIntoGuest(opts, started)
        : openFifo(`${started.fifoDir}/tar`, started).then((source) =>
          intoGuest(opts, source, GUEST_UNTAR, 0)
        ),
      started.done,
    ]);
  } finally {
    // A snapshot started here is waited for here; a started one by whoever started it.
    if (opts.source.kind === "snapshot") await started.cancel();
    else await Deno.remove(started.fifoDir, { recursive: true }).catch(() => {});
  }
  const sourceErr = await started.stderr;
  if (done.code !== 0 || !done.streamed) {
    const what = done.code !== 0 ? `exit ${done.code}` : "it ended without streaming";
    throw new UserError(
      `copying the workspace failed on the host side (${what}): ${lastLines(sourceErr)}`,
      { hint: "the plan's workspace line says what was to be copied; fix the path it names" },
    );
  }
  sinkCheck(streamed);
  // The snapshot says which commit it copied (a plain directory's is made by the helper).
  const base = /^bb-workspace: base ([0-9a-f]{40,64})$/m.exec(sourceErr)?.[1] ?? null;
  return { bytes: streamed.bytes, ms: performance.now() - t0, base };
}

/**
 * The helper's FIFO handed to the guest's exec as its stdin (a backend whose exec reads an
 * open pipe itself): the tar goes from the helper to the docker CLI in the kernel, never through
 * this process. The read end is opened non-blocking (so the helper's open for writing returns),
 * and given to the exec only once the helper says it holds the write end. Progress and the byte
 * count come from the helper's tar.
 */
async function fifoIntoGuest(
  opts: Parameters<typeof copyIn>[0],
  started: StartedSnapshot,
): Promise<{ bytes: number; sinkCode: number | null; sinkErr: string }> {
  let bytes = 0;
  let last = 0;
  started.onLine((line) => {
    const copied = COPIED_LINE.exec(line);
    const total = TOTAL_LINE.exec(line);
    if (total) bytes = Number(total[1]);
    if (copied && opts.onProgress && performance.now() - last > 200) {
      last = performance.now();
      progress(opts, Number(copied[1]) * TAR_RECORD);
    }
  });
  const path = `${started.fifoDir}/tar`;
  // Never unpacked (the helper's exit code and stderr say why; this fails the copy regardless).
  const none = { bytes: 0, sinkCode: null, sinkErr: "the snapshot never streamed" };
  if (!(await fifoMade(path, started.helper))) return none;
  let fd: number | null = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  try {
    // The helper says so right after its open returns; or it ended (and all it said is read:
    // a small tar may be in the pipe whole, its writer gone).
    if (!(await started.streams)) return none;
    const sink = opts.runner.spawn(
      opts.backend.execArgv({ slug: opts.slug, secretNames: [] }, GUEST_UNTAR, {
        stdin: true,
        tty: false,
      }),
      { stdin: { fd }, stdout: "piped", stderr: "piped" },
    );
    closeSync(fd);
    fd = null;
    const [sinkErr, , sinkCode] = await Promise.all([
      new Response(sink.stderr).text(),
      new Response(sink.stdout).text(),
      sink.status,
    ]);
    return { bytes, sinkCode, sinkErr };
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

function progress(opts: Parameters<typeof copyIn>[0], bytes: number): void {
  const pct = opts.expectBytes > 0
    ? ` (${Math.min(100, Math.round((bytes / opts.expectBytes) * 100))}%)`
    : "";
  opts.onProgress?.(
    `copying the workspace: ${formatSize(bytes)} of ~${formatSize(opts.expectBytes)}${pct}`,
  );
}

/** One stream into the guest's tar (`untar`), with the progress line. */
async function intoGuest(
  opts: Parameters<typeof copyIn>[0],
  source: PipeSource,
  untar: readonly string[],
  before: number,
) {
  const sink = opts.runner.spawn(
    opts.backend.execArgv({ slug: opts.slug, secretNames: [] }, untar, {
      stdin: true,
      tty: false,
    }),
    { stdin: "piped", stdout: "piped", stderr: "piped" },
  );
  let last = 0;
  return await pipeStreams(source, sink, (n) => {
    const now = performance.now();
    if (opts.onProgress && now - last > 200) {
      last = now;
      progress(opts, before + n);
    }
  });
}

function sinkCheck(r: { sinkCode: number | null; sinkErr: string }): void {
  if (r.sinkCode !== 0) {
    throw new UserError(
      `unpacking the workspace in the bottle failed (exit ${r.sinkCode}): ${lastLines(r.sinkErr)}`,
      { hint: "the agent image needs GNU or busybox tar on PATH, and room for the workspace" },
    );
  }
}

/**
 * Open the helper's FIFO once it exists (the helper may fail before it makes it, or before
 * it opens it: nothing is read then, and its exit code and stderr say why).
 */
async function openFifo(path: string, started: StartedSnapshot): Promise<PipeSource> {
  const nothing = () => new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  if (!(await fifoMade(path, started.helper))) return nothing();
  const opening = Deno.open(path, { read: true });
  let opened = false;
  opening.then(() => (opened = true), () => {});
  await Promise.race([opening, started.helper.status]);
  if (!opened) {
    // It ended without opening its end: a writer of ours lets this open return, at the end.
    try {
      closeSync(openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    } catch { /* the open returned meanwhile */ }
  }
  return await opening;
}

/**
 * Whether the helper made its FIFO (false: it exited first, or has not in 60 s and is stopped;
 * its exit code and stderr say why).
 */
async function fifoMade(path: string, helper: Spawned): Promise<boolean> {
  let exited = false;
  helper.status.then(() => (exited = true));
  for (let i = 0; i < 1200 && !exited; i++) {
    if ((await Deno.lstat(path).catch(() => null))?.isFifo) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!exited) helper.kill("SIGTERM");
  return false;
}

/** GNU tar's checkpoint line (every 1024 records of 10240 bytes) and its closing total. */
const COPIED_LINE = /^tar: bb-workspace: copied (\d+)$/;
const TOTAL_LINE = /^Total bytes written: (\d+)/;
/** What the helper says once it holds the FIFO's write end. */
const STREAMING_LINE = "bb-workspace: streaming";
/** What the helper says once its tar is done and the FIFO closed. */
const DONE_LINE = /^bb-workspace: done (\d+)$/;
const TAR_RECORD = 10240;

/**
 * A stream's lines to `onLine` as they come; the text so far (progress and done lines left
 * out, and the helper's other protocol lines; 64 KiB), and when the stream ended.
 */
function linesOf(
  stream: ReadableStream<Uint8Array> | null,
  onLine: (line: string) => void,
): { text: () => string; ended: Promise<void> } {
  let out = "";
  const take = (line: string) => {
    onLine(line);
    const said = COPIED_LINE.test(line) || DONE_LINE.test(line) || line === STREAMING_LINE;
    if (!said && out.length < 65536) {
      out += `${line}\n`;
    }
  };
  const read = async () => {
    if (!stream) return;
    let partial = "";
    const d = new TextDecoder();
    for await (const chunk of stream) {
      const lines = (partial + d.decode(chunk, { stream: true })).split("\n");
      partial = lines.pop()!;
      lines.forEach(take);
    }
    if (partial) take(partial);
  };
  return { text: () => out, ended: read() };
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-3).join(" / ") || "no message";
}
