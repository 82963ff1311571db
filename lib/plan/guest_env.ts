/**
 * The guest's environment (SPEC §4.3): the bottle's literal `env` plus the
 * proxy and git-gate URLs, all as IP literals (the guest has no
 * resolver of its own). Secrets are not here: they travel by reference.
 */
import type { ResolvedBottle } from "../manifest/types.ts";

/** Where the agent's prompt is written in the guest, relative to its $HOME. */
export const PROMPT_FILE = ".bot-bottle-prompt.txt";

/** The guest command that writes stdin to the prompt file. */
export const WRITE_PROMPT_COMMAND = ["sh", "-c", `umask 077; cat > "$HOME/${PROMPT_FILE}"`];

/** Ports the bundle listens on. */
export const BUNDLE_PORTS = { proxy: 8888, gitGate: 9418, dns: 53 } as const;

/** The trust files the guest gets (SPEC §12), relative to its CA dir. */
export const GUEST_CA_FILES = {
  /** The guest's own system store plus {@link extra} (for variables that replace the store). */
  bundle: "bundle.pem",
  /** The bundle's CA and the bottle's ca_certs only (for variables that add to the store). */
  extra: "extra.pem",
} as const;

/** The variables that point the guest's TLS clients at its trust files in `dir`. */
export function trustEnv(dir: string): Record<string, string> {
  const bundle = `${dir}/${GUEST_CA_FILES.bundle}`;
  return {
    SSL_CERT_FILE: bundle,
    REQUESTS_CA_BUNDLE: bundle,
    CURL_CA_BUNDLE: bundle,
    GIT_SSL_CAINFO: bundle,
    // OpenAI's Codex CLI reads this one before SSL_CERT_FILE.
    CODEX_CA_CERTIFICATE: bundle,
    NODE_EXTRA_CA_CERTS: `${dir}/${GUEST_CA_FILES.extra}`,
  };
}

/**
 * The literal variables the agent sees, sorted by name: the bottle's env, the proxy, the git
 * gate, the trust variables (when the guest trusts extra CAs, in `caDir`) and the placeholders
 * of injected secrets.
 */
export function guestEnv(
  bottle: ResolvedBottle,
  bundleIp: string,
  extra: { caDir?: string | null; placeholders?: Record<string, string> } = {},
): Record<string, string> {
  const proxy = `http://${bundleIp}:${BUNDLE_PORTS.proxy}`;
  const env: Record<string, string> = {
    ...bottle.env,
    HTTPS_PROXY: proxy,
    HTTP_PROXY: proxy,
    https_proxy: proxy,
    http_proxy: proxy,
    NO_PROXY: "localhost,127.0.0.1",
    no_proxy: "localhost,127.0.0.1",
  };
  if (bottle.git.length > 0) env.GIT_GATE_URL = `git://${bundleIp}:${BUNDLE_PORTS.gitGate}`;
  if (extra.caDir) Object.assign(env, trustEnv(extra.caDir));
  Object.assign(env, extra.placeholders ?? {});
  return sortedRecord(env);
}

/** A copy of `record` with keys in code-point order (deterministic output everywhere). */
export function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  const sorted: Record<string, T> = {};
  for (const key of Object.keys(record).sort(compareCodePoints)) sorted[key] = record[key];
  return sorted;
}

/** Code-point order, independent of locale. */
export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
