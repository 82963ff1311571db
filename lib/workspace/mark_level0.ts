/**
 * The state an incremental capture starts from (SPEC §11): right after the
 * workspace is in the guest, and before the agent runs, GNU tar in the guest
 * records every directory's listing and the time (a `--listed-incremental`
 * snapshot file, outside /workspace; no file's contents are read). A capture
 * then sends only what changed since (contents by mtime or ctime — ctime,
 * which no user can set back, catches a file touched back to an old date)
 * and which names are gone. `level0.json` says which archives that state is
 * made of, for this launch only.
 *
 * The base those changes apply to (`base.tar`, what `resume` restores first)
 * is then taken out of the guest while the agent works, off the copy's and
 * the capture's paths: a file the agent changes meanwhile may be read torn,
 * but anything changed since the mark is in every capture's changes, which
 * override it; what did not change reads the same at any time.
 *
 * A guest without GNU tar (busybox) cannot: its captures send the whole
 * workspace, as before.
 */
import type { Backend } from "../backends/backend.ts";
import type { Runner } from "../host/runner.ts";
import { pipeStreams } from "./stream_pipe.ts";
import { DEFAULT_WORKSPACE_LIMIT } from "./workspace_size.ts";
import { GUEST_WORKSPACE, workspaceFiles, writeLevel0 } from "./workspace_state.ts";

/** The guest side of the base: the whole workspace, read as the agent. */
const BASE_TAR = ["tar", "-c", "-f", "-", "-C", GUEST_WORKSPACE, "."];

/** Where the guest keeps the snapshot file (the agent's own /tmp: it can only spoil its own). */
export const GUEST_SNAR = "/tmp/.bot-bottle-workspace.snar";

/** The guest side (pure): the snapshot file, with nothing archived. */
export const LEVEL0_ARGV = [
  "tar",
  "-c",
  "-f",
  "/dev/null",
  `--listed-incremental=${GUEST_SNAR}`,
  "-C",
  GUEST_WORKSPACE,
  ".",
];

/** Record the guest's workspace as it is now; true when the guest could. */
export async function markLevel0(opts: {
  runner: Runner;
  backend: Backend;
  slug: string;
  stateDir: string;
  run: string;
  /** The archives the workspace was made from (names in the workspace dir). */
  archives: string[];
}): Promise<boolean> {
  const files = workspaceFiles(opts.stateDir);
  await Deno.remove(files.level0).catch(() => {});
  const r = await opts.runner.run(
    opts.backend.execArgv({ slug: opts.slug, secretNames: [] }, LEVEL0_ARGV, {
      stdin: false,
      tty: false,
    }),
  );
  if (r.code !== 0) return false;
  await writeLevel0(opts.stateDir, { schema: 1, run: opts.run, archives: opts.archives });
  return true;
}

/**
 * Keep the guest's workspace as `base.tar` (after markLevel0); true when it is kept. Cut at
 * twice the copy-in limit. tar's exit 1 (a file changed as it was read) is fine: that file is
 * in the changes a capture sends.
 */
export async function keepBase(opts: {
  runner: Runner;
  backend: Backend;
  slug: string;
  stateDir: string;
  limitBytes?: number;
}): Promise<boolean> {
  const path = workspaceFiles(opts.stateDir).base;
  const out = await Deno.open(`${path}.tmp`, {
    create: true,
    write: true,
    truncate: true,
    mode: 0o600,
  });
  const tar = opts.runner.spawn(
    opts.backend.execArgv({ slug: opts.slug, secretNames: [] }, BASE_TAR, {
      stdin: false,
      tty: false,
    }),
    { stdout: "piped", stderr: "piped" },
  );
  const limit = 2 * (opts.limitBytes ?? DEFAULT_WORKSPACE_LIMIT);
  const piped = await pipeStreams(tar, out.writable, () => {}, limit).catch(() => null);
  try {
    out.close(); // the pipe closes it, unless it failed first
  } catch { /* closed */ }
  if (piped && !piped.overLimit && (piped.sourceCode === 0 || piped.sourceCode === 1)) {
    await Deno.rename(`${path}.tmp`, path);
    return true;
  }
  await Deno.remove(`${path}.tmp`).catch(() => {});
  return false;
}
