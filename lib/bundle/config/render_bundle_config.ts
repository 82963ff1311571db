/**
 * Renders the per-bottle configuration of the sidecar bundle (SPEC §8): the squid config of the
 * egress proxy and, when the bottle has git remotes, the git gate's remote list and known_hosts.
 * The caller writes `files` into a per-bottle directory that is mounted read-only at
 * /etc/bot-bottle, and mounts each identity read-only at its `containerPath`.
 *
 * Why squid (Debian bookworm's 5.7) and not tinyproxy:
 * - Exact vs suffix semantics are explicit: `dstdomain -n host` matches that one name only, and a
 *   `*.example.org` entry is rendered as the anchored `dstdom_regex -n \.example\.org$`, which
 *   matches `a.example.org` and `a.b.example.org` but never `example.org` itself. (squid's own
 *   `.example.org` dstdomain form would also match the bare parent, so it is not used.)
 *   tinyproxy's filter is one regex/fnmatch list matched against the host (or URL) with no
 *   per-entry semantics, so exactness rests on hand-anchored patterns over a substring matcher.
 * - No reverse-DNS surprises: `-n` on every domain ACL stops squid from reverse-resolving an
 *   IP-literal destination and matching the resulting name. An IP literal therefore passes only
 *   when it is listed literally (it is then part of the exact `dstdomain` list).
 * - Port rules are ACLs: CONNECT is refused unless the port is 443; only `http://` is proxied
 *   otherwise (no ftp://, no cache manager).
 * - Every refusal is a 403 whose body names the host (`deny_info` templates with `%H`), with a
 *   different template per reason; the template name is logged (`%err_code`) so the bundle
 *   prints exactly one `egress allow|deny ...` line per request.
 * - tinyproxy's 403 page and its log lines do not name the reason, and it logs to syslog/a file
 *   with several lines per request.
 *
 * Every allowlist entry is validated against a strict grammar (hostname, `*.` + hostname, IPv4)
 * before it reaches the config, so no entry can inject a squid directive.
 */
import { UserError } from "../../errors.ts";
import { type GitRemote, NAME_PATTERN } from "../../manifest/types.ts";

/** Where the per-bottle config directory is mounted in the bundle (read-only). */
export const BUNDLE_CONFIG_MOUNT = "/etc/bot-bottle";
/** Where git identities are mounted in the bundle (read-only, one file per remote). */
export const BUNDLE_IDENTITY_DIR = "/run/secrets/bot-bottle";

/** One validated `egress.allow` entry. */
export type AllowEntry =
  | { kind: "exact"; host: string }
  | { kind: "suffix"; suffix: string }
  | { kind: "ipv4"; address: string };

/** Input of {@link renderBundleConfig}. */
export interface BundleConfigInput {
  slug: string;
  egressAllow: string[];
  git: GitRemote[];
  /** Home directory used to expand identities written as `~/...` (the caller's `$HOME`). */
  homeDir?: string;
}

/** A host file to bind-mount read-only into the bundle. */
export interface IdentityMount {
  hostPath: string;
  containerPath: string;
}

/** Output of {@link renderBundleConfig}. */
export interface BundleConfig {
  /** Path relative to the config dir -> content. */
  files: Record<string, string>;
  identityMounts: IdentityMount[];
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4 =
  /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
const SLUG = /^[a-z][a-z0-9-]{0,62}$/;

function isHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  if (!labels.every((label) => LABEL.test(label))) return false;
  // A numeric last label would make the name look like (part of) an IP address.
  return !/^[0-9]+$/.test(labels[labels.length - 1]);
}

function badEntry(entry: string, why: string): UserError {
  return new UserError(
    `egress.allow entry ${JSON.stringify(entry)} is not allowed: ${why}. ` +
      `Entries are exact hostnames ("api.example.org"), "*." wildcards ("*.example.org", ` +
      `which matches subdomains but not example.org itself) or IPv4 addresses.`,
    { hint: "fix the bottle's egress.allow in your user manifest (bot-bottle.toml)" },
  );
}

/**
 * Validates and classifies one allowlist entry (case-insensitive; returned lowercased).
 * Throws {@link UserError} naming the entry and the reason.
 */
