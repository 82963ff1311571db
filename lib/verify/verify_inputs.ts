/**
 * What `verify` tells the isolation script, gathered on the host: the direct
 * target (BOT_BOTTLE_VERIFY_TARGET, else the egress probe's), a listed host
 * to try an unlisted port on, other running bottles' bundle addresses, and
 * the host's own IPv4 addresses (BOT_BOTTLE_VERIFY_HOSTS overrides them, so
 * tests aim only at addresses they made). Nothing secret: injected secrets
 * go as SHA-256 hashes of their values.
 */
import type { BackendName } from "../plan/plan_types.ts";
import type { MetadataRecord } from "../plan/metadata_record.ts";
import { type EgressEntry, formatEgressEntry } from "../policy/egress_entry.ts";
import { isIpv4 } from "../policy/ip_address.ts";
import { parseProbeTarget } from "../launch/egress_probe.ts";
import { readMetadata } from "../state/metadata_store.ts";
import { UserError } from "../errors.ts";
import type { VerifyArgs } from "./isolation_script.ts";
import { createHash } from "node:crypto";

/** At most this many host addresses are tried (a host with 64 bottles has 64+ bridges). */
const MAX_HOST_ADDRESSES = 16;

/** Inputs from the host. */
export interface VerifyInputDeps {
  env: { get(name: string): string | undefined };
  stateRoot: string;
  /** Whether another bottle is running (its state dir). */
  isRunning(stateDir: string): Promise<boolean>;
  /** The host's IPv4 addresses (Deno.networkInterfaces). */
  hostAddresses(): string[];
}

/** A listed host name and a port it does not have; null when only IPs (or nothing) are listed. */
export function portProbeFor(allow: readonly EgressEntry[]): { host: string; port: number } | null {
  const pick = allow.find((e) => e.kind === "exact") ?? allow.find((e) => e.kind === "suffix");
  if (!pick) return null;
  const host = pick.kind === "exact" ? pick.host : `verify.${(pick as { suffix: string }).suffix}`;
  const open = new Set(
    allow.filter((e) =>
      formatEgressEntry({ ...e, port: null }) === formatEgressEntry({ ...pick, port: null })
    )
      .map((e) => e.port),
  );
  const port = [1, 2, 3, 7].find((p) => !open.has(p))!;
  return { host, port };
}

/** The host's own IPv4 addresses, or BOT_BOTTLE_VERIFY_HOSTS. */
export function hostAddressesFor(
  env: VerifyInputDeps["env"],
  found: () => string[],
  ownSubnetPrefix: string,
): string[] {
  const override = env.get("BOT_BOTTLE_VERIFY_HOSTS");
  if (override !== undefined) {
    const list = override.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const bad = list.filter((a) => !isIpv4(a));
    if (bad.length > 0) {
      throw new UserError(`BOT_BOTTLE_VERIFY_HOSTS has ${bad.join(", ")}, not IPv4 addresses`, {
        hint: "set it to a comma-separated list of IPv4 addresses, or unset it",
      });
    }
    return list;
  }
  const all = found().filter((a) =>
    isIpv4(a) && !a.startsWith("127.") && !a.startsWith(ownSubnetPrefix)
  );
  return [...new Set(all)].slice(0, MAX_HOST_ADDRESSES);
}

/** Gather the script's arguments for `meta`'s bottle. */
export async function gatherVerifyArgs(
  deps: VerifyInputDeps,
  meta: MetadataRecord,
  stateDir: string,
): Promise<VerifyArgs> {
  const target = parseProbeTarget(
    deps.env.get("BOT_BOTTLE_VERIFY_TARGET") ?? deps.env.get("BOT_BOTTLE_PROBE_TARGET"),
  );
  let allow: EgressEntry[] = [];
  try {
    const policy = JSON.parse(await Deno.readTextFile(`${stateDir}/bundle/policy.json`));
    if (Array.isArray(policy?.allow)) allow = policy.allow;
  } catch {
    // not rendered: nothing listed
  }
  const prefix = meta.subnet.split(".").slice(0, 3).join(".") + ".";
  return {
    backend: meta.backend as BackendName,
    bundleIp: meta.bundle_ip,
    gateway: meta.gateway,
    target,
    portProbe: portProbeFor(allow),
    others: await otherBundles(deps, meta),
    hostAddresses: hostAddressesFor(deps.env, deps.hostAddresses, prefix),
    secretHashes: injectedSecretHashes(deps.env, meta).hashes,
    heldSecrets: (meta.secrets ?? []).filter((s) => !s.inject).map((s) => s.guest),
  };
}

/**
 * `NAME:sha256hex` of each injected secret whose host variable is set in this environment (the
 * script looks for those hashes in guest processes' environments; the value itself never goes
 * in), and the names it cannot check because their variable is not set here.
 */
export function injectedSecretHashes(
  env: VerifyInputDeps["env"],
  meta: Pick<MetadataRecord, "secrets">,
): { hashes: string[]; unchecked: { guest: string; host_var: string }[] } {
  const hashes: string[] = [];
  const unchecked: { guest: string; host_var: string }[] = [];
  for (const s of meta.secrets ?? []) {
    if (!s.inject) continue;
    const value = env.get(s.host_var);
    if (value === undefined || value === "") {
      unchecked.push({ guest: s.guest, host_var: s.host_var });
      continue;
    }
    hashes.push(`${s.guest}:${createHash("sha256").update(value).digest("hex")}`);
  }
  return { hashes, unchecked };
}

/** Bundle IPs of the other running bottles; a free neighbour address when there are none. */
async function otherBundles(deps: VerifyInputDeps, meta: MetadataRecord): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${deps.stateRoot}/bottles`)) {
      if (!entry.isDirectory || entry.name === meta.slug) continue;
      const dir = `${deps.stateRoot}/bottles/${entry.name}`;
      if (!(await deps.isRunning(dir))) continue;
      const other = await readMetadata(dir).catch(() => null);
      if (other?.bundle_ip && other.bundle_ip !== meta.bundle_ip) out.push(other.bundle_ip);
    }
  } catch {
    // no other state
  }
  if (out.length > 0) return out.sort();
  const octet = Number(meta.subnet.split(".")[2]);
  const neighbour = octet >= 254 ? octet - 1 : octet + 1;
  return [`192.168.${neighbour}.2`];
}
