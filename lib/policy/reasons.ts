/**
 * Why the bundle refused something: one code per reason, used by the
 * proxy's refusal pages (rendered from here into the bundle image), its
 * decision log, and messages. Codes are stable: the audit log records them.
 *
 * In `page`, `{method}`, `{host}` and `{port}` stand for the request's.
 */

/** A reason the egress proxy refuses a request. */
export interface ProxyReason {
  code: string;
  /** Short, for a log line or table. */
  summary: string;
  /** The refusal page's explanation. */
  page: string;
}

/** Every reason the egress proxy refuses a request, in the order its rules apply. */
export const PROXY_REASONS = [
  {
    code: "cache_manager",
    summary: "cache manager refused",
    page: 'the proxy\'s cache manager is not reachable (host "{host}").',
  },
  {
    code: "port",
    summary: "CONNECT allowed to port 443 only",
    page: 'CONNECT is allowed to port 443 only (host "{host}").',
  },
  {
    code: "protocol",
    summary: "only http:// and CONNECT are proxied",
    page: 'only http:// requests and CONNECT to port 443 are proxied (host "{host}").',
  },
  {
    code: "local_address",
    summary: "resolves to loopback or link-local",
    page: '"{host}" resolves to a loopback or link-local address (the bundle itself, or ' +
      "cloud metadata); only an exactly listed IP literal may go there.",
  },
  {
    code: "ip_literal",
    summary: "IP literal not on allowlist",
    page: 'IP-literal destination "{host}" is not on this bottle\'s egress allowlist.\n' +
      "IP literals are allowed only when listed literally in egress.allow; prefer a hostname.",
  },
  {
    code: "not_allowed",
    summary: "not on allowlist",
    page: 'host "{host}" is not on this bottle\'s egress allowlist.\n' +
      'To allow it, add "{host}" to egress.allow of the bottle in your user manifest, then ' +
      "start a new bottle.",
  },
] as const satisfies readonly ProxyReason[];

/** A proxy reason code. */
export type ProxyReasonCode = typeof PROXY_REASONS[number]["code"];

/** The proxy reason with this code. */
export function proxyReason(code: ProxyReasonCode): ProxyReason {
  return PROXY_REASONS.find((r) => r.code === code)!;
}

/** The name of the refusal page of a reason (`ERR_BB_NOT_ALLOWED`). */
export function refusalPageName(code: string): string {
  return `ERR_BB_${code.toUpperCase()}`;
}
