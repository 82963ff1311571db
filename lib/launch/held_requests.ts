/**
 * With `egress.on_block = "ask"`, the terminal running `start` says what the
 * proxy is holding (SPEC §13): each pending request, with the commands that
 * answer it, and what became of it. Read from the bottle's audit log, the one
 * record of what the bundle decided.
 */
import { followAudit } from "../audit/audit_follower.ts";
import type { AuditRecord } from "../audit/audit_records.ts";
import { visible } from "../plan/render_plan.ts";

/** The `approve`/`deny` argument for a held request: the port only when it is not the default. */
export function heldEntry(record: AuditRecord): string {
  const host = record.host ?? "";
  const standard = record.method === "CONNECT" ? 443 : 80;
  return record.port === null || record.port === standard ? host : `${host}:${record.port}`;
}

/** The lines for one record, or none (only held requests and their outcome are shown). */
export function heldLines(slug: string, record: AuditRecord, held: Set<string>): string[] {
  const id = typeof record.id === "string" ? record.id : null;
  if (record.source !== "proxy" || id === null) return [];
  const what = visible(`${record.method ?? "?"} ${record.host}:${record.port}`);
  const entry = visible(heldEntry(record));
  if (record.decision === "pending") {
    held.add(id);
    const secs = typeof record.timeout_seconds === "number" ? record.timeout_seconds : 60;
    return [
      `bottle ${slug} is holding ${what} (not on the allowlist) for up to ${secs} s:`,
      `  let it through: bot-bottle approve ${slug} ${entry}`,
      `  refuse it:      bot-bottle deny ${slug} ${entry}`,
    ];
  }
  if (!held.delete(id)) return [];
  if (record.decision === "allow") return [`held ${what}: approved, let through`];
  const detail = typeof record.detail === "string" ? `: ${visible(record.detail)}` : "";
  return [`held ${what}: refused${detail}`];
}

/** Follow the log while the agent runs; `say` gets each line. `stop()` ends it. */
export function watchHeldRequests(
  stateDir: string,
  slug: string,
  say: (line: string) => void,
): { stop(): Promise<void> } {
  const controller = new AbortController();
  const held = new Set<string>();
  const following = followAudit(stateDir, (record) => {
    for (const line of heldLines(slug, record, held)) say(line);
  }, { fromEnd: true, signal: controller.signal }).catch(() => {});
  return {
    async stop() {
      controller.abort();
      await following;
    },
  };
}
