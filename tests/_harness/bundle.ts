/**
 * A bundle container for the tests (and bench:tls) that start one by hand: its rendered
 * config written, its state dirs made, its `docker run` argv as a launch builds it; and the
 * audit records it wrote.
 */
import {
  type AuditRecord as LibAuditRecord,
  parseAuditLine,
} from "../../lib/audit/audit_records.ts";
import { bundleRunArgv } from "../../lib/bundle/bundle_run_argv.ts";
import type { BundleConfig } from "../../lib/bundle/config/render_bundle_config.ts";
import { auditDir, controlDir, prepareBundleDirs } from "../../lib/state/approvals.ts";
import { writeConfig } from "./files.ts";

/** One line of a bundle's audit.jsonl, with the fields the tests read as text. */
export interface AuditRecord extends LibAuditRecord {
  reason: string;
  path: string | null;
  secret?: string;
  detail?: string;
  where?: string;
}

/** The records of `<dir>/audit.jsonl` (none before the file exists), read as `logs` reads them. */
export async function auditRecords(dir: string): Promise<AuditRecord[]> {
  const text = await Deno.readTextFile(`${dir}/audit.jsonl`).catch(() => "");
  return text.split("\n").map(parseAuditLine).filter((r) => r !== null) as AuditRecord[];
}

/**
 * `config` written to `configDir` (default `<root>/config`), the audit and control dirs made
 * under `root`, and the bundle's `docker run ...` argv (bot-bottle-<prefix>-bundle at `ip` on
 * `network`, the memory a launch gives it unless `memoryMib`).
 */
export async function testBundleArgv(opts: {
  prefix: string;
  image: string;
  network: string;
  ip: string;
  root: string;
  config: BundleConfig;
  configDir?: string;
  memoryMib?: number;
}): Promise<string[]> {
  const configDir = opts.configDir ?? `${opts.root}/config`;
  await writeConfig(configDir, opts.config.files);
  await prepareBundleDirs(opts.root);
  return bundleRunArgv({
    slug: opts.prefix,
    image: opts.image,
    egressNetwork: opts.network,
    ip: opts.ip,
    configDir,
    identityMounts: opts.config.identity_mounts,
    auditDir: auditDir(opts.root),
    controlDir: controlDir(opts.root),
    limits: { memory_mib: opts.memoryMib ?? 384, cpus: 1, pids: 256 },
    labels: {
      "io.bot-bottle.slug": opts.prefix,
      "io.bot-bottle.role": "bundle",
      "io.bot-bottle.backend": "docker",
    },
  });
}
