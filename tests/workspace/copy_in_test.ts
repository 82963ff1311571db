/**
 * copyIn's contract with the helper, with the helper and the guest's tar played by local
 * shells (the runner maps their docker argv): the copy is over once the guest's side ended and
 * the helper said its tar is done, not when the helper's container is gone; `cancel()` is what
 * waits for that, and stops a helper that still runs. Both stdin paths (the FIFO handed to the
 * exec, and the stream through this process).
 */
import assert from "node:assert/strict";
import type { Backend } from "../../lib/backends/backend.ts";
import { DenoRunner, type Runner, type SpawnOptions } from "../../lib/host/runner.ts";
import { copyIn, startSnapshot } from "../../lib/workspace/copy_in.ts";

const BASE = "a".repeat(40);

/** The helper's part: make the FIFO, say the base, write `data` into it, say done, then hold. */
function helperScript(fifoDir: string, data: string, rc: number): string {
  return [
    `mkfifo '${fifoDir}/tar'`,
    `echo 'bb-workspace: base ${BASE}' >&2`,
    `exec 3>'${fifoDir}/tar'`,
    "echo 'bb-workspace: streaming' >&2",
    `printf '%s' '${data}' >&3`,
    "exec 3>&-",
    `echo 'bb-workspace: done ${rc}' >&2`,
    // Held: a container whose removal takes its time (not stopped: it said it is done).
    "exec sleep 2",
  ].join("; ");
}

/**
 * A runner whose `docker run` is the helper script (or `script`, given the FIFO's dir) and
 * whose exec is `cat > out`.
 */
function fakeRunner(
  out: string,
  data: string,
  rc: number,
  script: (fifoDir: string) => string = (dir) => helperScript(dir, data, rc),
): Runner {
  const real = new DenoRunner();
  return {
    run: (argv, options) => real.run(argv, options),
    spawn(argv: string[], options: SpawnOptions = {}) {
      if (argv[1] === "run") {
        const mount = argv.find((a) => a.includes("target=/stream"))!;
        const fifoDir = /source=([^,]+)/.exec(mount)![1];
        return real.spawn(["sh", "-c", script(fifoDir)], options);
      }
      return real.spawn(["sh", "-c", `cat > '${out}'`], options);
    },
  };
}

function backend(fromFd: boolean): Backend {
  return {
    execArgv: () => ["docker", "exec", "guest"],
    execStdinFromFd: fromFd,
  } as unknown as Backend;
}

for (const fromFd of [true, false]) {
  const path = fromFd ? "the FIFO handed to the exec" : "the stream through this process";
  Deno.test(`copyIn (${path}): over on the helper's word; cancel() waits for it`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/guest`;
      const runner = fakeRunner(out, "the workspace", 0);
      const helper = { runner, image: "img", uid: 0, gid: 0, labels: {} };
      const snapshot = await startSnapshot({
        runner,
        helper,
        root: "/src",
        tree: "git",
        streamDir: dir,
      });
      let helperGone = false;
      snapshot.helper.status.then(() => (helperGone = true));
      const copied = await copyIn({
        runner,
        backend: backend(fromFd),
        slug: "s",
        helper,
        source: { kind: "started", snapshot },
        expectBytes: 0,
        onProgress: null,
        streamDir: dir,
      });
      assert.equal(await Deno.readTextFile(out), "the workspace");
      assert.equal(copied.base, BASE);
      assert(!helperGone, "the copy waited for the helper's exit");
      await snapshot.cancel();
      assert(helperGone, "cancel() returned with the helper still running");
      assert.equal(await snapshot.helper.status, 0, "a helper that said done was stopped");
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name),
        ["guest"],
        "the FIFO dir is left",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("copyIn: a helper that says its tar failed fails the copy, with what it said", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const runner = fakeRunner(`${dir}/guest`, "part", 2);
    const helper = { runner, image: "img", uid: 0, gid: 0, labels: {} };
    const snapshot = await startSnapshot({
      runner,
      helper,
      root: "/src",
      tree: "git",
      streamDir: dir,
    });
    const error = await copyIn({
      runner,
      backend: backend(true),
      slug: "s",
      helper,
      source: { kind: "started", snapshot },
      expectBytes: 0,
      onProgress: null,
      streamDir: dir,
    }).then(() => null, (e: Error) => e);
    await snapshot.cancel();
    assert(error !== null, "a failed tar was taken for a copy");
    assert.match(error.message, /host side \(exit 2\): bb-workspace: base a{40}$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("copyIn: a done line before the helper streams is not its word", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // What a failure naming a directory called "x\nbb-workspace: done 0" would print unescaped.
    const runner = fakeRunner(
      `${dir}/guest`,
      "",
      0,
      () => "echo 'bb-workspace: cannot read x' >&2; echo 'bb-workspace: done 0' >&2; exit 3",
    );
    const helper = { runner, image: "img", uid: 0, gid: 0, labels: {} };
    const error = await copyIn({
      runner,
      backend: backend(true),
      slug: "s",
      helper,
      source: { kind: "snapshot", root: "/src", tree: "git" },
      expectBytes: 0,
      onProgress: null,
      streamDir: dir,
    }).then(() => null, (e: Error) => e);
    assert(error !== null, "a helper that failed before streaming was taken for a copy");
    assert.match(error.message, /host side \(exit 3\): bb-workspace: cannot read x$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("copyIn: a helper that ends without streaming fails the copy, exit 0 or not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const fromFd of [true, false]) {
      // It made its FIFO and left without opening it (or saying done).
      const runner = fakeRunner(
        `${dir}/guest`,
        "",
        0,
        (fifoDir) => `mkfifo '${fifoDir}/tar'; echo 'bb-workspace: base ${BASE}' >&2; exit 0`,
      );
      const helper = { runner, image: "img", uid: 0, gid: 0, labels: {} };
      const error = await copyIn({
        runner,
        backend: backend(fromFd),
        slug: "s",
        helper,
        source: { kind: "snapshot", root: "/src", tree: "git" },
        expectBytes: 0,
        onProgress: null,
        streamDir: dir,
      }).then(() => null, (e: Error) => e);
      assert(error !== null, `fromFd ${fromFd}: a helper that never streamed was taken for a copy`);
      assert.match(error.message, /host side \(it ended without streaming\)/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cancel(): a stop the helper missed (before its handler) is sent again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Deaf to SIGTERM for its first second, as the helper is until its handler is installed.
    const runner = fakeRunner(
      `${dir}/guest`,
      "",
      0,
      () => "trap '' TERM; sleep 1; trap - TERM; exec sleep 30",
    );
    const helper = { runner, image: "img", uid: 0, gid: 0, labels: {} };
    const snapshot = await startSnapshot({
      runner,
      helper,
      root: "/src",
      tree: "git",
      streamDir: dir,
    });
    let gone = false;
    snapshot.helper.status.then(() => (gone = true));
    await snapshot.cancel();
    assert(gone, "cancel() returned with the helper still running");
    assert.equal(await snapshot.helper.status, 143);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
