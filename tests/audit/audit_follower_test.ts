import assert from "node:assert/strict";
import { followAudit } from "../../lib/audit/audit_follower.ts";
import { auditLogPath, type AuditRecord } from "../../lib/audit/audit_records.ts";

const rec = (n: number) =>
  `${JSON.stringify({ time: `t${n}`, source: "proxy", decision: "deny", host: `h${n}` })}\n`;

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

Deno.test("followAudit: new records, across a rotation, without losing the old file's tail", async () => {
  const dir = await Deno.makeTempDir();
  const log = auditLogPath(dir);
  await Deno.mkdir(`${dir}/audit`);
  await Deno.writeTextFile(log, rec(0));
  const seen: string[] = [];
  const controller = new AbortController();
  let ready!: () => void;
  const positioned = new Promise<void>((r) => (ready = r));
  const following = followAudit(dir, (r: AuditRecord) => seen.push(r.host!), {
    fromEnd: true,
    intervalMs: 20,
    signal: controller.signal,
    onReady: ready,
  });
  try {
    await positioned;
    await Deno.writeTextFile(log, rec(1), { append: true });
    await until(() => seen.length === 1, "h1");
    // A line written in two pieces is delivered once, whole.
    await Deno.writeTextFile(log, rec(2).slice(0, 10), { append: true });
    await new Promise((r) => setTimeout(r, 60));
    await Deno.writeTextFile(log, rec(2).slice(10), { append: true });
    // Then the bundle's rotation: a last line, rename, a new file.
    await Deno.writeTextFile(log, rec(3), { append: true });
    await Deno.rename(log, `${log}.1`);
    await Deno.writeTextFile(log, rec(4));
    await until(() => seen.length === 4, "h2..h4");
    assert.deepEqual(seen, ["h1", "h2", "h3", "h4"]);
  } finally {
    controller.abort();
    await following;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("followAudit: stops when done() says so, after a last read", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/audit`);
  const seen: string[] = [];
  let stop = false;
  const following = followAudit(dir, (r) => seen.push(r.host!), {
    fromEnd: false,
    intervalMs: 20,
    signal: new AbortController().signal,
    done: () => stop,
  });
  await Deno.writeTextFile(auditLogPath(dir), rec(1));
  await until(() => seen.length === 1, "h1 from a file created after the start");
  await Deno.writeTextFile(auditLogPath(dir), rec(2), { append: true });
  stop = true;
  await following;
  assert.deepEqual(seen, ["h1", "h2"]);
  await Deno.remove(dir, { recursive: true });
});
