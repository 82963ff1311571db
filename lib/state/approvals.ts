/**
 * A bottle's live egress decisions (`bot-bottle approve|deny`), kept in
 * `<state dir>/control/approvals.json`: the one file the bundle reads them
 * from (the dir is mounted read-only into it, and replaced atomically so the
 * proxy sees a whole file), and the record `list`, the plan and `resume` use.
 */
import { UserError } from "../errors.ts";
import { type EgressEntry, formatEgressEntry, parseEgressEntry } from "../policy/egress_entry.ts";
import { writeFileAtomic } from "./metadata_store.ts";

/** What the bottle's live allowlist adds and takes away. */
export interface Approvals {
  approved: EgressEntry[];
  denied: EgressEntry[];
}

/** The approvals as written (`api.example.com`, `*.example.org:8443`). */
export function approvalTexts(approvals: Approvals): { approved: string[]; denied: string[] } {
  return {
    approved: approvals.approved.map(formatEgressEntry),
    denied: approvals.denied.map(formatEgressEntry),
  };
}

/** `approve`: the entry joins the approvals and leaves the denials. Pure. */
export function withApproval(approvals: Approvals, entry: EgressEntry): Approvals {
  const text = formatEgressEntry(entry);
  const others = (list: EgressEntry[]) => list.filter((e) => formatEgressEntry(e) !== text);
  return { approved: [...others(approvals.approved), entry], denied: others(approvals.denied) };
}

/** `deny`: the entry leaves the approvals and joins the denials (which override the manifest). */
export function withDenial(approvals: Approvals, entry: EgressEntry): Approvals {
  const text = formatEgressEntry(entry);
  const others = (list: EgressEntry[]) => list.filter((e) => formatEgressEntry(e) !== text);
  return { approved: others(approvals.approved), denied: [...others(approvals.denied), entry] };
}

/** The control dir of a bottle (mounted read-only in its bundle). */
export function controlDir(stateDir: string): string {
  return `${stateDir}/control`;
}

/** The audit log dir of a bottle (the only host path its bundle writes). */
export function auditDir(stateDir: string): string {
  return `${stateDir}/audit`;
}

/** The recorded approvals; none when there is no file yet. */
export async function readApprovals(stateDir: string): Promise<Approvals> {
  const path = `${controlDir(stateDir)}/approvals.json`;
  let data: { approved?: unknown; denied?: unknown };
  try {
    data = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { approved: [], denied: [] };
    throw new UserError(
      `cannot read the live approvals of this bottle: ${path}: ${(error as Error).message}`,
      { hint: `fix or remove ${path} (it holds what \`bot-bottle approve|deny\` decided)` },
    );
  }
  return { approved: validEntries(data?.approved), denied: validEntries(data?.denied) };
}

/** Entries that still parse by the manifest's grammar (anything else is dropped). */
function validEntries(list: unknown): EgressEntry[] {
  if (!Array.isArray(list)) return [];
  const out: EgressEntry[] = [];
  for (const item of list) {
    const e = item as Record<string, unknown> | null;
    const field = e?.kind === "exact" ? "host" : e?.kind === "suffix" ? "suffix" : "address";
    if (
      typeof e !== "object" || e === null ||
      !["exact", "suffix", "ipv4"].includes(String(e.kind)) ||
      typeof e[field] !== "string" || !(e.port === null || Number.isInteger(e.port))
    ) continue;
    const parsed = parseEgressEntry(formatEgressEntry(e as unknown as EgressEntry));
    if ("entry" in parsed) out.push(parsed.entry);
  }
  return out;
}

/** Replace the approvals file atomically (0644 in a 0755 dir: the bundle's proxy user reads it). */
export async function writeApprovals(stateDir: string, approvals: Approvals): Promise<void> {
  const dir = controlDir(stateDir);
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  await Deno.chmod(dir, 0o755);
  await writeFileAtomic(`${dir}/approvals.json`, `${JSON.stringify(approvals, null, 2)}\n`, 0o644);
}

/**
 * Make the dirs the bundle mounts: the control dir (with its file) and the
 * audit dir, which the bundle's unprivileged proxy user writes (0777 inside
 * the 0700 state dir, so nobody else on the host can reach it).
 */
export async function prepareBundleDirs(stateDir: string): Promise<void> {
  await writeApprovals(stateDir, await readApprovals(stateDir));
  const audit = auditDir(stateDir);
  await Deno.mkdir(audit, { recursive: true });
  await Deno.chmod(audit, 0o777);
}
