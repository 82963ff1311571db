/**
 * copyIn's contract with the helper, with the helper and the guest's tar played by local
 * shells (the runner maps their docker argv): the copy is over once the guest's side ended and
 * the helper said its tar is done, not when the helper's container is gone; `cancel()` is what
 * waits for that, and stops a helper that still runs. A helper that never streamed fails the
 * copy. Both stdin paths (the FIFO handed to the exec, and the stream through this process).
 */
import assert from "node:assert/strict";
import type { Backend } from "../../lib/backends/backend.ts";
import { DenoRunner, type Runner, type SpawnOptions } from "../../lib/host/runner.ts";
import { copyIn, type CopySource, startSnapshot } from "../../lib/workspace/copy_in.ts";

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

/** A scratch dir (the stream dir, and `guest`, what the guest's side unpacked) for `body`. */
async function inDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Whose `docker run` is `script` (given the FIFO's dir) and whose exec is `cat > dir/guest`. */
function fakeRunner(dir: string, script: (fifoDir: string) => string): Runner {
  const real = new DenoRunner();
  return {
    run: (argv, options) => real.run(argv, options),
    spawn(argv: string[], options: SpawnOptions = {}) {
      if (argv[1] === "run") {
        const mount = argv.find((a) => a.includes("target=/stream"))!;
        const fifoDir = /source=([^,]+)/.exec(mount)![1];
        return real.spawn(["sh", "-c", script(fifoDir)], options);
      }
      return real.spawn(["sh", "-c", `cat > '${dir}/guest'`], options);
    },
  };
}

const helperOf = (runner: Runner) => ({ runner, image: "img", uid: 0, gid: 0, labels: {} });

const start = (runner: Runner, dir: string) =>
  startSnapshot({ runner, helper: helperOf(runner), root: "/src", tree: "git", streamDir: dir });

/** copyIn of `source` (the helper's own snapshot when absent) on one of the two paths. */
function copy(runner: Runner, dir: string, fromFd: boolean, source?: CopySource) {
  return copyIn({
    runner,
    backend: {
      execArgv: () => ["docker", "exec", "guest"],
      execStdinFromFd: fromFd,
    } as unknown as Backend,
    slug: "s",
    helper: helperOf(runner),
    source: source ?? { kind: "snapshot", root: "/src", tree: "git" },
    expectBytes: 0,
    onProgress: null,
    streamDir: dir,
  });
}

/** The copy's refusal (it must refuse). */
async function refusal(copying: Promise<unknown>, why: string): Promise<string> {
  const error = await copying.then(() => null, (e: Error) => e);
  assert(error !== null, why);
  return error.message;
}

for (const fromFd of [true, false]) {
  const path = fromFd ? "the FIFO handed to the exec" : "the stream through this process";
  Deno.test(`copyIn (${path}): over on the helper's word; cancel() waits for it`, () =>
    inDir(async (dir) => {
      const runner = fakeRunner(dir, (fifoDir) => helperScript(fifoDir, "the workspace", 0));
      const snapshot = await start(runner, dir);
      let helperGone = false;
      snapshot.helper.status.then(() => (helperGone = true));
      const copied = await copy(runner, dir, fromFd, { kind: "started", snapshot });
      assert.equal(await Deno.readTextFile(`${dir}/guest`), "the workspace");
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
    }));

  Deno.test(`copyIn (${path}): a helper that ends without streaming fails it, exit 0`, () =>
    inDir(async (dir) => {
      // It made its FIFO and left without opening it (or saying done).
      const runner = fakeRunner(
        dir,
        (fifoDir) => `mkfifo '${fifoDir}/tar'; echo 'bb-workspace: base ${BASE}' >&2; exit 0`,
      );
      const message = await refusal(
        copy(runner, dir, fromFd),
        "a helper that never streamed was taken for a copy",
      );
      assert.match(message, /host side \(it ended without streaming\)/);
    }));
}

Deno.test("copyIn: a helper that says its tar failed fails the copy, with what it said", () =>
  inDir(async (dir) => {
    const runner = fakeRunner(dir, (fifoDir) => helperScript(fifoDir, "part", 2));
    const snapshot = await start(runner, dir);
    const message = await refusal(
      copy(runner, dir, true, { kind: "started", snapshot }),
      "a failed tar was taken for a copy",
    );
    await snapshot.cancel();
    assert.match(message, /host side \(exit 2\): bb-workspace: base a{40}$/);
  }));

Deno.test("copyIn: a done line before the helper streams is not its word", () =>
  inDir(async (dir) => {
    // What a failure naming a directory called "x\nbb-workspace: done 0" would print unescaped.
    const runner = fakeRunner(
      dir,
      () => "echo 'bb-workspace: cannot read x' >&2; echo 'bb-workspace: done 0' >&2; exit 3",
    );
    const message = await refusal(
      copy(runner, dir, true),
      "a helper that failed before streaming was taken for a copy",
    );
    assert.match(message, /host side \(exit 3\): bb-workspace: cannot read x$/);
  }));

Deno.test("cancel(): a stop the helper missed (before its handler) is sent again", () =>
  inDir(async (dir) => {
    // Deaf to SIGTERM for its first second, as the helper is until its handler is installed.
    const runner = fakeRunner(dir, () => "trap '' TERM; sleep 1; trap - TERM; exec sleep 30");
    const snapshot = await start(runner, dir);
    let gone = false;
    snapshot.helper.status.then(() => (gone = true));
    await snapshot.cancel();
    assert(gone, "cancel() returned with the helper still running");
    assert.equal(await snapshot.helper.status, 143);
  }));
