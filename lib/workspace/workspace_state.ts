/**
 * What a bottle's state dir keeps of its workspace (`<state dir>/workspace/`):
 *
 * - `source.json`: what was copied in (host path, kind, base commit), written at copy-in;
 * - the guest's /workspace exactly as the agent left it (what `resume` restores), as the
 *   archives `capture.json` lists, applied in order: `base.tar` (the stream that was copied
 *   in) then `delta-*.tar` (what each capture found changed since: GNU incremental archives,
 *   which also record deletions), or `guest.tar` (the whole workspace, from a full capture);
 * - `level0.json`: which of those archives the running guest started from (its launch), when
 *   the guest could record that state for an incremental capture;
 * - `changes.bundle`: a git bundle of base..tip, branch `bot-bottle/<slug>` (what `export` hands
 *   out), `diff.patch` (what `diff` prints) and `capture.json` (tip, counts, findings).
 *
 * Files are replaced atomically (written beside, then renamed), so a failed capture leaves the
 * last good one in place.
 */
import { writeFileAtomic } from "../state/metadata_store.ts";

/** Where the guest's workspace lives. */
export const GUEST_WORKSPACE = "/workspace";

/** The workspace dir of a bottle's state dir. */
export function workspaceDir(stateDir: string): string {
  return `${stateDir}/workspace`;
}

/** The files in it. */
export function workspaceFiles(stateDir: string) {
  const dir = workspaceDir(stateDir);
  return {
    dir,
    source: `${dir}/source.json`,
    guestTar: `${dir}/guest.tar`,
    base: `${dir}/base.tar`,
    level0: `${dir}/level0.json`,
    bundle: `${dir}/changes.bundle`,
    diff: `${dir}/diff.patch`,
    capture: `${dir}/capture.json`,
    lock: `${dir}/capture.lock`,
  };
}

/** `source.json`. */
export interface WorkspaceRecord {
  schema: 1;
  /** The host directory copied (the work tree's root). */
  root: string;
  kind: "git" | "dir";
  /** The host's HEAD at copy-in (git), or null (a plain directory, an unborn branch). */
  base: string | null;
  branch: string | null;
  copied_at: string;
  /** The copy-in's size limit; a capture larger than it is refused (absent: 4 GiB). */
  limit_bytes?: number;
}

/** `capture.json`. */
export interface CaptureRecord {
  schema: 1;
  /** The launch it belongs to (the plan's started_at). */
  run: string;
  captured_at: string;
  /** `exit` (the agent ended), `stop` (bot-bottle stop), `interrupt`. */
  by: "exit" | "stop" | "interrupt";
  tip: string;
  base: string | null;
  ref: string;
  commits: number;
  auto_commit: boolean;
  files_changed: number;
  scanned: boolean;
  /** Where gitleaks found something (rule, commit, file; never the text). */
  findings: string[];
  /** Bytes of the guest workspace archive. */
  workspace_bytes: number;
  /** False when nothing changed (there is then no bundle to export). */
  has_bundle: boolean;
  /** Why the work could not be turned into commits (the archive is still kept), or null. */
  error: string | null;
  /**
   * The archives (names in the workspace dir) that restore the workspace, in order: the first
   * plain, the later ones incremental. Absent in records of older captures: `guest.tar`.
   */
  archives?: string[];
  /** `incremental` (the guest sent what changed and made the commit) or `full`. */
  mode?: "incremental" | "full";
}

/** `level0.json`: the state a launch's guest started from, for an incremental capture. */
export interface Level0Record {
  schema: 1;
  /** The launch (plan.started_at). */
  run: string;
  /** The archives that made the guest's workspace (as in CaptureRecord.archives). */
  archives: string[];
}

/** The names an archive of the workspace dir may have (anything else in a record is refused). */
export const ARCHIVE_NAME = /^(guest|base|delta-\d{1,6})\.tar$/;

/**
 * The archives a capture left (absent: an older record, the whole workspace in guest.tar);
 * null when the record names anything but an archive of the workspace dir.
 */
export function captureArchives(c: CaptureRecord): string[] | null {
  const names = c.archives ?? ["guest.tar"];
  return names.length > 0 && names.every((n) => ARCHIVE_NAME.test(n)) ? names : null;
}

/** The level-0 record, or null. */
export function readLevel0(stateDir: string): Promise<Level0Record | null> {
  return readJson<Level0Record>(workspaceFiles(stateDir).level0);
}

/** Write `level0.json`. */
export async function writeLevel0(stateDir: string, record: Level0Record) {
  await writeFileAtomic(workspaceFiles(stateDir).level0, `${JSON.stringify(record, null, 2)}\n`);
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** The recorded source, or null when the bottle has no workspace. */
export function readWorkspaceRecord(stateDir: string): Promise<WorkspaceRecord | null> {
  return readJson<WorkspaceRecord>(workspaceFiles(stateDir).source);
}

/** The last capture, or null. */
export function readCapture(stateDir: string): Promise<CaptureRecord | null> {
  return readJson<CaptureRecord>(workspaceFiles(stateDir).capture);
}

/** Write `source.json`. */
export async function writeWorkspaceRecord(stateDir: string, record: WorkspaceRecord) {
  await Deno.mkdir(workspaceDir(stateDir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(workspaceFiles(stateDir).source, `${JSON.stringify(record, null, 2)}\n`);
}

/** Write `capture.json`. */
export async function writeCapture(stateDir: string, record: CaptureRecord) {
  await writeFileAtomic(workspaceFiles(stateDir).capture, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Before a new copy of the tree goes in (a resume whose archives were gone copies the tree
 * again): the last capture keeps its commits (`diff`, `export`) but no longer restores — its
 * archives were taken against the base this copy replaces — and they are removed.
 */
export async function forgetRestorable(stateDir: string): Promise<void> {
  const capture = await readCapture(stateDir);
  if (capture && (capture.archives === undefined || capture.archives.length > 0)) {
    await writeCapture(stateDir, { ...capture, archives: [] });
  }
  const dir = workspaceDir(stateDir);
  for await (const entry of Deno.readDir(dir)) {
    const name = entry.name.endsWith(".tmp") ? entry.name.slice(0, -4) : entry.name;
    if (ARCHIVE_NAME.test(name)) await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
  }
  await Deno.remove(workspaceFiles(stateDir).level0).catch(() => {});
}
