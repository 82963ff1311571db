/**
 * The isolation suite's report (SPEC §13): the script's `check` lines parsed
 * into `{"schema":1,"slug","checks":[{"id","status","detail","ms"}]}`, every
 * listed check present — one that did not report is a failure that says
 * so — and the table `verify` prints. Pure.
 */
import { visible } from "../plan/render_plan.ts";
import { VERIFY_CHECKS } from "./isolation_script.ts";

/** One check's result. */
export interface VerifyCheck {
  id: string;
  status: "pass" | "fail" | "skip";
  detail: string;
  ms: number;
}

/** `verify --json`. */
export interface VerifyReport {
  schema: 1;
  slug: string;
  backend: string;
  checks: VerifyCheck[];
  /** True when no check failed. */
  passed: boolean;
}

/** Parse the script's output; `problem` explains checks that did not report. */
export function parseVerifyOutput(
  slug: string,
  backend: string,
  stdout: string,
  problem: string,
): VerifyReport {
  const seen = new Map<string, VerifyCheck>();
  for (const line of stdout.split("\n")) {
    const [tag, id, status, ms, ...rest] = line.split("\t");
    if (tag !== "check" || !id || seen.has(id)) continue;
    if (status !== "pass" && status !== "fail" && status !== "skip") continue;
    seen.set(id, { id, status, detail: rest.join(" ").trim(), ms: Math.max(0, Number(ms) || 0) });
  }
  const checks = VERIFY_CHECKS.map((c) =>
    seen.get(c.id) ?? {
      id: c.id,
      status: "fail" as const,
      detail: `did not report: ${problem}`,
      ms: 0,
    }
  );
  return {
    schema: 1,
    slug,
    backend,
    checks,
    passed: checks.every((c) => c.status !== "fail"),
  };
}

/** The report as a table, with a summary line. */
export function renderVerifyReport(report: VerifyReport): string {
  const width = Math.max(...report.checks.map((c) => c.id.length));
  const lines = report.checks.map((c) =>
    `${c.status === "pass" ? "PASS" : c.status === "fail" ? "FAIL" : "SKIP"}  ${
      c.id.padEnd(width)
    }  ${String(c.ms).padStart(5)} ms  ${visible(c.detail)}`
  );
  const failed = report.checks.filter((c) => c.status === "fail").length;
  const skipped = report.checks.filter((c) => c.status === "skip").length;
  lines.push(
    `${report.checks.length - failed - skipped} passed, ${failed} failed, ${skipped} skipped ` +
      `(bottle ${report.slug}, ${report.backend})`,
  );
  return `${lines.join("\n")}\n`;
}
