/**
 * The agent's work out of the guest (SPEC §11), before teardown — when the
 * agent exits, on `stop` from another terminal, on an interrupt.
 *
 * Incremental, when the guest recorded its starting state (mark_level0.ts)
 * and has git: in the guest, as the agent, whatever is uncommitted becomes a
 * commit on top of the agent's (author bot-bottle; a temporary index, no ref
 * or file of the workspace changes), and GNU tar sends only what changed
 * since the copy-in (new objects included) into the state dir. The helper
 * takes only object files from that and from the archives before it, and
 * checks the tip and every object it needs as a full capture does; nothing
 * the guest says is trusted. `resume` restores the chain of archives.
 *
 * Full, otherwise (or when anything in the incremental one fails): the
 * guest's whole /workspace as a tar stream into the state dir, then, in the
 * helper, the same commit, made there. The guest's repository config and
 * hooks are dropped before any git command runs on it.
 *
 * Either way the result is a git bundle of base..tip (branch
 * `bot-bottle/<slug>`), the diff, and the git gate's secret scan of those
 * commits.
 *
 * One capture per launch: a lock in the state dir serialises `stop` and the
 * exiting agent, and the second finds the first's record and keeps it.
 */
import type { Backend } from "../backends/backend.ts";
import { lastLine, type Runner } from "../host/runner.ts";
import { pipeStreams } from "./stream_pipe.ts";
import { visible } from "../plan/render_plan.ts";
import type { HelperContext } from "./survey_workspace.ts";
import { workspaceHelperArgv } from "./workspace_helper_argv.ts";
import { DEFAULT_WORKSPACE_LIMIT, formatSize } from "./workspace_size.ts";
import {
  ARCHIVE_NAME,
  captureArchives,
  type CaptureRecord,
  GUEST_WORKSPACE,
  type Level0Record,
  readCapture,
  readLevel0,
  readWorkspaceRecord,
  workspaceDir,
  workspaceFiles,
  type WorkspaceRecord,
  writeCapture,
} from "./workspace_state.ts";
import { GUEST_SNAR } from "./mark_level0.ts";

/** Up to this size the helper unpacks the workspace into a tmpfs. */
const TMPFS_MAX = 512 * 2 ** 20;

/** Bound on the guest's side of an incremental capture (it runs the agent's git filters). */
const GUEST_STEP_MS = 5 * 60_000;

/** The guest side: the whole workspace as a tar stream, read as the agent. */
export const GUEST_TAR = ["tar", "-c", "-f", "-", "-C", GUEST_WORKSPACE, "."];

/**
 * The guest side of an incremental capture (POSIX sh, run as the agent; $1 is the slug):
 * whatever is uncommitted as a commit on top of HEAD, through a copy of the index (so the
 * workspace, its index and its refs stay as the agent left them), said on stderr; then what
 * changed since the level-0 state, as a GNU incremental archive on stdout. The index is
 * compared by size and mtime only (the copy-in kept mtimes, not inodes): hashing an unchanged
 * file again would "freshen" the pack holding its blob, and send that whole pack. Exit 90-95: it
 * could not (no workspace, no level-0 state, no git, git failed), and the full capture runs.
 */
