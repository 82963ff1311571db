/**
 * smolvm version parsing and the support floor (SPEC §6, reference/smolvm.md §0, §7).
 */

/** A parsed `major.minor.patch`. */
export interface SmolvmVersion {
  major: number;
  minor: number;
  patch: number;
}

/** Oldest smolvm bot-bottle will drive. */
export const MIN_SMOLVM_VERSION: SmolvmVersion = { major: 1, minor: 2, patch: 5 };

/** How users upgrade smolvm (smolvm's own installer). */
export const SMOLVM_INSTALL_COMMAND = "curl -sSL https://smolmachines.com/install.sh | bash";

/** Parse the first `X.Y.Z` in `smolvm --version` output (`smolvm 1.9.3`); null when there is none. */
export function parseSmolvmVersion(output: string): SmolvmVersion | null {
  const match = /(?:^|[^\d.])v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?![\d])/.exec(output);
  if (!match) return null;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/** Negative when a < b, zero when equal, positive when a > b. */
export function compareVersions(a: SmolvmVersion, b: SmolvmVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** `1.9.3`. */
export function formatVersion(v: SmolvmVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

/** Releases that break what bot-bottle needs, with why. */
export const KNOWN_BAD_VERSIONS: readonly { version: string; why: string }[] = [
  {
    version: "1.14.1",
    why: "reads local image archives back wrong, so a machine created from bot-bottle's " +
      "`docker save` archive fails to boot (smol-machines/smolvm#1181, fixed in 1.14.2)",
  },
];

/**
 * Why a version is refused, or null when it is supported. A known-bad release
 * is refused by name; below 1.1.3 the allowlist runs on TSI, which does not
 * enforce it; below 1.2.5 there is no `--dns`, so guest DNS would leak to the
 * host's resolver.
 */
export function unsupportedReason(v: SmolvmVersion): string | null {
  const bad = KNOWN_BAD_VERSIONS.find((b) => b.version === formatVersion(v));
  if (bad) return `smolvm ${bad.version} ${bad.why}`;
  if (compareVersions(v, { major: 1, minor: 1, patch: 3 }) < 0) {
    return `smolvm ${formatVersion(v)} enforces the egress allowlist through TSI, ` +
      "which the smolvm maintainers found does not enforce it (fixed in 1.1.3)";
  }
  if (compareVersions(v, MIN_SMOLVM_VERSION) < 0) {
    return `smolvm ${formatVersion(v)} has no \`machine create --dns\`, ` +
      "so guest DNS would leak to the host's resolver (added in 1.2.5)";
  }
  return null;
}