export function parseAllowEntry(entry: string): AllowEntry {
  const value = entry.toLowerCase();
  if (value !== value.trim() || /\s/.test(value)) throw badEntry(entry, "it contains whitespace");
  if (IPV4.test(value)) return { kind: "ipv4", address: value };
  if (value.includes(":")) {
    throw badEntry(entry, "ports, URLs and IPv6 literals are not supported (no ':')");
  }
  if (value.startsWith("*.")) {
    const suffix = value.slice(2);
    if (!isHostname(suffix)) throw badEntry(entry, `"${suffix}" is not a valid hostname`);
    if (!suffix.includes(".")) {
      throw badEntry(entry, `a wildcard over a whole top-level domain ("${value}") is too broad`);
    }
    return { kind: "suffix", suffix };
  }
  if (value.includes("*")) throw badEntry(entry, `"*" is allowed only as a leading "*."`);
  if (!isHostname(value)) {
    throw badEntry(entry, "it is not a valid hostname (letters, digits, '-' and '.')");
  }
  return { kind: "exact", host: value };
}

function escapeRegexDots(hostname: string): string {
  // Validated hostnames contain only [a-z0-9.-]; '.' is the only regex metacharacter.
  return hostname.replaceAll(".", "\\.");
}

/** Renders squid.conf for the validated allowlist. Pure. */
export function renderSquidConf(slug: string, entries: readonly AllowEntry[]): string {
  const exact: string[] = [];
  const suffixes: string[] = [];
  for (const entry of entries) {
    const value = entry.kind === "exact"
      ? entry.host
      : entry.kind === "ipv4"
      ? entry.address
      : undefined;
    if (value !== undefined) {
      if (!exact.includes(value)) exact.push(value);
    } else if (entry.kind === "suffix") {
      const re = `\\.${escapeRegexDots(entry.suffix)}$`;
      if (!suffixes.includes(re)) suffixes.push(re);
    }
  }
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
    "# Reason markers: always true, they only select the 403 template (deny_info).",
    "acl bb_why_manager src all",
    "acl bb_why_port src all",
    "acl bb_why_proto src all",
    "acl bb_why_local src all",
    "acl bb_why_ip src all",
    "acl bb_why_host src all",
  ];
  if (exact.length > 0) lines.push(`acl bb_allow_exact dstdomain -n ${exact.join(" ")}`);
  if (suffixes.length > 0) {
    lines.push(`acl bb_allow_suffix dstdom_regex -n -i ${suffixes.join(" ")}`);
  }
  lines.push(
    "",
    "http_access deny manager bb_why_manager",
    "http_access deny bb_connect !bb_port_443 bb_why_port",
    "http_access deny !bb_connect !bb_http bb_why_proto",
  );
  for (
    const acl of [
      exact.length > 0 ? "bb_allow_exact" : "",
      suffixes.length > 0 ? "bb_allow_suffix" : "",
    ]
  ) {
    if (acl === "") continue;
    lines.push(
      `http_access deny ${acl} to_localhost bb_why_local`,
      `http_access deny ${acl} !bb_ip_literal bb_link_local bb_why_local`,
      `http_access allow ${acl}`,
    );
  }
  lines.push(
    "http_access deny bb_ip_literal bb_why_ip",
    "http_access deny bb_why_host",
    "",
    "deny_info ERR_BB_MANAGER bb_why_manager",
    "deny_info ERR_BB_PORT bb_why_port",
    "deny_info ERR_BB_PROTO bb_why_proto",
    "deny_info ERR_BB_LOCAL bb_why_local",
    "deny_info ERR_BB_IP_LITERAL bb_why_ip",
    "deny_info ERR_BB_NOT_ALLOWED bb_why_host",
    "",
  );
  return lines.join("\n");
}

interface ParsedUpstream {
  host: string;
  port: number;
}

const SSH_URL =
  /^ssh:\/\/(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?\/[A-Za-z0-9._~\/-]+$/;
const SCP_URL = /^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):(?!\/\/)[A-Za-z0-9._~\/-]+$/;
const HOST_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) ([A-Za-z0-9+\/]+={0,3})(?: [^\n\r]*)?$/;

