/**
 * Fail-closed allowlist verification against smolvm's state DB
 * (SPEC §6.5, reference/smolvm.md §4.2–§4.3).
 *
 * After `machine create` and before `machine start`, bot-bottle reads the
 * machine's `vms.data` record back (read-only) and refuses to boot unless it
 * confines egress to the bundle IP. No smolvm CLI output exposes the
 * allowlist (reference §0.3), so the DB is the only place to look.
 */

import { DatabaseSync } from "node:sqlite";
import { UserError } from "../../errors.ts";
import { SMOLVM_INSTALL_COMMAND } from "./smolvm_version.ts";

/** One way a record fails the check. */
export interface AllowlistProblem {
  /** The `VmRecord` key (or `db`, `vms`, `row`, `data` for structural failures). */
  field: string;
  /** What bot-bottle requires, as text. */
  expected: string;
  /** What was there, as text (`absent` when the key is missing). */
  found: string;
  /** Why that is unsafe, when it is not obvious. */
  why?: string;
}

/** What the record must say. */
export interface AllowlistExpectation {
  /** The bundle's IPv4 on the per-bottle network. */
  bundleIp: string;
}

function show(value: unknown): string {
  return value === undefined ? "absent" : JSON.stringify(value);
}

function has(record: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(record, key);
}

/**
 * Check a parsed `vms.data` record; returns every problem (empty = safe), in
 * the reference's order: allowed_cidrs, network, dns_filter_hosts,
 * network_backend, dns, state.
 */
export function checkVmRecord(data: unknown, expected: AllowlistExpectation): AllowlistProblem[] {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return [{ field: "data", expected: "a JSON object (VmRecord)", found: show(data) }];
  }
  const record = data as Record<string, unknown>;
  const problems: AllowlistProblem[] = [];
  const wantCidrs = [`${expected.bundleIp}/32`];

  const cidrs = record.allowed_cidrs;
  const cidrsOk = Array.isArray(cidrs) && cidrs.length === 1 && cidrs[0] === wantCidrs[0];
  if (!cidrsOk) {
    problems.push({
      field: "allowed_cidrs",
      expected: JSON.stringify(wantCidrs),
      found: show(cidrs),
      why: cidrs === null
        ? "null means UNRESTRICTED egress"
        : cidrs === undefined
        ? "smolvm always writes this key; its absence means the record is not what bot-bottle created"
        : "the guest could reach addresses other than the bundle",
    });
  }
  if (record.network !== true) {
    problems.push({
      field: "network",
      expected: "true",
      found: show(record.network),
      why: "the egress policy is only applied to a networked machine",
    });
  }
  if (has(record, "dns_filter_hosts")) {
    problems.push({
      field: "dns_filter_hosts",
      expected: "absent",
      found: show(record.dns_filter_hosts),
      why: "allow-host names widen the allowlist with every IP they resolve to",
    });
  }
  if (has(record, "network_backend") && record.network_backend !== "virtio-net") {
    problems.push({
      field: "network_backend",
      expected: 'absent or "virtio-net"',
      found: show(record.network_backend),
      why: record.network_backend === "tsi"
        ? "TSI does not enforce the allowlist"
        : "only virtio-net enforces the allowlist",
    });
  }
  if (record.dns !== expected.bundleIp) {
    problems.push({
      field: "dns",
      expected: JSON.stringify(expected.bundleIp),
      found: show(record.dns),
      why: "without it, guest DNS is forwarded to the host's resolver",
    });
  }
  if (record.state !== "created") {
    problems.push({
      field: "state",
      expected: '"created"',
      found: show(record.state),
      why: "the check must run after create and before the first start",
    });
  }
  return problems;
}

/** smolvm's record does not (provably) confine egress; the machine must not start. */
export class AllowlistError extends UserError {
  /** The DB that was read. */
  readonly dbPath: string;
  /** The machine checked. */
  readonly machine: string;
  /** Every problem found. */
  readonly problems: readonly AllowlistProblem[];

