/**
 * The per-bottle bundle /24 (SPEC §4.2).
 *
 * The seed algorithm is exact: `d = SHA-256(utf8(slug))`, `octet = d[0] % 254
 * + 1`, 17 becomes 18, subnet `192.168.<octet>.0/24`, gateway `.1`, bundle
 * `.2`. Beyond the seed, a /24 that overlaps an existing Docker network or
 * host route moves to the next octet (wrapping within 1..254, skipping 17).
 */
import { sha256 } from "./sha256.ts";
import { UserError } from "../errors.ts";

/** The three addresses a bottle's bundle network uses. */
export interface BundleSubnet {
  octet: number;
  /** `192.168.<octet>.0/24` */
  subnet: string;
  /** `192.168.<octet>.1` */
  gateway: string;
  /** `192.168.<octet>.2` */
  bundleIp: string;
}

/** An address range already in use on the host, with where it was seen. */
export interface TakenRange {
  /** IPv4 CIDR, e.g. `192.168.3.0/24`. */
  cidr: string;
  /** Human-readable origin, e.g. `docker network "proj_default"` or `host route via wlan0`. */
  source: string;
}

/** Why the chosen /24 differs from the seed's, one entry per skipped candidate. */
export interface SubnetMove {
  subnet: string;
  takenBy: TakenRange;
}

/** The chosen /24 and the candidates it skipped. */
export interface SubnetChoice extends BundleSubnet {
  /** What the seed algorithm alone gives. */
  seed: BundleSubnet;
  /** Candidates skipped, in order; empty when the seed /24 was free. */
  moves: SubnetMove[];
}

/** The seed octet for a slug: `sha256(slug)[0] % 254 + 1`, with 17 replaced by 18. */
export function seedOctet(slug: string): number {
  const digest = sha256(slug);
  const octet = (digest[0] % 254) + 1;
  return octet === 17 ? 18 : octet;
}

/** The subnet, gateway and bundle IP for a third octet. */
export function subnetForOctet(octet: number): BundleSubnet {
  if (!Number.isInteger(octet) || octet < 1 || octet > 254) throw new Error(`bad octet ${octet}`);
  return {
    octet,
    subnet: `192.168.${octet}.0/24`,
    gateway: `192.168.${octet}.1`,
    bundleIp: `192.168.${octet}.2`,
  };
}

/** The seed algorithm's result for a slug, with no collision probing. */
export function seedSubnet(slug: string): BundleSubnet {
  return subnetForOctet(seedOctet(slug));
}

/** The candidate after `octet`: +1, wrapping 254 -> 1, never 17. */
export function nextOctet(octet: number): number {
  let next = octet >= 254 ? 1 : octet + 1;
  if (next === 17) next = 18;
  return next;
}

/** Parse an IPv4 CIDR to [network, prefix]; null for anything else (IPv6, garbage). */
export function parseIpv4Cidr(cidr: string): [number, number] | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(cidr.trim());
  if (!match) return null;
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return null;
  const prefix = match[5] === undefined ? 32 : Number(match[5]);
  if (prefix > 32) return null;
  const address = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [(address & mask) >>> 0, prefix];
}

/** True when two IPv4 CIDRs share any address. Non-IPv4 input never overlaps. */
export function cidrsOverlap(a: string, b: string): boolean {
  const pa = parseIpv4Cidr(a);
  const pb = parseIpv4Cidr(b);
  if (!pa || !pb) return false;
  const prefix = Math.min(pa[1], pb[1]);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((pa[0] & mask) >>> 0) === ((pb[0] & mask) >>> 0);
}

/**
 * Choose the bundle /24 for `slug`: start at `preferredOctet` (a resumed
 * bottle's recorded /24) or the seed, and move on past every candidate that
 * overlaps a taken range. Default routes (`/0`) are ignored: they overlap
 * everything and say nothing about local use. Throws when all 253 are taken.
 */
export function chooseBundleSubnet(
  slug: string,
  taken: readonly TakenRange[],
  options: { preferredOctet?: number } = {},
): SubnetChoice {
  const seed = seedSubnet(slug);
  const relevant = taken.filter((t) => {
    const parsed = parseIpv4Cidr(t.cidr);
    return parsed !== null && parsed[1] > 0;
  });
  const moves: SubnetMove[] = [];
  let octet = options.preferredOctet ?? seed.octet;
  for (let tries = 0; tries < 254; tries++) {
    const candidate = subnetForOctet(octet);
    const clash = relevant.find((t) => cidrsOverlap(t.cidr, candidate.subnet));
    if (!clash) return { ...candidate, seed, moves };
    moves.push({ subnet: candidate.subnet, takenBy: clash });
    octet = nextOctet(octet);
  }
  throw new UserError(
    "every 192.168.<1..254>.0/24 (except .17) overlaps a Docker network or a host route, " +
      "so no bundle subnet is free",
    { hint: "remove unused networks with `docker network prune` and try again" },
  );
}
