/**
 * Host names as bot-bottle accepts them: lowercase LDH labels of 1 to 63
 * characters, at most 253 in all, no trailing dot, and a last label that is
 * not all digits (so no name can look like an IPv4 address).
 */

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** True for a valid lowercase host name. */
export function isHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  if (!labels.every((label) => LABEL.test(label))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/** Names that resolve to the machine itself wherever they are looked up (RFC 6761). */
export function isLocalhostName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost");
}
