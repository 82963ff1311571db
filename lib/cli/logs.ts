/**
 * `bot-bottle logs <slug> [-f] [--json]`: a bottle's audit log (SPEC §13) —
 * every decision its bundle made (proxy, DNS, git gate, approvals) — as a
 * table, or as the JSON lines themselves; `-f` follows a running bottle and
 * stops when it stops. Works after teardown: the log stays in the state dir.
 */
import { followAudit } from "../audit/audit_follower.ts";
import { readAuditRecords } from "../audit/audit_records.ts";
import type { AuditRecord } from "../audit/audit_records.ts";
import { auditHeader, auditRow } from "../audit/render_audit.ts";
import type { Command } from "./_shared/command.ts";
import type { CliContext } from "./_shared/context.ts";
import { findBottle, isRunning } from "./_shared/find_bottle.ts";

/**
 * JSON for a terminal: C1 controls, format characters (bidi overrides) and line separators,
 * which JSON may carry raw, as \\u escapes (the same JSON value; the screen is not rewritten).
 */
export function jsonForTerminal(text: string): string {
  return text.replace(
    /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu,
    (ch) =>
      ch.split("").map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`).join(""),
  );
}

/** Run `logs`. */
export async function runLogs(
  ctx: CliContext,
  opts: { slug: string; follow: boolean; json: boolean; signal?: AbortSignal },
): Promise<number> {
  const bottle = await findBottle(ctx, opts.slug);
  const json = (record: AuditRecord) =>
    ctx.stdoutIsTerminal ? jsonForTerminal(JSON.stringify(record)) : JSON.stringify(record);
  const print = (record: AuditRecord) =>
    ctx.stdout(`${opts.json ? json(record) : auditRow(record)}\n`);
  if (!opts.json) ctx.stdout(`${auditHeader()}\n`);
  if (!opts.follow || !bottle.running) {
    const { records, skipped } = await readAuditRecords(bottle.stateDir);
    records.forEach(print);
    if (records.length === 0) {
      ctx.stderr(`bot-bottle: bottle ${opts.slug} has no audit records yet\n`);
    }
    if (skipped > 0) ctx.stderr(`bot-bottle: ${skipped} unreadable line(s) skipped\n`);
    if (opts.follow) {
      ctx.stderr(`bot-bottle: bottle ${opts.slug} is not running; nothing more to follow\n`);
    }
    return 0;
  }
  // Follow: the rotated files in full, then the current file from its start and onwards.
  (await readAuditRecords(bottle.stateDir, { current: false })).records.forEach(print);
  const controller = new AbortController();
  const stop = () => controller.abort();
  opts.signal?.addEventListener("abort", stop, { once: true });
  const onSignal = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const listening = opts.signal === undefined;
  if (listening) { for (const s of signals) Deno.addSignalListener(s, onSignal); }
  try {
    await followAudit(bottle.stateDir, print, {
      fromEnd: false,
      signal: controller.signal,
      done: async () => !(await isRunning(bottle.stateDir)),
    });
  } finally {
    if (listening) { for (const s of signals) Deno.removeSignalListener(s, onSignal); }
    opts.signal?.removeEventListener("abort", stop);
  }
  if (!controller.signal.aborted) {
    ctx.stderr(`bot-bottle: bottle ${opts.slug} stopped; its log stays for \`bot-bottle logs\`\n`);
  }
  return 0;
}

/** The `logs` command. */
export const command: Command = {
  name: "logs",
  args: "<slug> [-f] [--json]",
  summary: "every decision a bottle's bundle made: egress, DNS, git, approvals",
  description: `Print the bottle's audit log: one row per decision of its bundle (the egress proxy's
allow/deny/pending with the reason code, each DNS query, git pushes and fetches with
their findings, approvals and revocations), oldest first. The log is kept in the
bottle's state dir, so it is there after the bottle stops; it is rotated at 4 MiB
(3 old files kept). --json prints the records as JSON lines on stdout. -f follows
a running bottle (a new decision shows within a second) until it stops or Ctrl-C.`,
  options: {
    follow: { type: "boolean", short: "f", help: "keep printing new decisions while it runs" },
    json: { type: "boolean", help: "print the records as JSON lines (one object per line)" },
  },
  positionals: { min: 1, max: 1, missing: "<slug>" },
  run: (ctx, { values, positionals }) =>
    runLogs(ctx, {
      slug: positionals[0],
      follow: values.follow === true,
      json: values.json === true,
    }),
};
