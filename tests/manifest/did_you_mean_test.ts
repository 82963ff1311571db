/**
 * Near-miss hints: Damerau/Levenshtein (adjacent swaps count as one edit), at most 2.
 */
import assert from "node:assert/strict";
import { didYouMean, didYouMeanSuffix, editDistance } from "../../lib/manifest/did_you_mean.ts";

Deno.test("editDistance counts insertions, deletions, substitutions and swaps", () => {
  const table: [string, string, number][] = [
    ["", "", 0],
    ["", "abc", 3],
    ["image", "image", 0],
    ["imgae", "image", 1], // swap
    ["imag", "image", 1], // insertion
    ["imagee", "image", 1], // deletion
    ["imaje", "image", 1], // substitution
    ["hostkey", "host_key", 1],
    ["cpu", "cpus", 1],
    ["kitten", "sitting", 3],
    ["ca", "abc", 3], // optimal string alignment, not full Damerau
  ];
  for (const [a, b, d] of table) assert.equal(editDistance(a, b), d, `${a} -> ${b}`);
});

Deno.test("didYouMean picks the closest candidate within 2 edits", () => {
  const keys = ["extends", "image", "dockerfile", "cpus", "memory", "env", "secrets"];
  assert.equal(didYouMean("imgae", keys), "image");
  assert.equal(didYouMean("secret", keys), "secrets");
  assert.equal(didYouMean("runtime", keys), undefined);
  assert.equal(didYouMean("image", keys), undefined, "an exact match is not a hint");
  assert.equal(didYouMean("x".repeat(1000), keys), undefined);
  assert.equal(didYouMeanSuffix("cpu", keys), ' (did you mean "cpus"?)');
  assert.equal(didYouMeanSuffix("zzzzzz", keys), "");
  assert.equal(didYouMean("zz", ["a", "b"]), undefined, "as many edits as letters is no near miss");
  assert.equal(didYouMean("dve", ["dev"]), "dev");
});
