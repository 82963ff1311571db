/**
 * A bottle's live egress decisions (`bot-bottle approve|deny`), kept in
 * `<state dir>/control/approvals.json`: the one file the bundle reads them
 * from (the dir is mounted read-only into it, and replaced atomically so the
 * proxy sees a whole file), and the record `list`, the plan and `resume` use.
 */
import type { EgressEntry } from "../policy/egress_entry.ts";
import { writeFileAtomic } from "./metadata_store.ts";

/** What the bottle's live allowlist adds and takes away. */
export interface Approvals {
  approved: EgressEntry[];
  denied: EgressEntry[];
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
  try {
    const data = JSON.parse(await Deno.readTextFile(`${controlDir(stateDir)}/approvals.json`));
    return {
      approved: Array.isArray(data?.approved) ? data.approved : [],
      denied: Array.isArray(data?.denied) ? data.denied : [],
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { approved: [], denied: [] };
    throw error;
  }
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
