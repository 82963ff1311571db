/**
 * `logs`'s table: one row per record, fixed-width columns so rows line up as
 * they stream in with `-f`. Every cell comes from the bundle, and much of it
 * from the agent (host names, paths, ref names), so it is shown with its
 * control characters escaped: a log line can never drive the terminal.
 */
import { visible } from "../plan/render_plan.ts";
import type { AuditRecord } from "./audit_records.ts";

const HEADER = ["TIME", "SOURCE", "DECISION", "METHOD", "HOST:PORT", "REASON"];
const WIDTHS = [24, 7, 9, 7, 34];
const SHOWN = new Set(["time", "source", "decision", "method", "host", "port", "reason"]);
/** Extra fields worth a column of their own, in this order, before any other. */
const FIRST_EXTRAS = ["path", "refs", "commits", "findings", "entry", "id", "detail"];

/** The table's header line. */
export function auditHeader(): string {
  return formatRow(HEADER);
}

/** One record as a table row. */
export function auditRow(record: AuditRecord): string {
  const where = record.host === null
    ? "-"
    : record.port === null
    ? record.host
    : `${record.host}:${record.port}`;
  const extras = Object.keys(record).filter((k) => !SHOWN.has(k) && record[k] !== null);
  extras.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const tail = extras.filter((k) => !["client", "transport", "repo", "service"].includes(k))
    .map((k) => `${k}=${cell(record[k])}`);
  return formatRow([
    record.time,
    record.source,
    record.decision,
    record.method ?? "-",
    where,
    [record.reason ?? "-", ...tail].join(" "),
  ]);
}

function rank(key: string): number {
  const i = FIRST_EXTRAS.indexOf(key);
  return i === -1 ? FIRST_EXTRAS.length : i;
}

function cell(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function formatRow(cells: string[]): string {
  return cells.map((c, i) => {
    const text = visible(String(c));
    return i < WIDTHS.length ? text.padEnd(WIDTHS[i]) : text;
  }).join(" ").trimEnd();
}
