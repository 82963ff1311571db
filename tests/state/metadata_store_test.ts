import assert from "node:assert/strict";
import {
  readMetadata,
  readStatus,
  reserveStateDir,
  writeStatus,
} from "../../lib/state/metadata_store.ts";
import { fakeMetadata, writeFakeBottle } from "../fixtures/bottle_state.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "bbtest-metadata-" });
  try {
    await fn(`${tmp}/bot-bottle`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("reserveStateDir: of many simultaneous reservations of one slug, exactly one wins", async () => {
  await withRoot(async (root) => {
    const dir = `${root}/bottles/demo-aaaaa`;
    const results = await Promise.all(Array.from({ length: 16 }, () => reserveStateDir(dir)));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(`${root}/bottles`)).mode! & 0o777, 0o700);
    // Taken for good: a later launch drawing the same slug must draw again.
    assert.equal(await reserveStateDir(dir), false);
    assert.equal(await reserveStateDir(`${root}/bottles/demo-bbbbb`), true);
  });
});

Deno.test("metadata and status: private files, round trip, unknown status is null", async () => {
  await withRoot(async (root) => {
    const dir = await writeFakeBottle(root, { slug: "demo-aaaaa", status: "starting" });
    assert.equal((await Deno.stat(`${dir}/metadata.json`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/status`)).mode! & 0o777, 0o600);
    assert.deepEqual(await readMetadata(dir), fakeMetadata({ slug: "demo-aaaaa" }));
    assert.equal(await readStatus(dir), "starting");
    await writeStatus(dir, "stopped");
    assert.equal(await readStatus(dir), "stopped");
    await Deno.writeTextFile(`${dir}/status`, "exploded\n");
    assert.equal(await readStatus(dir), null);
    assert.equal(await readMetadata(`${root}/bottles/none`), null);
    assert.equal(await readStatus(`${root}/bottles/none`), null);
    // No temp files are left beside them.
    const names = (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
    assert.deepEqual(names, ["metadata.json", "status"]);
  });
});
