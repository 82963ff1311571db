import assert from "node:assert/strict";
import { parseAuditLine } from "../../lib/audit/audit_records.ts";
import { heldEntry, heldLines } from "../../lib/launch/held_requests.ts";

const rec = (o: Record<string, unknown>) =>
  parseAuditLine(JSON.stringify({ time: "t", source: "proxy", ...o }))!;

Deno.test("heldEntry: the port only when it is not the method's default", () => {
  assert.equal(
    heldEntry(rec({ decision: "pending", host: "a.test", port: 443, method: "CONNECT" })),
    "a.test",
  );
  assert.equal(
    heldEntry(rec({ decision: "pending", host: "a.test", port: 80, method: "GET" })),
    "a.test",
  );
  assert.equal(
    heldEntry(rec({ decision: "pending", host: "a.test", port: 8443, method: "CONNECT" })),
    "a.test:8443",
  );
  assert.equal(
    heldEntry(rec({ decision: "pending", host: "a.test", port: 443, method: "GET" })),
    "a.test:443",
  );
});

Deno.test("heldLines: a pending request names both answers; only its own outcome follows", () => {
  const held = new Set<string>();
  const pending = heldLines(
    "b-1",
    rec({
      decision: "pending",
      host: "x.test",
      port: 443,
      method: "CONNECT",
      id: "i1",
      timeout_seconds: 30,
    }),
    held,
  );
  assert.deepEqual(pending, [
    "bottle b-1 is holding CONNECT x.test:443 (not on the allowlist) for up to 30 s:",
    "  let it through: bot-bottle approve b-1 x.test",
    "  refuse it:      bot-bottle deny b-1 x.test",
  ]);
  // Unrelated records and records of other requests say nothing.
  assert.deepEqual(heldLines("b-1", rec({ decision: "deny", host: "y.test", port: 80 }), held), []);
  assert.deepEqual(
    heldLines("b-1", rec({ decision: "allow", host: "y.test", id: "other" }), held),
    [],
  );
  assert.deepEqual(
    heldLines(
      "b-1",
      rec({ decision: "allow", host: "x.test", port: 443, method: "CONNECT", id: "i1" }),
      held,
    ),
    ["held CONNECT x.test:443: approved, let through"],
  );
  heldLines(
    "b-1",
    rec({ decision: "pending", host: "z.test", port: 80, method: "GET", id: "i2" }),
    held,
  );
  assert.deepEqual(
    heldLines(
      "b-1",
      rec({
        decision: "deny",
        host: "z.test",
        port: 80,
        method: "GET",
        id: "i2",
        detail: "no answer within 30 s",
      }),
      held,
    ),
    ["held GET z.test:80: refused: no answer within 30 s"],
  );
  // A host name cannot smuggle terminal control into the start terminal.
  const evil = heldLines(
    "b-1",
    rec({
      decision: "pending",
      host: "e\x1b]0;x\x07.test",
      port: 443,
      method: "CONNECT",
      id: "i3",
    }),
    held,
  );
  assert.ok(evil.every((l) => !l.includes("\x1b") && !l.includes("\x07")), evil.join("\n"));
});