export const GUEST_INCREMENTAL_SCRIPT = `set -u
cd ${GUEST_WORKSPACE} 2>/dev/null || exit 90
[ -s ${GUEST_SNAR} ] || exit 91
command -v git >/dev/null 2>&1 || exit 92
t=$(mktemp -d) || exit 93
trap 'rm -rf "$t"' EXIT
g() { GIT_NO_REPLACE_OBJECTS=1 git -c core.hooksPath=/dev/null -c core.fsmonitor=false -c commit.gpgSign=false \
  -c gc.auto=0 -c maintenance.auto=false -c core.quotePath=false \\
  -c core.checkStat=minimal -c core.trustctime=false "$@"; }
head=$(g rev-parse -q --verify 'HEAD^{commit}' 2>/dev/null) || head=""
if [ -f .git/index ]; then cp .git/index "$t/index" || exit 94; fi
GIT_INDEX_FILE="$t/index" g add -A >&2 || exit 94
tree=$(GIT_INDEX_FILE="$t/index" g write-tree) || exit 94
if [ -n "$head" ] && [ "$(g rev-parse "$head^{tree}")" = "$tree" ]; then
  tip=$head auto=0
else
  tip=$(GIT_AUTHOR_NAME=bot-bottle GIT_AUTHOR_EMAIL=bot-bottle@localhost \
    GIT_COMMITTER_NAME=bot-bottle GIT_COMMITTER_EMAIL=bot-bottle@localhost \
    g commit-tree "$tree" \${head:+-p "$head"} -m "bot-bottle: work left uncommitted in $1") || exit 94
  auto=1
fi
echo "bb-capture tip $tip auto $auto" >&2
cp ${GUEST_SNAR} "$t/snar" || exit 95
tar -c -f - --listed-incremental="$t/snar" -C ${GUEST_WORKSPACE} .
`;

