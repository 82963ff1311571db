/**
 * Names and labels of everything a bottle creates (SPEC §4.1).
 */
import { sha256Hex } from "./sha256.ts";
import type { BackendName } from "./plan_types.ts";

/** Label keys. */
export const LABEL_SLUG = "io.bot-bottle.slug";
export const LABEL_ROLE = "io.bot-bottle.role";
export const LABEL_BACKEND = "io.bot-bottle.backend";
/** Which state root (user) owns the resource: list and cleanup leave others' alone. */
export const LABEL_OWNER = "io.bot-bottle.owner";

/** The name prefix of every bot-bottle resource. */
export const RESOURCE_PREFIX = "bot-bottle-";

/** `bot-bottle-<slug>`: the egress network, and the VM on smolmachines. */
export function networkName(slug: string): string {
  return `${RESOURCE_PREFIX}${slug}`;
}

/** The docker backend's `--internal` network shared by agent and bundle only. */
export function internalNetworkName(slug: string): string {
  return `${RESOURCE_PREFIX}${slug}-internal`;
}

/** `bot-bottle-<slug>-bundle`. */
export function bundleName(slug: string): string {
  return `${RESOURCE_PREFIX}${slug}-bundle`;
}

/** `bot-bottle-<slug>-agent` (docker backend). */
export function agentContainerName(slug: string): string {
  return `${RESOURCE_PREFIX}${slug}-agent`;
}

/** `bot-bottle-<slug>` (smolmachines backend). */
export function machineName(slug: string): string {
  return `${RESOURCE_PREFIX}${slug}`;
}

/** The owner label value: 12 hex of SHA-256 over the state root. */
export function ownerId(stateRoot: string): string {
  return sha256Hex(stateRoot).slice(0, 12);
}

/** Labels common to every resource of a bottle. */
export function bottleLabels(
  slug: string,
  backend: BackendName,
  owner: string,
): Record<string, string> {
  return { [LABEL_SLUG]: slug, [LABEL_BACKEND]: backend, [LABEL_OWNER]: owner };
}
