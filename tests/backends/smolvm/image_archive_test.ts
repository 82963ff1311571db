import assert from "node:assert/strict";
import {
  ARCHIVE_SHA_FILE,
  fileSha256,
  MAX_CACHED_ARCHIVES,
  prepareStagingDir,
  privateCopy,
  pruneCache,
  releaseStagedArchive,
  stageLock,
} from "../../../lib/backends/smolvm/image_archive.ts";
import { takeOwnerLock } from "../../../lib/state/owner_lock.ts";

const SHA = "ab".repeat(32);

async function tmp(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "bbtest-archive-" });
}

Deno.test("the private copy is world-readable and records the archive's SHA-256", async () => {
  const dir = await tmp();
  try {
    await Deno.writeTextFile(`${dir}/cached.tar`, "tar bytes");
    await Deno.chmod(`${dir}/cached.tar`, 0o600);
    const sha = await fileSha256(`${dir}/cached.tar`);
    const copy = await privateCopy({ path: `${dir}/cached.tar`, sha256: sha }, dir);
    assert.equal((await Deno.stat(copy)).mode! & 0o777, 0o644);
    assert.notEqual((await Deno.stat(copy)).ino, (await Deno.stat(`${dir}/cached.tar`)).ino);
    assert.equal((await Deno.readTextFile(`${dir}/${ARCHIVE_SHA_FILE}`)).trim(), sha);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("smolvm's staging dir is created traversable for a per-VM uid (0755)", async () => {
  const dir = await tmp();
  try {
    const staged = `${dir}/cache/smolvm-image-archives/${SHA}`;
    Deno.umask(0o077);
    await prepareStagingDir(staged);
    assert.equal((await Deno.stat(staged)).mode! & 0o777, 0o755);
    assert.equal((await Deno.stat(`${dir}/cache/smolvm-image-archives`)).mode! & 0o777, 0o755);
  } finally {
    Deno.umask(0o022);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a staged archive goes only when no other live bottle uses it", async () => {
  const dir = await tmp();
  try {
    const bottles = `${dir}/bottles`;
    const staged = `${dir}/staged/${SHA}`;
    await Deno.mkdir(staged, { recursive: true });
    await Deno.mkdir(`${bottles}/me`, { recursive: true });
    await Deno.mkdir(`${bottles}/other`, { recursive: true });
    await Deno.writeTextFile(`${bottles}/other/${ARCHIVE_SHA_FILE}`, `${SHA}\n`);
    const opts = {
      stagedDir: staged,
      sha256: SHA,
      cacheDir: `${dir}/images`,
      bottlesDir: bottles,
      self: "me",
    };
    const lock = await takeOwnerLock(`${bottles}/other`);
    assert.equal(await releaseStagedArchive(opts), null);
    assert.ok((await Deno.stat(staged)).isDirectory, "kept: another live bottle uses it");
    lock!.release();
    // A create holding the shared stage lock keeps it too (bounded wait, then it stays).
    const creating = await stageLock(opts.cacheDir, false);
    const kept = await releaseStagedArchive({ ...opts, waitMs: 200 }).catch(String);
    creating!.close();
    assert.ok((await Deno.stat(staged)).isDirectory, `kept while a create holds the lock: ${kept}`);
    assert.equal(await releaseStagedArchive(opts), null);
    assert.equal(await Deno.stat(staged).catch(() => null), null, "removed once nobody uses it");
    assert.equal(await releaseStagedArchive(opts), null, "idempotent");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the archive cache keeps the newest few", async () => {
  const dir = await tmp();
  try {
    const names = Array.from(
      { length: MAX_CACHED_ARCHIVES + 3 },
      (_, i) => `${String(i).padStart(12, "a")}.tar`,
    );
    for (const [i, name] of names.entries()) {
      await Deno.writeTextFile(`${dir}/${name}`, "x");
      await Deno.writeTextFile(`${dir}/${name}.sha256`, SHA);
      const t = new Date(Date.UTC(2026, 0, 1, 0, 0, i));
      await Deno.utime(`${dir}/${name}`, t, t);
    }
    await pruneCache(dir, `${dir}/${names[0]}`);
    const left: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".tar")) left.push(e.name);
    assert.deepEqual(left.sort(), [names[0], ...names.slice(-(MAX_CACHED_ARCHIVES - 1))].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a staged archive stays while any smolvm machine still has that image, or when smolvm cannot say", async () => {
  const dir = await tmp();
  try {
    const staged = `${dir}/staged/${SHA}`;
    await Deno.mkdir(staged, { recursive: true });
    await Deno.mkdir(`${dir}/bottles/me`, { recursive: true });
    const opts = {
      stagedDir: staged,
      sha256: SHA,
      cacheDir: `${dir}/images`,
      bottlesDir: `${dir}/bottles`,
      self: "me",
    };
    // Your own machine (or another state root's bottle) on the same local:<sha256> image.
    assert.equal(
      await releaseStagedArchive({ ...opts, machinesUsing: () => Promise.resolve(["mine"]) }),
      null,
    );
    assert.ok((await Deno.stat(staged)).isDirectory, "kept: a machine still uses it");
    const blind = await releaseStagedArchive({
      ...opts,
      machinesUsing: () => Promise.resolve("smolvm machines not listed: boom"),
    });
    assert.match(blind ?? "", /not listed: boom; the staged archive stays/);
    assert.ok((await Deno.stat(staged)).isDirectory, "kept: nothing could be checked");
    assert.equal(
      await releaseStagedArchive({ ...opts, machinesUsing: () => Promise.resolve([]) }),
      null,
    );
    assert.equal(await Deno.stat(staged).catch(() => null), null, "removed once none uses it");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
