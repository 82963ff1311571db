/**
 * A git remote's upstream: `ssh://user@host[:port]/path` or the scp-like
 * `user@host:path`. The host is a name, an IPv4 literal or a bracketed IPv6
 * literal; loopback, link-local and unspecified addresses (and `localhost`)
 * are refused, since from the git gate they are the bundle itself.
 */
import { isHostname, isLocalhostName } from "./hostname.ts";
import { isIpv4, isIpv6, localAddressClass } from "./ip_address.ts";

/** A parsed upstream. */
export interface GitUpstream {
  /** As written. */
  text: string;
  user: string;
  /** Lowercased name or address literal (IPv6 without brackets). */
  host: string;
  hostKind: "name" | "ipv4" | "ipv6";
  port: number;
  path: string;
}

/** What the upstream grammar is, for messages. */
export const GIT_UPSTREAM_FORMS = "ssh://user@host[:port]/path or user@host:path";

const USER = "[A-Za-z0-9_][A-Za-z0-9._-]{0,63}";
const HOST = "[A-Za-z0-9][A-Za-z0-9.-]*|\\[[0-9A-Fa-f:.]+\\]";
const PATH_CHARS = "[A-Za-z0-9._~/+@%-]";
const SSH_URL = new RegExp(`^ssh://(${USER})@(${HOST})(?::([0-9]{1,5}))?(/${PATH_CHARS}+)$`);
const SCP_URL = new RegExp(`^(${USER})@(${HOST}):(?!-)(${PATH_CHARS}+)$`);
const MAX_LENGTH = 1024;

/**
 * Parse an upstream. `problem` is either "form" (it is not one of the two
 * forms at all) or a sentence saying what is wrong with the host or port.
 */
export function parseGitUpstream(
  text: string,
): { upstream: GitUpstream } | { problem: string } {
  if (text.length > MAX_LENGTH) return { problem: "form" };
  const ssh = SSH_URL.exec(text);
  const scp = ssh ? null : SCP_URL.exec(text);
  const m = ssh ?? scp;
  if (!m) return { problem: "form" };
  const [, user, rawHost] = m;
  const port = ssh && ssh[3] !== undefined ? Number(ssh[3]) : 22;
  const path = ssh ? ssh[4] : m[3];
  if (port < 1 || port > 65535) return { problem: `port ${port} is not in 1-65535` };
  let host = rawHost.toLowerCase();
  let hostKind: GitUpstream["hostKind"];
  if (host.startsWith("[")) {
    host = host.slice(1, -1);
    if (!isIpv6(host)) return { problem: `[${host}] is not a valid IPv6 address` };
    hostKind = "ipv6";
  } else if (/^[0-9.]+$/.test(host)) {
    if (!isIpv4(host)) return { problem: `${host} is not a valid IPv4 address` };
    hostKind = "ipv4";
  } else {
    if (!isHostname(host)) return { problem: `${rawHost} is not a valid host name` };
    hostKind = "name";
  }
  const local = hostKind === "name"
    ? (isLocalhostName(host) ? "loopback" : null)
    : localAddressClass(host);
  if (local !== null) {
    return {
      problem: `the host ${rawHost} is a ${local} address; from the git gate that is the ` +
        "bundle itself, not an upstream",
    };
  }
  return { upstream: { text, user, host, hostKind, port, path } };
}

/** The host field of a known_hosts line for this upstream. */
export function knownHostsHost(upstream: GitUpstream): string {
  return upstream.port === 22 ? upstream.host : `[${upstream.host}]:${upstream.port}`;
}
