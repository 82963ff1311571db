import assert from "node:assert/strict";
import { type EgressEntry, parseEgressEntry } from "../../lib/policy/egress_entry.ts";
import {
  approvalTexts,
  controlDir,
  readApprovals,
  withApproval,
  withDenial,
  writeApprovals,
} from "../../lib/state/approvals.ts";

function entry(text: string): EgressEntry {
  const parsed = parseEgressEntry(text);
  if ("problem" in parsed) throw new Error(parsed.problem);
  return parsed.entry;
}

Deno.test("approve and deny move an entry between the lists, once each", () => {
  let a = { approved: [], denied: [] } as { approved: EgressEntry[]; denied: EgressEntry[] };
  a = withApproval(a, entry("api.example.com"));
  a = withApproval(a, entry("api.example.com"));
  a = withApproval(a, entry("*.example.org:8443"));
  assert.deepEqual(approvalTexts(a), {
    approved: ["api.example.com", "*.example.org:8443"],
    denied: [],
  });
  a = withDenial(a, entry("api.example.com"));
  assert.deepEqual(approvalTexts(a), {
    approved: ["*.example.org:8443"],
    denied: ["api.example.com"],
  });
  a = withApproval(a, entry("api.example.com"));
  assert.deepEqual(approvalTexts(a), {
    approved: ["*.example.org:8443", "api.example.com"],
    denied: [],
  });
  // A port makes a different entry: denying host:8443 leaves the plain host approved.
  a = withDenial(a, entry("api.example.com:8443"));
  assert.deepEqual(approvalTexts(a).denied, ["api.example.com:8443"]);
  assert.ok(approvalTexts(a).approved.includes("api.example.com"));
});

Deno.test("readApprovals: none without a file; keeps only entries the grammar accepts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await readApprovals(dir), { approved: [], denied: [] });
    await writeApprovals(dir, { approved: [entry("a.example.com")], denied: [entry("10.0.0.1")] });
    assert.equal((await Deno.stat(`${controlDir(dir)}/approvals.json`)).mode! & 0o777, 0o644);
    assert.deepEqual(approvalTexts(await readApprovals(dir)), {
      approved: ["a.example.com"],
      denied: ["10.0.0.1"],
    });
    // Hand-edited garbage never becomes an allowlist entry.
    await Deno.writeTextFile(
      `${controlDir(dir)}/approvals.json`,
      JSON.stringify({
        approved: [
          { kind: "exact", host: "ok.example.com", port: null },
          { kind: "exact", host: "*", port: null },
          { kind: "suffix", suffix: "com", port: null },
          { host: "no-kind.example.com" },
          { kind: "exact", host: "UPPER.example.com", port: null },
          "string.example.com",
          null,
        ],
        denied: "not a list",
      }),
    );
    assert.deepEqual(approvalTexts(await readApprovals(dir)), {
      approved: ["ok.example.com"],
      denied: [],
    });
    await Deno.writeTextFile(`${controlDir(dir)}/approvals.json`, "{not json");
    await assert.rejects(() => readApprovals(dir), /cannot read the live approvals/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
