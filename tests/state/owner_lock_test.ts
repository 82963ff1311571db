import assert from "node:assert/strict";
import { ownerAlive, takeOwnerLock } from "../../lib/state/owner_lock.ts";

const LOCK_MODULE = new URL("../../lib/state/owner_lock.ts", import.meta.url).href;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-owner-lock-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("no lock file: nobody owns the bottle", async () => {
  await withDir(async (dir) => {
    assert.equal(await ownerAlive(dir), false);
    assert.equal(await ownerAlive(`${dir}/no-such-dir`), false);
  });
});

Deno.test("a held lock is seen from another open; a released one is not", async () => {
  await withDir(async (dir) => {
    const lock = await takeOwnerLock(dir);
    assert.ok(lock);
    const mode = (await Deno.stat(`${dir}/owner.lock`)).mode! & 0o777;
    assert.equal(mode, 0o600);
    try {
      assert.equal(await ownerAlive(dir), true);
      // Looking does not take it away: still held, still seen.
      assert.equal(await ownerAlive(dir), true);
      // A second launch cannot take it.
      assert.equal(await takeOwnerLock(dir), null);
    } finally {
      lock.release();
    }
    assert.equal(await ownerAlive(dir), false);
    lock.release(); // twice is harmless
    // Free again: the next launch gets it.
    const again = await takeOwnerLock(dir);
    assert.ok(again);
    again.release();
  });
});

Deno.test("a process killed with SIGKILL while holding the lock leaves it free", async () => {
  await withDir(async (dir) => {
    const script = `
      import { takeOwnerLock } from ${JSON.stringify(LOCK_MODULE)};
      const lock = await takeOwnerLock(${JSON.stringify(dir)});
      console.log(lock ? "locked" : "busy");
      await new Promise((r) => setTimeout(r, 60_000));
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-prompt", "-q", script],
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    let killed = false;
    try {
      // Wait (bounded) for the child to say it holds the lock.
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let said = "";
      const deadline = Date.now() + 30_000;
      while (!said.includes("\n") && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        said += value;
      }
      reader.releaseLock();
      assert.equal(said.trim(), "locked");
      assert.equal(await ownerAlive(dir), true);
      assert.equal(await takeOwnerLock(dir), null);

      child.kill("SIGKILL");
      killed = true;
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      assert.equal(await ownerAlive(dir), false);
      const mine = await takeOwnerLock(dir);
      assert.ok(mine, "the lock of a killed process must be free for the next owner");
      mine.release();
    } finally {
      if (!killed) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        await child.status;
      }
      await child.stdout.cancel().catch(() => {});
    }
  });
});

Deno.test("owner lock: concurrent liveness probes never see each other as an owner", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bbtest-owner-" });
  try {
    const lock = await takeOwnerLock(dir);
    assert.ok(lock);
    lock.release();
    // A probe from another process holds a shared lock while we probe and take ownership.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const f = await Deno.open(${JSON.stringify(`${dir}/owner.lock`)}, { read: true });` +
        `await f.lock(false); console.log("held"); await new Promise((r) => setTimeout(r, 400)); f.close();`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /held/);
    assert.equal(await ownerAlive(dir), false, "a shared probe is not an owner");
    const taken = await takeOwnerLock(dir);
    assert.ok(taken, "ownership waits out a probe's shared lock");
    assert.equal(await ownerAlive(dir), true);
    taken.release();
    reader.releaseLock();
    await holder.stdout.cancel();
    await holder.status;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
