/**
 * Seeded fuzz: every generated manifest ends in a value or a clean
 * ManifestError (no other exception, no stack trace, a bounded message).
 */
import assert from "node:assert/strict";
import { ManifestError } from "../../lib/manifest/manifest_error.ts";
import { parseManifestText } from "../../lib/manifest/parse_manifest.ts";
import { resolveBottle } from "../../lib/manifest/resolve_bottle.ts";
import type { Manifest } from "../../lib/manifest/types.ts";
import { generateManifests } from "./_manifest_generator.ts";

const SEED = 0x5eed_b0b;
const COUNT = 12_000;
const PATH = "/fuzz/bot-bottle.toml";
/**
 * No message should grow with the input: huge values are truncated, and one message lists at
 * most 20 problems.
 */
const MAX_MESSAGE = 6_000;

type Outcome = "value" | "error";

function checkError(error: unknown, index: number, stage: string): void {
  const where = `seed ${SEED}, input index ${index}, ${stage}`;
  if (!(error instanceof ManifestError)) {
    const detail = error instanceof Error ? error.stack ?? error.message : String(error);
    assert.fail(`${where}: threw something other than a ManifestError:\n${detail}`);
  }
  const message = error.message;
  assert.ok(message.length > 0, `${where}: empty message`);
  assert.ok(message.length <= MAX_MESSAGE, `${where}: message of ${message.length} characters`);
  assert.ok(!/^\s*at /m.test(message), `${where}: stack trace in message:\n${message}`);
  assert.ok(!/\p{Cc}/u.test(message.replace(/\n/g, "")), `${where}: control character in message`);
  assert.ok(message.startsWith(PATH), `${where}: message does not name the file: ${message}`);
}

function runOne(text: string, index: number, scope: "user" | "project"): Outcome[] {
  let manifest: Manifest;
  try {
    manifest = { files: [PATH], ...parseManifestText(text, PATH, scope) };
  } catch (error) {
    checkError(error, index, `parse (${scope})`);
    return ["error"];
  }
  const outcomes: Outcome[] = [];
  for (const name of Object.keys(manifest.bottles)) {
    try {
      const resolved = resolveBottle(manifest, name);
      assert.equal(
        [resolved.image, resolved.dockerfile].filter((v) => v !== undefined).length,
        1,
        `seed ${SEED}, input index ${index}: ${name} resolved without exactly one image source`,
      );
      assert.equal(resolved.chain[resolved.chain.length - 1], name);
      outcomes.push("value");
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      checkError(error, index, `resolveBottle(${JSON.stringify(name)})`);
      outcomes.push("error");
    }
  }
  return outcomes.length === 0 ? ["value"] : outcomes;
}

Deno.test(`fuzz: ${COUNT} generated manifests end in a value or a clean ManifestError`, () => {
  const started = performance.now();
  let parsed = 0;
  let refused = 0;
  let resolvedValues = 0;
  let index = 0;
  for (const text of generateManifests(SEED, COUNT)) {
    const scope = index % 7 === 0 ? "project" : "user";
    const outcomes = runOne(text, index, scope);
    if (outcomes[0] === "error" && outcomes.length === 1) refused++;
    else parsed++;
    resolvedValues += outcomes.filter((o) => o === "value").length;
    index++;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `fuzz: seed ${SEED}: ${index} inputs, ${parsed} parsed, ${refused} refused, ` +
      `${resolvedValues} resolved values, ${seconds.toFixed(1)} s`,
  );
  assert.equal(index, COUNT);
  // The generator must exercise both outcomes, or the fuzz proves little.
  assert.ok(parsed > COUNT / 20, `only ${parsed} inputs parsed`);
  assert.ok(refused > COUNT / 4, `only ${refused} inputs refused`);
  assert.ok(resolvedValues > COUNT / 20, `only ${resolvedValues} bottles resolved`);
});

Deno.test("fuzz: the generator is deterministic for a seed", () => {
  const a = [...generateManifests(7, 50)];
  const b = [...generateManifests(7, 50)];
  const c = [...generateManifests(8, 50)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});
