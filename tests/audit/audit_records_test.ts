import assert from "node:assert/strict";
import { auditLogPath, parseAuditLine, readAuditRecords } from "../../lib/audit/audit_records.ts";
import { auditHeader, auditRow } from "../../lib/audit/render_audit.ts";

const REC = (n: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    time: `2026-12-01T10:00:0${n}.000Z`,
    source: "proxy",
    decision: "deny",
    host: `h${n}.test`,
    port: 443,
    method: "CONNECT",
    reason: "not_allowed",
    ...extra,
  });

Deno.test("parseAuditLine: records, and null for anything that is not one", () => {
  assert.equal(parseAuditLine(REC(1))?.host, "h1.test");
  for (
    const bad of ["", "{", "[]", "null", '{"time":"t"}', '{"time":1,"source":"x","decision":"y"}']
  ) {
    assert.equal(parseAuditLine(bad), null, bad);
  }
  const odd = parseAuditLine('{"time":"t","source":"s","decision":"d","host":5,"port":"80"}')!;
  assert.equal(odd.host, null);
  assert.equal(odd.port, null);
});

Deno.test("readAuditRecords: rotated files oldest first, then the current one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = auditLogPath(dir);
    await Deno.mkdir(`${dir}/audit`);
    await Deno.writeTextFile(`${log}.2`, `${REC(1)}\n`);
    await Deno.writeTextFile(`${log}.1`, `${REC(2)}\ngarbage\n`);
    await Deno.writeTextFile(log, `${REC(3)}\n${REC(4).slice(0, 20)}`); // a torn last line
    const { records, skipped } = await readAuditRecords(dir);
    assert.deepEqual(records.map((r) => r.host), ["h1.test", "h2.test", "h3.test"]);
    assert.equal(skipped, 2);
    const old = await readAuditRecords(dir, { current: false });
    assert.deepEqual(old.records.map((r) => r.host), ["h1.test", "h2.test"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("auditRow: columns line up, extras follow the reason, nothing drives the terminal", () => {
  const row = auditRow(
    parseAuditLine(REC(1, { path: "/x\x1b[2J", id: "abc", client: "1.2.3.4:5" }))!,
  );
  assert.ok(!row.includes("\x1b"), row);
  assert.match(
    row,
    /^2026-12-01T10:00:01\.000Z proxy +deny +CONNECT h1\.test:443 +not_allowed path=\/x\\e\[2J id=abc$/,
  );
  assert.equal(auditHeader().indexOf("HOST:PORT"), row.indexOf("h1.test"));
  const dns = auditRow(
    parseAuditLine(
      '{"time":"t","source":"dns","decision":"deny","host":"a\\u202eb","port":53,"method":"A","reason":"dns_sink"}',
    )!,
  );
  assert.match(dns, /a\\u202eb:53/);
});
