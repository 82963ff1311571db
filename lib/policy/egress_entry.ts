/**
 * One `egress.allow` entry: an exact lowercase host name, a `*.suffix`
 * wildcard (matching names under the suffix, never the suffix itself) or an
 * IPv4 literal, optionally with `:port`. Without a port the host gets the
 * default ports (CONNECT to 443, plain http to 80); `host:port` opens that one
 * port (both ways) for that host only. Parsed once, at manifest load (and by
 * `approve`); the bundle config is rendered from the parsed form, so an entry
 * that loads always renders.
 */
import { isHostname } from "./hostname.ts";
import { isIpv4 } from "./ip_address.ts";
import { quote } from "./quote.ts";

/** A parsed allowlist entry; `port` null means the default ports. */
export type EgressEntry =
  & ({ kind: "exact"; host: string } | { kind: "suffix"; suffix: string } | {
    kind: "ipv4";
    address: string;
  })
  & { port: number | null };

/** The ports an entry without a port gets. */
export const DEFAULT_PORTS = { connect: 443, http: 80 } as const;

/** Parse an entry: the entry, or why it is not one (a phrase that follows the quoted entry). */
export function parseEgressEntry(text: string): { entry: EgressEntry } | { problem: string } {
  const problem = (why: string) => ({ problem: why });
  if (/[\s\p{Cc}]/u.test(text)) return problem("contains whitespace or control characters");
  if (text.startsWith("[") || (text.match(/:/g) ?? []).length > 1) {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) {
      return problem(
        "is an IPv6 address; IPv6 is off in bottles, so list a host name or an IPv4 address",
      );
    }
  }
  let entry = text;
  let port: number | null = null;
  const colon = /^([^:/]*):([^:/]*)$/.exec(text);
  if (colon) {
    if (!/^[1-9][0-9]{0,4}$/.test(colon[2]) || Number(colon[2]) > 65535) {
      return problem(`has port ${JSON.stringify(colon[2])}, not a number from 1 to 65535`);
    }
    entry = colon[1];
    port = Number(colon[2]);
  }
  const parsed = parseHostPart(entry);
  return "problem" in parsed ? parsed : { entry: { ...parsed.host, port } };
}

type HostPart =
  | { kind: "exact"; host: string }
  | { kind: "suffix"; suffix: string }
  | { kind: "ipv4"; address: string };

function parseHostPart(entry: string): { host: HostPart } | { problem: string } {
  const problem = (text: string) => ({ problem: text });
  if (entry === "") return problem('is empty; write a host name such as "api.example.com"');
  if (entry === "*") {
    return problem('would allow every host; list host names or "*.suffix" wildcards instead');
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(entry)) {
    return problem(
      'has a scheme; write only the host name ("api.example.com", not ' +
        '"https://api.example.com")',
    );
  }
  if (entry.includes("/")) return problem("has a path; write only the host name");
  if (entry !== entry.toLowerCase()) {
    return problem(`has uppercase letters; write it in lowercase (${quote(entry.toLowerCase())})`);
  }
  if (entry.startsWith("*.")) {
    const suffix = entry.slice(2);
    if (suffix.includes("*")) return problem('may have only one wildcard, as a leading "*."');
    if (!isHostname(suffix)) {
      return problem(`has a suffix ${quote(suffix)} that is not a valid host name`);
    }
    if (!suffix.includes(".")) {
      return problem(
        'is too broad: a wildcard suffix needs at least two labels ("*.example.com", ' +
          'not "*.com")',
      );
    }
    return { host: { kind: "suffix", suffix } };
  }
  if (entry.includes("*")) {
    return problem('may use a wildcard only as a leading "*." ("*.example.com")');
  }
  if (/^[0-9.]+$/.test(entry)) {
    return isIpv4(entry)
      ? { host: { kind: "ipv4", address: entry } }
      : problem("is not a valid IPv4 address");
  }
  if (!isHostname(entry)) {
    return problem(
      'is not a valid host name (lowercase letters, digits, "-" and ".", labels of 1 to ' +
        "63 characters, no trailing dot)",
    );
  }
  return { host: { kind: "exact", host: entry } };
}

/** The entry as written in a manifest. */
export function formatEgressEntry(entry: EgressEntry): string {
  const host = entry.kind === "exact"
    ? entry.host
    : entry.kind === "suffix"
    ? `*.${entry.suffix}`
    : entry.address;
  return entry.port === null ? host : `${host}:${entry.port}`;
}
