/**
 * A bottle's audit log as the host reads it (SPEC §13): the JSON lines the
 * bundle wrote to `<state dir>/audit/audit.jsonl` and its rotated files
 * (`.1` newest ... `.3` oldest). The bundle is the only writer; bot-bottle
 * only reads, so a line the bundle half-wrote or an agent-chosen string is
 * data here, never trusted as anything else.
 */
import { auditDir } from "../state/approvals.ts";

/** One decision (the fields every record has; sources add their own). */
export interface AuditRecord {
  time: string;
  source: string;
  decision: string;
  host: string | null;
  port: number | null;
  method: string | null;
  reason: string | null;
  path?: string | null;
  [key: string]: unknown;
}

/** The log file the bundle appends to. */
export function auditLogPath(stateDir: string): string {
  return `${auditDir(stateDir)}/audit.jsonl`;
}

/** The rotated files that may exist, oldest first (the bundle keeps `keep` of them). */
export function rotatedPaths(stateDir: string, keep = 3): string[] {
  const path = auditLogPath(stateDir);
  return Array.from({ length: keep }, (_, i) => `${path}.${keep - i}`);
}

/** Parse one line; null for a line that is not a record (a torn write, garbage). */
export function parseAuditLine(line: string): AuditRecord | null {
  const text = line.trim();
  if (text === "") return null;
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
    if (typeof value.time !== "string" || typeof value.source !== "string") return null;
    if (typeof value.decision !== "string") return null;
    return {
      ...value,
      host: typeof value.host === "string" ? value.host : null,
      port: Number.isInteger(value.port) ? value.port : null,
      method: typeof value.method === "string" ? value.method : null,
      reason: typeof value.reason === "string" ? value.reason : null,
    };
  } catch {
    return null;
  }
}

/** Every record on disk, oldest first, and how many lines were not records. */
export async function readAuditRecords(
  stateDir: string,
  which: { current?: boolean } = {},
): Promise<{ records: AuditRecord[]; skipped: number }> {
  const records: AuditRecord[] = [];
  let skipped = 0;
  const paths = [
    ...rotatedPaths(stateDir),
    ...(which.current === false ? [] : [auditLogPath(stateDir)]),
  ];
  for (const path of paths) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const record = parseAuditLine(line);
      if (record) records.push(record);
      else skipped++;
    }
  }
  return { records, skipped };
}
