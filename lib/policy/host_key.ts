/**
 * A pinned SSH host key: `<type> <base64>`, as `ssh-keyscan` prints it
 * without the host name. The base64 must decode to a key of that type.
 */
import { quote } from "./quote.ts";

/** SSH host key algorithms a pinned `host_key` may use. */
export const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;

/** A parsed host key. */
export interface HostKey {
  type: string;
  base64: string;
}

/** Parse a host key: the key, or why it is not one. */
export function parseHostKey(s: string): { key: HostKey } | { problem: string } {
  const example = 'expected "<type> <base64 key>", e.g. "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5...", ' +
    "as printed by ssh-keyscan without the leading host name";
  const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(s);
  if (!m) return { problem: example };
  const type = m[1];
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type)) {
    return {
      problem: `key type ${quote(type)} is not supported (expected one of ${
        HOST_KEY_TYPES.join(", ")
      })`,
    };
  }
  let bytes: Uint8Array;
  try {
    if (m[2].length % 4 !== 0) throw new Error("length");
    bytes = Uint8Array.from(atob(m[2]), (c) => c.charCodeAt(0));
  } catch {
    return { problem: `the key data is not valid base64; ${example}` };
  }
  if (bytes.length < 4) return { problem: `the key data is too short to be a ${type} key` };
  const len = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  if (len > 64 || len > bytes.length - 4) return { problem: `the key data is not a ${type} key` };
  const embedded = String.fromCharCode(...bytes.subarray(4, 4 + len));
  if (embedded !== type) {
    const shown = /^[a-z0-9@.-]{1,40}$/.test(embedded) ? ` (it encodes ${quote(embedded)})` : "";
    return { problem: `the key data is not a ${type} key${shown}` };
  }
  return { key: { type, base64: m[2] } };
}
