import assert from "node:assert/strict";
import { formatSize, parseSize } from "../../lib/workspace/workspace_size.ts";
import { workspaceCheck } from "../../lib/workspace/workspace_check.ts";
import { mountValue, workspaceHelperArgv } from "../../lib/workspace/workspace_helper_argv.ts";
import { workspaceDockerfile } from "../../lib/workspace/workspace_image.ts";
import { describeCapture } from "../../lib/workspace/capture_workspace.ts";
import type { PlannedWorkspace } from "../../lib/plan/plan_types.ts";
import type { CaptureRecord } from "../../lib/workspace/workspace_state.ts";

Deno.test("sizes: parsed with binary units, shown to one decimal", () => {
  assert.equal(parseSize("4GiB", "--x"), 4 * 1024 ** 3);
  assert.equal(parseSize("500MiB", "--x"), 500 * 1024 ** 2);
  assert.equal(parseSize("2g", "--x"), 2 * 1024 ** 3);
  assert.equal(parseSize("1.5 KiB", "--x"), 1536);
  assert.equal(parseSize("123", "--x"), 123);
  for (const bad of ["", "lots", "-1GiB", "0", "1PB"]) {
    assert.throws(() => parseSize(bad, "--x"), /is not a size/);
  }
  assert.equal(formatSize(12), "12 bytes");
  assert.equal(formatSize(1536), "1.5 KiB");
  assert.equal(formatSize(3 * 1024 ** 3), "3.0 GiB");
});

const W: PlannedWorkspace = {
  mode: "snapshot",
  source: "/p",
  kind: "git",
  files: 10,
  bytes: 1000,
  limit_bytes: 4 * 1024 ** 3,
  base: "abc",
  branch: "main",
  dirty: false,
  guest_path: "/workspace",
  notes: [],
  unreadable: { count: 0, examples: [] },
  in_progress: null,
};

Deno.test("workspaceCheck: ok, or a refusal that names the fix", () => {
  assert.deepEqual(workspaceCheck(W).status, "ok");
  const big = workspaceCheck({ ...W, bytes: 5 * 1024 ** 3 });
  assert.equal(big.status, "fail");
  assert.match(big.fix!, /--max-workspace 6GiB/);
  const rebase = workspaceCheck({ ...W, in_progress: "rebase" });
  assert.match(rebase.fix!, /git rebase --continue.*git rebase --abort/);
  const bisect = workspaceCheck({ ...W, in_progress: "bisect" });
  assert.match(bisect.fix!, /git bisect reset/);
});

Deno.test("the helper runs confined; paths with commas and quotes mount safely", () => {
  assert.equal(
    mountValue({ source: '/a,b/"c"', target: "/src", readonly: true }),
    'type=bind,"source=/a,b/""c""",target=/src,readonly',
  );
  assert.throws(() => mountValue({ source: "/a\nb", target: "/src", readonly: true }));
  const argv = workspaceHelperArgv({
    image: "bb:1",
    uid: 1000,
    gid: 100,
    mounts: [{ source: "/p", target: "/src", readonly: true }],
    args: ["survey", "git"],
    labels: { "io.bot-bottle.slug": "s" },
  });
  assert.deepEqual(argv, [
    "docker",
    "run",
    "--rm",
    "--no-healthcheck",
    "--network",
    "none",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--user",
    "1000:100",
    "--memory",
    "1g",
    "--pids-limit",
    "256",
    "--label",
    "io.bot-bottle.slug=s",
    "--mount",
    "type=bind,source=/p,target=/src,readonly",
    "--entrypoint",
    "bb-workspace",
    "bb:1",
    "survey",
    "git",
  ]);
});

