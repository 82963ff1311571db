import assert from "node:assert/strict";
import { isValidSlug, makeSlug, randomSuffix } from "../../lib/plan/slug.ts";

Deno.test("slug is <base>-<5 base36>", () => {
  assert.equal(makeSlug("demo", "abc12"), "demo-abc12");
  assert.match(makeSlug("researcher"), /^researcher-[a-z0-9]{5}$/);
});

Deno.test("slugs stay valid container and machine names", () => {
  const table: [string, string][] = [
    ["a--b", "a-b-abc12"],
    ["trailing-", "trailing-abc12"],
    ["x".repeat(80), `${"x".repeat(57)}-abc12`],
    [`${"y".repeat(56)}--z`, `${"y".repeat(56)}-abc12`],
  ];
  for (const [base, want] of table) {
    const slug = makeSlug(base, "abc12");
    assert.equal(slug, want);
    assert.ok(isValidSlug(slug), slug);
    assert.ok(slug.length <= 63);
  }
});

Deno.test("isValidSlug rejects what Docker or smolvm would", () => {
  for (const bad of ["", "1abc", "a--b", "a-", "A-b", "a_b", "a".repeat(64)]) {
    assert.equal(isValidSlug(bad), false, bad);
  }
});

Deno.test("random suffixes are base36 and vary", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = randomSuffix();
    assert.match(s, /^[a-z0-9]{5}$/);
    seen.add(s);
  }
  assert.ok(seen.size > 190);
});
