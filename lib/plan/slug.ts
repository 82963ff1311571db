/**
 * Bottle slugs (SPEC §4.1): `<label or agent>-<5 random base36>`, valid as a
 * Docker container name and a smolvm machine name.
 */

const BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz";
const SUFFIX_LENGTH = 5;
const MAX_SLUG_LENGTH = 63;

/** `[a-z0-9-]`, starts with a letter, no `--`, no trailing `-`, at most 63 chars. */
export const SLUG_PATTERN = /^[a-z](?:[a-z0-9]|-(?!-))*$/;

/** True when `slug` is safe to use as a container, network and machine name. */
export function isValidSlug(slug: string): boolean {
  return slug.length <= MAX_SLUG_LENGTH && SLUG_PATTERN.test(slug) && !slug.endsWith("-");
}

/** Five random base36 characters from the platform CSPRNG. */
export function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SUFFIX_LENGTH));
  // 252 = 36 * 7: reject-free enough for names; bias is < 2% and irrelevant here.
  return Array.from(bytes, (b) => BASE36[b % 36]).join("");
}

/**
 * Build a slug from a name (an agent name or a user label, both already
 * `^[a-z][a-z0-9-]*$`) and a suffix. Runs of `-` collapse, the base is cut so
 * the whole slug fits in 63 characters, and a trailing `-` is dropped.
 */
export function makeSlug(base: string, suffix: string = randomSuffix()): string {
  if (!/^[a-z0-9]{5}$/.test(suffix)) throw new Error(`bad slug suffix: ${suffix}`);
  let head = base.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/-+/g, "-");
  head = head.slice(0, MAX_SLUG_LENGTH - SUFFIX_LENGTH - 1).replace(/^-+|-+$/g, "");
  if (!/^[a-z]/.test(head)) head = `b${head}`.slice(0, MAX_SLUG_LENGTH - SUFFIX_LENGTH - 1);
  return `${head.replace(/-+$/, "")}-${suffix}`;
}