Deno.test("the workspace image: /workspace owned by the image's user, who is restored", () => {
  const text = workspaceDockerfile("sha256:abc", "agent");
  assert.match(text, /^FROM sha256:abc\nUSER 0\nRUN /);
  assert.match(text, /mkdir -p \/workspace && chown "\$uid:\$gid" \/workspace/);
  assert.match(text, /\nUSER agent\nWORKDIR \/workspace\n$/);
  // A root image stays root; a quote cannot break out of the shell word.
  assert.ok(!workspaceDockerfile("sha256:abc", "").includes("USER \n"));
  assert.ok(!workspaceDockerfile("x", "a'b").includes("'a'b'"));
});

Deno.test("describeCapture: commits, the auto-commit, findings", () => {
  const c: CaptureRecord = {
    schema: 1,
    run: "r",
    captured_at: "t",
    by: "exit",
    tip: "t",
    base: "b",
    ref: "r",
    commits: 2,
    auto_commit: true,
    files_changed: 3,
    scanned: true,
    findings: [],
    workspace_bytes: 1,
    has_bundle: true,
    error: null,
  };
  assert.equal(
    describeCapture(c),
    "workspace captured: 2 commits (the last one by bot-bottle, of uncommitted work), 3 files changed; gitleaks found nothing",
  );
  assert.match(
    describeCapture({ ...c, findings: ["aws in x"] }),
    /gitleaks found 1 thing: .*export` refuses without --allow-findings/,
  );
  assert.match(
    describeCapture({ ...c, commits: 0, scanned: false }),
    /no changes; nothing to scan/,
  );
  assert.match(
    describeCapture({ ...c, error: "no .git" }),
    /kept for resume, but not as commits: no \.git/,
  );
});

Deno.test("pipeStreams: a source past the limit is cut there, not written on", async () => {
  const { pipeStreams } = await import("../../lib/workspace/stream_pipe.ts");
  const chunks = Array.from({ length: 10 }, () => new Uint8Array(1000));
  const source = ReadableStream.from(chunks);
  let written = 0;
  const sink = new WritableStream<Uint8Array>({ write: (c) => void (written += c.byteLength) });
  const r = await pipeStreams(source, sink, () => {}, 4500);
  assert.equal(r.overLimit, true);
  assert.ok(written <= 4500, `${written} bytes written past a 4500-byte limit`);
  const under = await pipeStreams(
    ReadableStream.from([new Uint8Array(10)]),
    new WritableStream(),
    () => {},
    4500,
  );
  assert.equal(under.overLimit, false);
  assert.equal(under.bytes, 10);
});

Deno.test("pipeStreams: a file is copied whole in large reads, closed, and cut at the limit", async () => {
  const { pipeStreams } = await import("../../lib/workspace/stream_pipe.ts");
  const dir = await Deno.makeTempDir();
  try {
    const data = new Uint8Array(3 * (1 << 20) + 5).map((_, i) => i % 251);
    await Deno.writeFile(`${dir}/f`, data);
    const pieces: Uint8Array<ArrayBuffer>[] = [];
    const progress: number[] = [];
    const file = await Deno.open(`${dir}/f`);
    const r = await pipeStreams(
      file,
      new WritableStream({ write: (c) => void pieces.push(c.slice()) }),
      (n) => progress.push(n),
    );
    assert.equal(r.bytes, data.length);
    assert.equal(r.overLimit, false);
    assert.deepEqual(new Uint8Array(await new Blob(pieces).arrayBuffer()), data);
    assert.ok(pieces.length <= 5, `${pieces.length} writes for 3 MiB: read 1 MiB at a time`);
    assert.equal(progress.at(-1), data.length);
    assert.throws(() => file.readSync(new Uint8Array(1)), Deno.errors.BadResource, "closed");

    let written = 0;
    const cut = await pipeStreams(
      await Deno.open(`${dir}/f`),
      new WritableStream({ write: (c) => void (written += c.byteLength) }),
      () => {},
      (1 << 20) + 1,
    );
    assert.equal(cut.overLimit, true);
    assert.ok(written <= (1 << 20) + 1, `${written} bytes written past the limit`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
