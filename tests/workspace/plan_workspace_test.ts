import assert from "node:assert/strict";
import {
  planResumedWorkspace,
  type WorkspacePlanDeps,
} from "../../lib/workspace/plan_workspace.ts";
import {
  type CaptureRecord,
  forgetRestorable,
  readCapture,
  workspaceFiles,
  writeCapture,
  writeWorkspaceRecord,
} from "../../lib/workspace/workspace_state.ts";
import { RecordingRunner } from "../fixtures/recording_runner.ts";

const deps = (): WorkspacePlanDeps => ({
  runner: new RecordingRunner([]),
  home: "/nonexistent",
  uid: 1000,
  gid: 1000,
  buildDir: () => "/nonexistent",
  progress: () => {},
  labels: {},
});

const RECORD = {
  schema: 1,
  root: "/home/u/p",
  kind: "git",
  base: null,
  branch: "main",
  copied_at: "x",
} as const;

const CAPTURE: CaptureRecord = {
  schema: 1,
  run: "r",
  captured_at: "2026-12-01T00:00:00.000Z",
  by: "exit",
  tip: "a".repeat(40),
  base: null,
  ref: "refs/heads/bot-bottle/s",
  commits: 1,
  auto_commit: true,
  files_changed: 1,
  scanned: true,
  findings: [],
  workspace_bytes: 0,
  has_bundle: true,
  error: null,
};

Deno.test("resume plan: the archives the capture lists, in order, their sizes summed", async () => {
  const state = await Deno.makeTempDir();
  try {
    await writeWorkspaceRecord(state, RECORD);
    const files = workspaceFiles(state);
    await Deno.writeFile(files.base, new Uint8Array(3000));
    await Deno.writeFile(`${files.dir}/delta-1.tar`, new Uint8Array(200));
    await writeCapture(state, { ...CAPTURE, archives: ["base.tar", "delta-1.tar"] });
    const w = await planResumedWorkspace(deps(), state, null);
    assert.equal(w?.mode, "restore");
    assert.deepEqual(w?.restore_archives, [files.base, `${files.dir}/delta-1.tar`]);
    assert.equal(w?.source, files.base);
    assert.equal(w?.bytes, 3200);
    assert.match(w!.notes[0], /in 2 archives \(copied in, then changes\)/);
    // One of them gone: nothing to restore from (and no tree recorded to copy again).
    await Deno.remove(`${files.dir}/delta-1.tar`);
    assert.equal(await planResumedWorkspace(deps(), state, null), null);
    // An older capture record (no archives): the one whole archive, guest.tar.
    await Deno.writeFile(files.guestTar, new Uint8Array(10));
    await writeCapture(state, CAPTURE);
    const old = await planResumedWorkspace(deps(), state, null);
    assert.deepEqual(old?.restore_archives, [files.guestTar]);
    assert.equal(old?.bytes, 10);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("a new copy of the tree: the last capture keeps its commits but no longer restores", async () => {
  const state = await Deno.makeTempDir();
  try {
    await writeWorkspaceRecord(state, RECORD);
    const files = workspaceFiles(state);
    await Deno.writeFile(files.base, new Uint8Array(30));
    await Deno.writeFile(`${files.dir}/delta-1.tar`, new Uint8Array(20));
    await Deno.writeFile(`${files.dir}/delta-2.tar.tmp`, new Uint8Array(20));
    await Deno.writeTextFile(files.level0, "{}");
    await Deno.writeTextFile(files.bundle, "bundle");
    await writeCapture(state, { ...CAPTURE, archives: ["base.tar", "delta-1.tar"] });
    await forgetRestorable(state);
    const left = [];
    for await (const e of Deno.readDir(files.dir)) left.push(e.name);
    assert.deepEqual(left.sort(), ["capture.json", "changes.bundle", "source.json"]);
    const capture = await readCapture(state);
    assert.deepEqual(capture?.archives, []);
    assert.equal(capture?.tip, CAPTURE.tip, "the commits stay (diff, export)");
    assert.equal(await planResumedWorkspace(deps(), state, null), null);
    // A record naming anything but an archive of the workspace dir restores nothing.
    await Deno.writeFile(files.guestTar, new Uint8Array(10));
    await writeCapture(state, { ...CAPTURE, archives: ["../../etc/passwd"] });
    assert.equal(await planResumedWorkspace(deps(), state, null), null);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
