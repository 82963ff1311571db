/**
 * Sizes for `--max-workspace` (`4GiB`, `500MiB`, `2G`) and for messages.
 */
import { UsageError } from "../errors.ts";

/** The limit a workspace copy has unless raised (SPEC §11). */
export const DEFAULT_WORKSPACE_LIMIT = 4 * 1024 ** 3;

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parse a size; a UsageError names the flag. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  const bytes = m ? Math.floor(Number(m[1]) * UNITS[m[2].toUpperCase()]) : NaN;
  if (!m || !Number.isFinite(bytes) || bytes <= 0) {
    throw new UsageError(
      `${flag} "${text}" is not a size`,
      `write it as a number with a unit, e.g. ${flag} 8GiB or ${flag} 500MiB`,
    );
  }
  return bytes;
}

/** `1.5 GiB`, `312.0 MiB`, `4.0 KiB`, `12 bytes`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  for (
    const [unit, size] of [["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2]] as const
  ) {
    if (bytes >= size) return `${(bytes / size).toFixed(1)} ${unit}`;
  }
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