function badRemote(remote: GitRemote, field: string, why: string): UserError {
  return new UserError(
    `git remote ${JSON.stringify(remote.name)}: ${field} ${why}`,
    { hint: "fix the bottle's git entry in your user manifest (bot-bottle.toml)" },
  );
}

function parseUpstream(remote: GitRemote): ParsedUpstream {
  const m = SSH_URL.exec(remote.upstream) ?? SCP_URL.exec(remote.upstream);
  if (m === null) {
    throw badRemote(
      remote,
      "upstream",
      `${JSON.stringify(remote.upstream)} is not an SSH URL ` +
        `(ssh://user@host[:port]/path or user@host:path; letters, digits, '._~/-' only)`,
    );
  }
  const host = m[1].toLowerCase();
  if (!isHostname(host) && !IPV4.test(host)) {
    throw badRemote(remote, "upstream", `host ${JSON.stringify(m[1])} is not a valid hostname`);
  }
  const port = m[2] === undefined ? 22 : Number(m[2]);
  if (port < 1 || port > 65535) throw badRemote(remote, "upstream", `port ${m[2]} is out of range`);
  return { host, port };
}

function identityHostPath(remote: GitRemote, homeDir: string | undefined): string {
  let path = remote.identity;
  if (path.startsWith("~/")) {
    if (homeDir === undefined || !homeDir.startsWith("/")) {
      throw badRemote(remote, "identity", `${JSON.stringify(path)} needs $HOME, which is not set`);
    }
    path = `${homeDir.replace(/\/+$/, "")}/${path.slice(2)}`;
  }
  if (!path.startsWith("/")) {
    throw badRemote(
      remote,
      "identity",
      `${JSON.stringify(path)} must be an absolute path or ~/...`,
    );
  }
  if (/[:\n\r\t\0]/.test(path)) {
    throw badRemote(
      remote,
      "identity",
      `${JSON.stringify(path)} contains ':' or a control character`,
    );
  }
  return path;
}

/**
 * Renders the bundle's per-bottle config. Pure: validates every input and throws
 * {@link UserError} naming the bad entry; reads nothing from disk.
 */
export function renderBundleConfig(input: BundleConfigInput): BundleConfig {
  if (!SLUG.test(input.slug)) {
    throw new UserError(`bundle config: slug ${JSON.stringify(input.slug)} is not valid`);
  }
  const entries = input.egressAllow.map(parseAllowEntry);
  const files: Record<string, string> = { "squid.conf": renderSquidConf(input.slug, entries) };
  const identityMounts: IdentityMount[] = [];
  if (input.git.length > 0) {
    const remotes: string[] = [];
    const knownHosts: string[] = [];
    const seen = new Set<string>();
    for (const remote of input.git) {
      if (!NAME_PATTERN.test(remote.name) || remote.name.length > 63) {
        throw badRemote(remote, "name", "must match ^[a-z][a-z0-9-]*$");
      }
      if (seen.has(remote.name)) throw badRemote(remote, "name", "is used twice");
      seen.add(remote.name);
      const { host, port } = parseUpstream(remote);
      const key = HOST_KEY.exec(remote.hostKey.trim());
      if (key === null) {
        throw badRemote(
          remote,
          "host_key",
          `must be "<type> <base64>" as in a known_hosts or .pub file (e.g. "ssh-ed25519 AAAA...")`,
        );
      }
      const containerPath = `${BUNDLE_IDENTITY_DIR}/${remote.name}`;
      identityMounts.push({ hostPath: identityHostPath(remote, input.homeDir), containerPath });
      remotes.push(`${remote.name}\t${remote.upstream}\t${containerPath}`);
      const hostField = port === 22 ? host : `[${host}]:${port}`;
      const line = `${hostField} ${key[1]} ${key[2]}`;
      if (!knownHosts.includes(line)) knownHosts.push(line);
    }
    files["git/remotes"] = remotes.join("\n") + "\n";
    files["git/known_hosts"] = knownHosts.join("\n") + "\n";
  }
  return { files, identityMounts };
}
