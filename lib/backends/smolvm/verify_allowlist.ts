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

/** How long a read waits for a writer to let go of the DB (smolvm's `busy_timeout`). */
export const DB_BUSY_TIMEOUT_MS = 15_000;

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
  /** The idle workload the Smolfile sets (`entrypoint ++ cmd`), when it is to be checked. */
  workload?: readonly string[];
  /** The image smolvm must have stored (`local:<sha256>` of the archive), when known. */
  image?: string;
}

/** A field that could open another way out of the guest, and the values that keep it shut. */
interface EscapeField {
  field: string;
  expected: string;
  safe: (value: unknown) => boolean;
  why: string;
}

const absent = (v: unknown) => v === undefined || v === null;
const emptyList = (v: unknown) => absent(v) || (Array.isArray(v) && v.length === 0);
const emptyMap = (v: unknown) =>
  absent(v) || (typeof v === "object" && !Array.isArray(v) && Object.keys(v!).length === 0);
const off = (v: unknown) => absent(v) || v === false;

/**
 * Record fields that open a way out the IP allowlist does not govern
 * (reference/smolvm.md §10; smolvm 1.9.3 `VmRecord` and what later versions add).
 */
const ESCAPE_FIELDS: readonly EscapeField[] = [
  {
    field: "network_name",
    expected: "absent",
    safe: absent,
    why: "frames on a named smolvm network skip the egress policy",
  },
  {
    field: "published_sockets",
    expected: "[]",
    safe: emptyList,
    why: "a socket shared with the host (--expose-socket/--mount-socket) bypasses the network",
  },
  { field: "ports", expected: "[]", safe: emptyList, why: "a published port reaches the guest" },
  { field: "mounts", expected: "[]", safe: emptyList, why: "a host directory is shared in" },
  {
    field: "remote_volumes",
    expected: "[]",
    safe: emptyList,
    why: "remote volumes are mounted over the network",
  },
  {
    field: "ssh_agent",
    expected: "false",
    safe: off,
    why: "it forwards the host's SSH agent into the guest",
  },
  {
    field: "docker_socket",
    expected: "false",
    safe: off,
    why: "it exposes a Docker socket between guest and host",
  },
  { field: "gpu", expected: "null or false", safe: off, why: "host GPU access" },
  { field: "cuda", expected: "false", safe: off, why: "a host CUDA server over vsock" },
  { field: "rosetta", expected: "null or false", safe: off, why: "a host binary translator" },
  {
    field: "init",
    expected: "[]",
    safe: emptyList,
    why: "init commands run at the first start with every secret",
  },
  {
    field: "source_smolmachine",
    expected: "absent",
    safe: absent,
    why: "a .smolmachine artifact carries its own settings",
  },
  { field: "golden", expected: "absent", safe: absent, why: "a clone shares a golden machine" },
  { field: "disks", expected: "[]", safe: emptyList, why: "host disks are attached" },
  { field: "staged_mounts", expected: "[]", safe: emptyList, why: "host paths are staged in" },
  {
    field: "credential_policy",
    expected: "absent",
    safe: absent,
    why: "smolvm's own credential interceptor would see the guest's traffic",
  },
  {
    field: "external_interceptor_required",
    expected: "false",
    safe: off,
    why: "an external interceptor would see the guest's traffic",
  },
  {
    field: "credential_placeholders",
    expected: "{}",
    safe: emptyMap,
    why: "smolvm would swap credentials into the guest's traffic",
  },
  {
    field: "credentials_supplied_by_api",
    expected: "false",
    safe: off,
    why: "credentials would be supplied to the guest by smolvm's API",
  },
  {
    field: "guest_subnet",
    expected: "absent",
    safe: absent,
    why: "a custom guest subnet changes what the gateway rewrite covers",
  },
  { field: "nested_virt", expected: "null or false", safe: off, why: "nested virtualization" },
];

/**
 * Fields bot-bottle knows carry no way out (or are checked on their own
 * above); any other field must hold a default value.
 */
const KNOWN_FIELDS = new Set([
  "name",
  "created_at",
  "state",
  "pid",
  "pid_start_time",
  "cpus",
  "mem",
  "network",
  "gpu_vram_mib",
  "restart",
  "last_exit_code",
  "init_completed",
  "env",
  "secret_refs",
  "workdir",
  "user",
  "storage_gb",
  "overlay_gb",
  "allowed_cidrs",
  "network_backend",
  "dns",
  "dns_filter_hosts",
  "image",
  "entrypoint",
  "cmd",
  "labels",
  "health",
  "health_cmd",
  "health_interval_secs",
  "health_timeout_secs",
  "health_retries",
  "health_startup_grace_secs",
  "forkable",
  "cuda_fork_pool_size",
  "cuda_vram_limit_mib",
  "cuda_preload_modules",
  "ephemeral",
  "forkpoint_held",
  "fork_env",
  "runtime_managed",
  "block_io",
  "image_origin",
  "source_registry_ref",
  "paused_checkpoint",
  "fork_generation",
  "fork_lineage_pid_start_time",
  "checkpoint_head",
  "fork_overlay_owner",
  "host_uid_owner",
  "detached",
  "keep_identity",
  "stop_on_exit",
  ...ESCAPE_FIELDS.map((f) => f.field),
]);

/** null, false, 0, "", [] or {}: what a field nobody set holds. */
function isDefault(value: unknown): boolean {
  return absent(value) || value === false || value === 0 || value === "" ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === "object" && Object.keys(value as object).length === 0);
}

function show(value: unknown): string {
  return value === undefined ? "absent" : JSON.stringify(value);
}

function has(record: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(record, key);
}

/**
 * Check a parsed `vms.data` record; returns every problem (empty = safe): the
 * allowlist fields in the reference's order (allowed_cidrs, network,
 * dns_filter_hosts, network_backend, dns, state), then the workload and
 * image, every field that could open another way out, and any field
 * bot-bottle does not know that holds something other than a default.
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
  if (expected.workload !== undefined) {
    const workload = [
      ...(Array.isArray(record.entrypoint) ? record.entrypoint : []),
      ...(Array.isArray(record.cmd) ? record.cmd : []),
    ];
    if (JSON.stringify(workload) !== JSON.stringify(expected.workload)) {
      problems.push({
        field: "entrypoint",
        expected: `entrypoint ++ cmd = ${JSON.stringify(expected.workload)}`,
        found: `${show(record.entrypoint)} ++ ${show(record.cmd)}`,
        why: "`machine start` runs it as a detached workload with every secret",
      });
    }
  }
  if (expected.image !== undefined && record.image !== expected.image) {
    problems.push({
      field: "image",
      expected: JSON.stringify(expected.image),
      found: show(record.image),
      why: "smolvm did not store the archive bot-bottle handed it",
    });
  }
  for (const escape of ESCAPE_FIELDS) {
    if (!escape.safe(record[escape.field])) {
      problems.push({
        field: escape.field,
        expected: escape.expected,
        found: show(record[escape.field]),
        why: escape.why,
      });
    }
  }
  for (const [field, value] of Object.entries(record)) {
    if (KNOWN_FIELDS.has(field) || isDefault(value)) continue;
    problems.push({
      field,
      expected: 'absent or a default (null, false, 0, "", [], {})',
      found: show(value),
      why: "bot-bottle does not know this field, and it could open another way out",
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
    // smolvm's own busy timeout: a smolvm command writing the DB right now (another bottle's
    // create) makes a reader wait for it instead of failing the launch with SQLITE_BUSY.
    db = new DatabaseSync(dbPath, { readOnly: true, timeout: DB_BUSY_TIMEOUT_MS });
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
