import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Sha256, sha256Hex } from "../../lib/plan/sha256.ts";
import { bundleImageTag } from "../../lib/bundle/bundle_image.ts";
import { BUNDLE_FILES } from "../../lib/bundle/bundle_files.ts";

Deno.test("sha256: the FIPS 180-4 vectors", () => {
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  assert.equal(
    sha256Hex("a".repeat(1_000_000)),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  );
});

Deno.test("sha256 agrees with node:crypto on every length around the block edges, split or whole", () => {
  for (let n = 0; n < 300; n++) {
    const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    const expected = createHash("sha256").update(data).digest("hex");
    assert.equal(sha256Hex(data), expected, `length ${n}`);
    const split = new Sha256().update(data.subarray(0, n >> 1)).update(data.subarray(n >> 1));
    assert.equal(split.hex(), expected, `length ${n}, in two parts`);
  }
  assert.equal(sha256Hex("ünïcode ✓"), createHash("sha256").update("ünïcode ✓").digest("hex"));
});

Deno.test("the bundle image tag is what node:crypto over the same bytes gives (no tag change)", () => {
  const hash = createHash("sha256");
  for (const path of Object.keys(BUNDLE_FILES).sort()) {
    hash.update(path, "utf8").update("\0").update(BUNDLE_FILES[path], "utf8").update("\0");
  }
  assert.equal(bundleImageTag(), `bot-bottle/bundle:${hash.digest("hex").slice(0, 12)}`);
});
