/**
 * One `egress.allow` entry: an exact lowercase host name, a `*.suffix`
 * wildcard (matching names under the suffix, never the suffix itself) or an
 * IPv4 literal. Parsed once, at manifest load; the bundle config is rendered
 * from the parsed form, so an entry that loads always renders.
 */
import { isHostname } from "./hostname.ts";
import { isIpv4 } from "./ip_address.ts";
import { quote } from "./quote.ts";

/** A parsed allowlist entry. */
export type EgressEntry =
  | { kind: "exact"; host: string }
  | { kind: "suffix"; suffix: string }
  | { kind: "ipv4"; address: string };

/** Parse an entry: the entry, or why it is not one (a phrase that follows the quoted entry). */
export function parseEgressEntry(entry: string): { entry: EgressEntry } | { problem: string } {
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
  if (/[\s\p{Cc}]/u.test(entry)) return problem("contains whitespace or control characters");
  if (entry.includes("/")) return problem("has a path; write only the host name");
  if (entry.includes(":")) {
    return problem(
      "has a port or is an IPv6 address; write only a host name or an IPv4 address " +
        "(CONNECT is allowed to port 443 only)",
    );
  }
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
    return { entry: { kind: "suffix", suffix } };
  }
  if (entry.includes("*")) {
    return problem('may use a wildcard only as a leading "*." ("*.example.com")');
  }
  if (/^[0-9.]+$/.test(entry)) {
    return isIpv4(entry)
      ? { entry: { kind: "ipv4", address: entry } }
      : problem("is not a valid IPv4 address");
  }
  if (!isHostname(entry)) {
    return problem(
      'is not a valid host name (lowercase letters, digits, "-" and ".", labels of 1 to ' +
        "63 characters, no trailing dot)",
    );
  }
  return { entry: { kind: "exact", host: entry } };
}

/** The entry as written in a manifest. */
export function formatEgressEntry(entry: EgressEntry): string {
  return entry.kind === "exact"
    ? entry.host
    : entry.kind === "suffix"
    ? `*.${entry.suffix}`
    : entry.address;
}
