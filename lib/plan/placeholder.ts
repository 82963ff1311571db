/**
 * Placeholders of injected secrets (SPEC §12): what the guest's variable holds instead of the
 * value. Random per launch (128 bits from the platform CSPRNG), self-describing so a user who
 * meets one in an error knows what it is, and made only of characters that read the same raw,
 * URL-encoded and in a header.
 */

/** The prefix every placeholder starts with. */
export const PLACEHOLDER_PREFIX = "bot-bottle-placeholder-";

/** Placeholders look like this (prefix and 32 lowercase hex digits). */
export const PLACEHOLDER_PATTERN = /^bot-bottle-placeholder-[0-9a-f]{32}$/;

/** A fresh placeholder. */
export function randomPlaceholder(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return PLACEHOLDER_PREFIX + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One placeholder per guest name, made on first ask and kept (so a replan keeps them). */
export function placeholderSource(
  make: () => string = randomPlaceholder,
): (guest: string) => string {
  const made = new Map<string, string>();
  return (guest) => {
    let value = made.get(guest);
    if (value === undefined) {
      value = make();
      if (!PLACEHOLDER_PATTERN.test(value)) throw new Error(`bad placeholder: ${value}`);
      made.set(guest, value);
    }
    return value;
  };
}
