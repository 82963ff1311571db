/**
 * Why the bundle refused something: one code per reason, used by the
 * proxy's refusal pages (rendered from here into the bundle image), its
 * decision log, and messages. Codes are stable: the audit log records them.
 *
 * In `page`, `{method}`, `{host}` and `{port}` stand for the request's, and
 * `{slug}` for the bottle's.
 */

/** A reason the egress proxy refuses a request. */
export interface ProxyReason {
  code: string;
  /** Short, for a log line or table. */
  summary: string;
  /** The refusal page's explanation. */
  page: string;
}

/** Every reason the egress proxy refuses a request, in the order its checks apply. */
export const PROXY_REASONS = [
  {
    code: "protocol",
    summary: "only http:// and CONNECT are proxied",
    page: 'only http:// requests and CONNECT tunnels are proxied (host "{host}").',
  },
  {
    code: "bundle_self",
    summary: "the bundle itself",
    page: '"{host}" is (or resolves to) the bundle\'s own address; the bundle itself is ' +
      "never a destination.",
  },
  {
    code: "local_address",
    summary: "loopback, link-local or unspecified address",
    page: '"{host}" is (or resolves to) a loopback, link-local, unspecified or multicast ' +
      "address (the machine itself, its link, or cloud metadata), in IPv4 or IPv6; nothing " +
      "goes there.",
  },
  {
    code: "ip_literal",
    summary: "IP literal not on allowlist",
    page: 'IP-literal destination "{host}" is not on this bottle\'s egress allowlist.\n' +
      "IP literals are allowed only when listed literally in egress.allow; prefer a hostname.",
  },
  {
    code: "port",
    summary: "port not allowed for this host",
    page: 'port {port} is not open for "{host}": an egress.allow entry without a port allows ' +
      'CONNECT to 443 and http:// to 80 only; "{host}:{port}" in egress.allow opens that port.',
  },
  {
    code: "not_allowed",
    summary: "not on allowlist",
    page: 'host "{host}" is not on this bottle\'s egress allowlist.\n' +
      'Let it through now with `bot-bottle approve {slug} {host}`, or add "{host}" to ' +
      "egress.allow of the bottle in your user manifest for the next bottle.",
  },
  {
    code: "not_approved",
    summary: "held for approval, not approved",
    page: 'host "{host}" is not on this bottle\'s egress allowlist; the request was held for ' +
      "approval and was denied or timed out. `bot-bottle approve {slug} {host}` lets the next " +
      "one through.",
  },
  {
    code: "unresolvable",
    summary: "does not resolve",
    page: 'the name "{host}" does not resolve from the bundle.',
  },
  {
    code: "host_mismatch",
    summary: "request names another host than its tunnel",
    page: 'the tunnel goes to "{host}:{port}", which the bundle inspects, and a request inside ' +
      "it must name that host (Host header and request target) and no other.",
  },
  {
    code: "egress_rule",
    summary: "not allowed by egress.rules",
    page: 'egress.rules allow only some methods and paths on "{host}", and this {method} ' +
      "request matches none of them; it was refused before its body left. Widen the rule in " +
      "your user manifest if the agent needs it.",
  },
  {
    code: "secret_exfiltration",
    summary: "carries an injected secret's value to another host",
    page: 'the request to "{host}" carries the real value of an injected secret, which the ' +
      "bundle sends only to that secret's inject hosts; it was refused and logged.",
  },
  {
    code: "secrets_pending",
    summary: "injected secrets not loaded yet",
    page: "the bundle has not been given this bottle's injected secrets yet, so it inspects " +
      'nothing for "{host}"; try again in a moment (bot-bottle loads them at launch).',
  },
  {
    code: "body_too_large",
    summary: "body too large to inspect",
    page: 'the body of this {method} to "{host}" is larger than the bundle reads when it must ' +
      "look for injected secrets' values (64 MiB).",
  },
  {
    code: "upstream_tls",
    summary: "upstream certificate not trusted",
    page: 'the TLS connection to "{host}:{port}" failed: its certificate is checked against the ' +
      "system store and the bottle's ca_certs (add the CA of a network that intercepts TLS, or " +
      "of a private service, to ca_certs).",
  },
] as const satisfies readonly ProxyReason[];

/**
 * Reasons of records that are not refusals: an allowed CONNECT (`tunnel`, relayed unchanged;
 * `intercept`, TLS terminated by the bundle), an allowed request inside an intercepted tunnel
 * (`intercept`, or `injected` when placeholders were replaced, with `secret`), a plain-http
 * request (`http`), a response with a value replaced by its placeholder (`redacted`, decision
 * `redact`, with `secret` and `where`), a held request approved (`approved`), and errors
 * (`upstream_tls`, `upstream_error`, `client_tls`: the agent did not accept the bundle's
 * certificate).
 */
export const PROXY_RECORD_REASONS = [
  "tunnel",
  "intercept",
  "injected",
  "http",
  "redacted",
  "approved",
  "upstream_error",
  "client_tls",
] as const;

/** A proxy reason code. */
export type ProxyReasonCode = typeof PROXY_REASONS[number]["code"];

/** The proxy reason with this code. */
export function proxyReason(code: ProxyReasonCode): ProxyReason {
  return PROXY_REASONS.find((r) => r.code === code)!;
}
