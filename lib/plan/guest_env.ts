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

/** The literal variables the agent sees, sorted by name. */
export function guestEnv(bottle: ResolvedBottle, bundleIp: string): Record<string, string> {
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
