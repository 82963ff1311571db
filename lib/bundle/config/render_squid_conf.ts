/**
 * The egress proxy's squid.conf for one bottle (SPEC §8), from the parsed
 * allowlist. Pure.
 *
 * Why squid (Debian bookworm's 5.7) and not tinyproxy:
 * - Exact vs suffix semantics are explicit: `dstdomain -n host` matches that one name only, and a
 *   `*.example.org` entry is rendered as the anchored `dstdom_regex -n \.example\.org$`, which
 *   matches `a.example.org` and `a.b.example.org` but never `example.org` itself. (squid's own
 *   `.example.org` dstdomain form would also match the bare parent, so it is not used.)
 * - No reverse-DNS surprises: `-n` on every domain ACL stops squid from reverse-resolving an
 *   IP-literal destination and matching the resulting name. An IP literal therefore passes only
 *   when it is listed literally (it is then part of the exact `dstdomain` list).
 * - Port rules are ACLs: CONNECT is refused unless the port is 443; only `http://` is proxied
 *   otherwise (no ftp://, no cache manager).
 * - Every refusal is a 403 whose body names the host and the reason: one refusal page per
 *   reason code (lib/policy/reasons.ts), selected by `deny_info`; the page name is logged
 *   (`%err_code`), so the bundle prints exactly one decision line per request.
 *
 * Entries come from the one allowlist grammar (lib/policy/egress_entry.ts), so nothing here
 * can inject a squid directive: exact names and suffixes are LDH labels, addresses are IPv4.
 */
import type { EgressEntry } from "../../policy/egress_entry.ts";
import { type ProxyReasonCode, refusalPageName } from "../../policy/reasons.ts";

function escapeRegexDots(hostname: string): string {
  // Hostnames contain only [a-z0-9.-]; '.' is the only regex metacharacter.
  return hostname.replaceAll(".", "\\.");
}

/** The marker ACL that selects the refusal page of a reason. */
function why(code: ProxyReasonCode): string {
  return `bb_why_${code}`;
}

/** Renders squid.conf for the parsed allowlist. Pure. */
export function renderSquidConf(slug: string, entries: readonly EgressEntry[]): string {
  const exact: string[] = [];
  const suffixes: string[] = [];
  for (const entry of entries) {
    if (entry.kind === "suffix") {
      const re = `\\.${escapeRegexDots(entry.suffix)}$`;
      if (!suffixes.includes(re)) suffixes.push(re);
    } else {
      const value = entry.kind === "exact" ? entry.host : entry.address;
      if (!exact.includes(value)) exact.push(value);
    }
  }
  const codes: ProxyReasonCode[] = [
    "cache_manager",
    "port",
    "protocol",
    "local_address",
    "ip_literal",
    "not_allowed",
  ];
  const lines = [
    `# bot-bottle bundle egress proxy for bottle ${slug} (generated; mounted read-only)`,
    "http_port 8888",
    "visible_hostname bot-bottle-bundle",
    "pid_filename none",
    "cache_log /dev/null",
    "cache deny all",
    "cache_mem 8 MB",
    "pinger_enable off",
    "icp_port 0",
    "htcp_port 0",
    "forwarded_for delete",
    "httpd_suppress_version_string on",
    "shutdown_lifetime 1 seconds",
    "dns_defnames off",
    "logfile_rotate 0",
    "",
    "# One record per request, turned into an 'egress allow|deny' line by egress-log.awk.",
    "logformat bb_decision %Ss %err_code %>rm %>rd %>rP %>Hs",
    "access_log stdio:/run/bot-bottle/egress-log bb_decision",
    "",
    "acl bb_connect method CONNECT",
    "acl bb_port_443 port 443",
    "acl bb_http proto HTTP",
    "acl bb_ip_literal dstdom_regex -n ^[0-9.]+$ :",
    "# Link-local (cloud metadata at 169.254.169.254): never reached through a listed *name*,",
    "# whatever its DNS says; only an exactly listed IP literal gets there.",
    "acl bb_link_local dst 169.254.0.0/16",
    "# Reason markers: always true, they only select the 403 page (deny_info).",
    ...codes.map((code) => `acl ${why(code)} src all`),
  ];
  if (exact.length > 0) lines.push(`acl bb_allow_exact dstdomain -n ${exact.join(" ")}`);
  if (suffixes.length > 0) {
    lines.push(`acl bb_allow_suffix dstdom_regex -n -i ${suffixes.join(" ")}`);
  }
  lines.push(
    "",
    `http_access deny manager ${why("cache_manager")}`,
    `http_access deny bb_connect !bb_port_443 ${why("port")}`,
    `http_access deny !bb_connect !bb_http ${why("protocol")}`,
  );
  for (
    const acl of [
      exact.length > 0 ? "bb_allow_exact" : "",
      suffixes.length > 0 ? "bb_allow_suffix" : "",
    ]
  ) {
    if (acl === "") continue;
    lines.push(
      `http_access deny ${acl} to_localhost ${why("local_address")}`,
      `http_access deny ${acl} !bb_ip_literal bb_link_local ${why("local_address")}`,
      `http_access allow ${acl}`,
    );
  }
  lines.push(
    `http_access deny bb_ip_literal ${why("ip_literal")}`,
    `http_access deny ${why("not_allowed")}`,
    "",
    ...codes.map((code) => `deny_info ${refusalPageName(code)} ${why(code)}`),
    "",
  );
  return lines.join("\n");
}