  constructor(dbPath: string, machine: string, problems: readonly AllowlistProblem[]) {
    const lines = problems.map((p) =>
      `  - ${p.field}: expected ${p.expected}, found ${p.found}${p.why ? ` (${p.why})` : ""}`
    );
    super(
      `refusing to start smolvm machine '${machine}': its egress allowlist could not be ` +
        `verified in smolvm's state DB ${dbPath}:\n${lines.join("\n")}`,
      {
        hint: "bot-bottle needs smolvm 1.2.5 or newer writing its state where bot-bottle " +
          "looks (same HOME, XDG_DATA_HOME and SMOLVM_DATA_DIR); check `smolvm --version` " +
          `and upgrade with: ${SMOLVM_INSTALL_COMMAND}`,
      },
    );
    this.name = "AllowlistError";
    this.dbPath = dbPath;
    this.machine = machine;
    this.problems = problems;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Read the machine's parsed record, or the structural problem that prevents it. */
function readRecord(
  dbPath: string,
  machine: string,
): { data: unknown } | { problem: AllowlistProblem } {
  try {
    if (!Deno.statSync(dbPath).isFile) {
      return { problem: { field: "db", expected: "a SQLite file", found: "not a file" } };
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return {
        problem: {
          field: "db",
          expected: "smolvm's state DB",
          found: "no such file",
          why: "smolvm keeps its state elsewhere, or the create did not happen",
        },
      };
    }
    return { problem: { field: "db", expected: "a readable file", found: message(error) } };
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(dbPath, { readOnly: true });
  } catch (error) {
    return { problem: { field: "db", expected: "a readable SQLite DB", found: message(error) } };
  }
  try {
    const table = db.prepare("SELECT 1 AS ok FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get("vms");
    if (!table) {
      return { problem: { field: "vms", expected: "table vms", found: "no such table" } };
    }
    const row = db.prepare("SELECT data FROM vms WHERE name = ?").get(machine);
    if (!row) {
      return {
        problem: {
          field: "row",
          expected: `a vms row named '${machine}'`,
          found: "no such row",
          why: "smolvm did not record the machine bot-bottle just created",
        },
      };
    }
    const raw = row.data;
    let text: string;
    if (raw instanceof Uint8Array) {
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
      } catch {
        return { problem: { field: "data", expected: "UTF-8 JSON", found: "invalid UTF-8" } };
      }
    } else if (typeof raw === "string") {
      text = raw;
    } else {
      return { problem: { field: "data", expected: "JSON bytes", found: show(raw) } };
    }
    try {
      return { data: JSON.parse(text) };
    } catch (error) {
      return {
        problem: {
          field: "data",
          expected: "parsable JSON",
          found: `${JSON.stringify(text.slice(0, 60))} (${message(error)})`,
        },
      };
    }
  } catch (error) {
    return { problem: { field: "db", expected: "a readable smolvm DB", found: message(error) } };
  } finally {
    db.close();
  }
}

/**
 * Open smolvm's DB read-only, read `vms.data` of `machineName`, and throw an
 * {@link AllowlistError} naming the DB, the machine and every problem unless
 * it confines egress to `expected.bundleIp`. Never writes the DB (SQLite may
 * create the `-shm`/`-wal` side files a WAL reader needs; the DB file itself
 * is untouched). Returns the parsed record on success.
 */
export function verifyAllowlist(
  dbPath: string,
  machineName: string,
  expected: AllowlistExpectation,
): Record<string, unknown> {
  const result = readRecord(dbPath, machineName);
  if ("problem" in result) throw new AllowlistError(dbPath, machineName, [result.problem]);
  const problems = checkVmRecord(result.data, expected);
  if (problems.length > 0) throw new AllowlistError(dbPath, machineName, problems);
  return result.data as Record<string, unknown>;
}