/** Capture the workspace of `slug`; the record, or null when there was nothing to capture. */
export async function captureWorkspace(opts: {
  runner: Runner;
  backend: Backend;
  slug: string;
  stateDir: string;
  /** The launch (plan.started_at) this capture belongs to. */
  run: string;
  by: CaptureRecord["by"];
  helper: HelperContext;
  say: (line: string) => void;
}): Promise<CaptureRecord | null> {
  const record = await readWorkspaceRecord(opts.stateDir);
  if (!record) return null;
  const files = workspaceFiles(opts.stateDir);
  const lock = await Deno.open(files.lock, { create: true, write: true, mode: 0o600 });
  try {
    await lock.lock(true);
    const previous = await readCapture(opts.stateDir);
    if (previous?.run === opts.run) {
      if (previous.by !== opts.by) opts.say(`workspace already captured (by ${previous.by})`);
      return previous;
    }
    const level0 = await readLevel0(opts.stateDir);
    if (level0?.run === opts.run) {
      const fast = await incrementalCapture(opts, record, level0);
      if (fast !== "fall back") return fast;
    }
    // 1. Out of the guest, into the state dir.
    const tmp = `${files.guestTar}.tmp`;
    const out = await Deno.open(tmp, { create: true, write: true, truncate: true, mode: 0o600 });
    const tar = opts.runner.spawn(
      opts.backend.execArgv({ slug: opts.slug, secretNames: [] }, GUEST_TAR, {
        stdin: false,
        tty: false,
      }),
      { stdout: "piped", stderr: "piped" },
    );
    // The guest decides what it sends: a sparse or huge file must not fill the host's disk.
    const limit = 2 * (record.limit_bytes ?? DEFAULT_WORKSPACE_LIMIT);
    const piped = await pipeStreams(tar, out.writable, () => {}, limit);
    if (piped.overLimit) {
      await Deno.remove(tmp).catch(() => {});
      opts.say(
        `workspace not captured: ${GUEST_WORKSPACE} is larger than ${formatSize(limit)} ` +
          "(twice the limit it was copied in with; the last capture is kept; " +
          "`start --cwd --max-workspace SIZE` raises it)",
      );
      return null;
    }
    const err = piped.sourceErr.trim();
    if (piped.sourceCode !== 0) {
      const onlyUnreadable = piped.sourceCode === 2 && piped.bytes > 0 &&
        err.split("\n").every((l) => /Cannot open|Permission denied|Exiting with failure/.test(l));
      if (!onlyUnreadable) {
        await Deno.remove(tmp).catch(() => {});
        const gone = /No such file or directory/.test(err) && err.includes(GUEST_WORKSPACE);
        opts.say(
          gone
            ? `the agent removed ${GUEST_WORKSPACE}: nothing captured (the last capture is kept)`
            : `workspace not captured (exit ${piped.sourceCode}): ${
              visible(err.split("\n").pop() ?? "")
            }`,
        );
        return null;
      }
      opts.say(
        `some files in ${GUEST_WORKSPACE} were unreadable and are not captured: ${
          err.split("\n").filter((l) => /Cannot open/.test(l)).length
        } path(s)`,
      );
    }
    await Deno.rename(tmp, files.guestTar);

    // 2. Commits, bundle, diff and scan, in the helper.
    const hostObjects = record.kind === "git" && record.base
      ? await hostObjectDir(record.root)
      : null;
    const work = await Deno.makeTempDir({ dir: files.dir, prefix: "capture-" });
    try {
      const r = await opts.runner.run(workspaceHelperArgv({
        ...opts.helper,
        mounts: [
          { source: files.guestTar, target: "/in/guest.tar", readonly: true },
          { source: work, target: "/out", readonly: false },
          // Your repository's objects, read-only: the base the agent's new objects are checked
          // against comes from there, not from the guest (absent: a complete check instead).
          ...(hostObjects
            ? [{ source: hostObjects, target: "/host/objects", readonly: true }]
            : []),
        ],
        args: ["capture", opts.slug, record.base ?? "", record.kind],
        // A small workspace is unpacked in memory (much faster than the container's disk).
        tmpfsMib: piped.bytes <= TMPFS_MAX
          ? Math.ceil((piped.bytes * 2.5) / 2 ** 20) + 64
          : undefined,
      }));
      const base = {
        schema: 1 as const,
        run: opts.run,
        captured_at: new Date().toISOString(),
        by: opts.by,
        workspace_bytes: piped.bytes,
      };
      if (r.code !== 0) {
        const why = visible(lastLine(r).replace(/^bb-workspace: (no_git: )?/, ""));
        const failed: CaptureRecord = {
          ...base,
          archives: ["guest.tar"],
          mode: "full",
          tip: "",
          base: record.base,
          ref: `refs/heads/bot-bottle/${opts.slug}`,
          commits: 0,
          auto_commit: false,
          files_changed: 0,
          scanned: false,
          findings: [],
          has_bundle: false,
          error: why,
        };
        await Deno.remove(files.bundle).catch(() => {});
        await Deno.remove(files.diff).catch(() => {});
        await writeCapture(opts.stateDir, failed);
        await dropUnlisted(opts.stateDir, failed);
        opts.say(
          `workspace kept for resume (${formatSize(piped.bytes)}), but not as commits: ${why}`,
        );
        return failed;
      }
      const summary = JSON.parse(r.stdout);
      const hasBundle = await takeOutputs(work, summary, files);
      return await recordCapture(opts, {
        ...base,
        ...summary,
        has_bundle: hasBundle,
        error: null,
        archives: ["guest.tar"],
        mode: "full",
      });
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  } finally {
    lock.close();
  }
}

/** The helper's outputs into the state dir; whether there is a bundle. */
async function takeOutputs(
  work: string,
  summary: { tip?: unknown; ref?: unknown },
  files: ReturnType<typeof workspaceFiles>,
): Promise<boolean> {
  // Taken only as regular files, the bundle only for the tip the summary names (nothing in
  // /out may point the host elsewhere).
  const hasBundle = await exists(`${work}/changes.bundle`);
  if (hasBundle) {
    await requireRegular(`${work}/changes.bundle`);
    await requireBundleTip(`${work}/changes.bundle`, summary.tip, summary.ref);
  }
  await requireRegular(`${work}/diff.patch`);
  if (hasBundle) await Deno.rename(`${work}/changes.bundle`, files.bundle);
  else await Deno.remove(files.bundle).catch(() => {});
  await Deno.rename(`${work}/diff.patch`, files.diff);
  return hasBundle;
}

type CaptureOptions = Parameters<typeof captureWorkspace>[0];

/**
 * The incremental capture; "fall back" when the guest or the helper could not (the full
 * capture then runs, and says why if it fails too), null when the changes are over the limit.
 */
async function incrementalCapture(
  opts: CaptureOptions,
  record: WorkspaceRecord,
  level0: Level0Record,
): Promise<CaptureRecord | null | "fall back"> {
  const files = workspaceFiles(opts.stateDir);
  const dir = workspaceDir(opts.stateDir);
  if (level0.archives.length === 0) return "fall back";
  for (const a of level0.archives) {
    if (!ARCHIVE_NAME.test(a) || !(await exists(`${dir}/${a}`))) return "fall back";
  }
  const name = `delta-${level0.archives.length}.tar`;
  const path = `${dir}/${name}`;
  // The whole chain stays within what one full capture may take (twice the copy-in limit):
  // past that, the full capture replaces it.
  const chainBytes = (await Promise.all(
    level0.archives.map(async (a) => (await Deno.stat(`${dir}/${a}`)).size),
  )).reduce((n, b) => n + b, 0);
  const fullLimit = 2 * (record.limit_bytes ?? DEFAULT_WORKSPACE_LIMIT);
  const limit = fullLimit - chainBytes;
  if (limit <= 0) return "fall back";
  const out = await Deno.open(`${path}.tmp`, {
    create: true,
    write: true,
    truncate: true,
    mode: 0o600,
  });
  // Bounded: the agent's git filters run in this step (the full capture runs none).
  const guest = opts.runner.spawn(
    opts.backend.execArgv(
      { slug: opts.slug, secretNames: [] },
      ["sh", "-c", GUEST_INCREMENTAL_SCRIPT, "sh", opts.slug],
      { stdin: false, tty: false },
    ),
    { stdout: "piped", stderr: "piped", signal: AbortSignal.timeout(GUEST_STEP_MS) },
  );
  const piped = await pipeStreams(guest, out.writable, () => {}, limit).catch(() => null);
  try {
    out.close(); // the pipe closes it, unless it failed first
  } catch { /* closed */ }
  const said = piped && /^bb-capture tip ([0-9a-f]{40}|[0-9a-f]{64}) auto [01]$/m.exec(
    piped.sourceErr,
  );
  if (!piped || piped.overLimit || piped.sourceCode !== 0 || !said) {
    await Deno.remove(`${path}.tmp`).catch(() => {});
    // Over what is left of the limit: the full capture says whether the whole is over it too.
    return "fall back";
  }
  await Deno.rename(`${path}.tmp`, path);
  const fallBack = async () => {
    await Deno.remove(path).catch(() => {});
    return "fall back" as const;
  };
  const hostObjects = record.kind === "git" && record.base
    ? await hostObjectDir(record.root)
    : null;
  const chain = [...level0.archives, name];
  // Object files from every capture's changes, and from what was copied in unless that was a
  // snapshot of the user's repository, whose objects the helper reads there.
  const needed = chain.filter((a, i) => i > 0 || a !== "base.tar" || hostObjects === null);
  const sizes = await Promise.all(chain.map(async (a) => (await Deno.stat(`${dir}/${a}`)).size));
  const neededBytes = needed.reduce((n, a) => n + sizes[chain.indexOf(a)], 0);
  const work = await Deno.makeTempDir({ dir: files.dir, prefix: "capture-" });
  try {
    const r = await opts.runner.run(workspaceHelperArgv({
      ...opts.helper,
      mounts: [
        ...needed.map((a, i) => ({
          source: `${dir}/${a}`,
          target: `/in/${i}.tar`,
          readonly: true,
        })),
        { source: work, target: "/out", readonly: false },
        ...(hostObjects ? [{ source: hostObjects, target: "/host/objects", readonly: true }] : []),
      ],
      args: [
        "capture-delta",
        opts.slug,
        record.base ?? "",
        record.kind,
        said[1],
        ...needed.map((_, i) => `/in/${i}.tar`),
      ],
      tmpfsMib: neededBytes <= TMPFS_MAX
        ? Math.ceil((neededBytes * 2.5) / 2 ** 20) + 64
        : undefined,
    }));
    if (r.code !== 0) return await fallBack();
    const summary = JSON.parse(r.stdout);
    const hasBundle = await takeOutputs(work, summary, files);
    return await recordCapture(opts, {
      schema: 1,
      run: opts.run,
      captured_at: new Date().toISOString(),
      by: opts.by,
      workspace_bytes: sizes.reduce((n, b) => n + b, 0),
      ...summary,
      has_bundle: hasBundle,
      error: null,
      archives: chain,
      mode: "incremental",
    });
  } catch {
    return await fallBack();
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** A successful capture: its record written, the archives it no longer lists removed, said. */
async function recordCapture(opts: CaptureOptions, captured: CaptureRecord) {
  await writeCapture(opts.stateDir, captured);
  await dropUnlisted(opts.stateDir, captured);
  opts.say(describeCapture(captured));
  return captured;
}

/** Archives in the workspace dir that the capture no longer lists, and partial ones: removed. */
async function dropUnlisted(stateDir: string, capture: CaptureRecord): Promise<void> {
  const keep = new Set(captureArchives(capture) ?? []);
  const dir = workspaceDir(stateDir);
  for await (const entry of Deno.readDir(dir)) {
    const leftover = entry.name.endsWith(".tmp") && ARCHIVE_NAME.test(entry.name.slice(0, -4));
    if ((ARCHIVE_NAME.test(entry.name) && !keep.has(entry.name)) || leftover) {
      await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
    }
  }
}

/** One line about a capture. */
export function describeCapture(c: CaptureRecord): string {
  if (c.error) return `workspace kept for resume, but not as commits: ${c.error}`;
  const commits = c.commits === 0
    ? "no changes"
    : `${c.commits} commit${c.commits === 1 ? "" : "s"}${
      c.auto_commit ? " (the last one by bot-bottle, of uncommitted work)" : ""
    }, ${c.files_changed} file${c.files_changed === 1 ? "" : "s"} changed`;
  const scan = c.findings.length === 0
    ? (c.scanned ? "gitleaks found nothing" : "nothing to scan")
    : `gitleaks found ${c.findings.length} thing${c.findings.length === 1 ? "" : "s"}: ` +
      "`bot-bottle diff` shows where, `export` refuses without --allow-findings";
  return `workspace captured: ${commits}; ${scan}`;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** `<root>/.git/objects` when it is a real directory (not a link, not a gitdir file). */
async function hostObjectDir(root: string): Promise<string | null> {
  const dir = `${root}/.git/objects`;
  const git = await Deno.lstat(`${root}/.git`).catch(() => null);
  const objects = await Deno.lstat(dir).catch(() => null);
  return git?.isDirectory && objects?.isDirectory ? dir : null;
}

async function requireRegular(path: string): Promise<void> {
  const info = await Deno.lstat(path);
  if (!info.isFile) {
    throw new Error(
      `the workspace helper left ${path.split("/").pop()} as something other ` +
        "than a file; nothing was taken from it",
    );
  }
}

/** A v2/v3 git bundle whose only ref is `ref` at `tip`. */
async function requireBundleTip(path: string, tip: unknown, ref: unknown): Promise<void> {
  const file = await Deno.open(path, { read: true });
  try {
    const head = new Uint8Array(4096);
    const n = (await file.read(head)) ?? 0;
    const lines = new TextDecoder().decode(head.subarray(0, n)).split("\n");
    const refs = [];
    for (const line of lines.slice(1)) {
      if (line === "" || line.startsWith("@")) {
        if (line === "") break;
        continue;
      }
      if (!line.startsWith("-")) refs.push(line);
    }
    const ok = /^# v[23] git bundle$/.test(lines[0]) && refs.length === 1 &&
      refs[0] === `${tip} ${ref}`;
    if (!ok) {
      throw new Error(
        "the workspace helper's bundle does not hold exactly the captured tip; " +
          "nothing was taken from it",
      );
    }
  } finally {
    file.close();
  }
}
