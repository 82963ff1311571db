/**
 * Host patterns: where a secret is injected (`inject`) and what an `egress.rules` entry applies
 * to. The grammar is an `egress.allow` entry without a port (an exact name, `*.suffix` or an
 * IPv4 literal); the bundle matches it against a tunnel's CONNECT host, on any port the
 * allowlist opens. A pattern must be covered by the allowlist: injection and rules never widen
 * what a bottle may reach.
 */
import { type EgressEntry, formatEgressEntry, parseEgressEntry } from "./egress_entry.ts";

/** A parsed host pattern (an egress entry whose port is null). */
export type HostPattern = EgressEntry & { port: null };

/** Parse a pattern that the manifest grammar already accepted. */
export function hostPattern(text: string): HostPattern {
  const parsed = parseEgressEntry(text);
  if ("problem" in parsed || parsed.entry.port !== null) {
    throw new Error(`hostPattern: ${JSON.stringify(text)} passed the manifest but not the grammar`);
  }
  return parsed.entry as HostPattern;
}

/** Whether `host` (a lowercase name or IPv4 literal) matches `pattern`. */
export function patternMatches(pattern: HostPattern, host: string): boolean {
  switch (pattern.kind) {
    case "exact":
      return pattern.host === host;
    case "suffix":
      return host.endsWith(`.${pattern.suffix}`);
    case "ipv4":
      return pattern.address === host;
  }
}

/**
 * Whether the allowlist entry `allow` lets through every host `pattern` matches (ports aside):
 * an exact name under an allowed name or wildcard, a wildcard under an allowed wildcard, the
 * same IPv4 literal.
 */
export function allowCovers(allow: EgressEntry, pattern: HostPattern): boolean {
  if (allow.kind === "ipv4" || pattern.kind === "ipv4") {
    return allow.kind === "ipv4" && pattern.kind === "ipv4" && allow.address === pattern.address;
  }
  if (allow.kind === "exact") return pattern.kind === "exact" && pattern.host === allow.host;
  const suffix = pattern.kind === "exact" ? pattern.host : pattern.suffix;
  return suffix.endsWith(`.${allow.suffix}`) ||
    (pattern.kind === "suffix" && pattern.suffix === allow.suffix);
}

/** Whether some entry of `allow` (egress.allow texts, already valid) covers `pattern`. */
export function allowlistCovers(allow: readonly string[], pattern: string): boolean {
  const p = hostPattern(pattern);
  return allow.some((text) => {
    const parsed = parseEgressEntry(text);
    return !("problem" in parsed) && allowCovers(parsed.entry, p);
  });
}

/** The pattern as written. */
export function formatHostPattern(pattern: HostPattern): string {
  return formatEgressEntry(pattern);
}
