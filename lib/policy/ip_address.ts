/**
 * IP address literals (the one grammar for them): strict dotted-quad IPv4
 * (no leading zeros, no shorthand), RFC 4291 IPv6 text (with `::` and an
 * embedded IPv4 tail, no zone index), and the address classes a bottle must
 * never reach through its bundle (loopback, link-local, unspecified, ...),
 * including their IPv4-mapped IPv6 forms.
 */

/** Four octets. */
export type Ipv4 = [number, number, number, number];

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parse `a.b.c.d`; null for anything else (leading zeros, hex, fewer parts). */
export function parseIpv4(text: string): Ipv4 | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const octets: number[] = [];
  for (const part of parts) {
    if (!OCTET.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    octets.push(n);
  }
  return octets as Ipv4;
}

/** True for a strict dotted-quad IPv4 literal. */
export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== null;
}

const HEXTET = /^[0-9A-Fa-f]{1,4}$/;

/** Parse an IPv6 literal (no brackets, no zone) into 16 bytes; null when it is not one. */
export function parseIpv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseHalf = (half: string, allowV4Tail: boolean): number[] | null => {
    if (half === "") return [];
    const groups = half.split(":");
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (allowV4Tail && i === groups.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!HEXTET.test(g)) return null;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  let words: number[];
  if (halves.length === 2) {
    const head = parseHalf(halves[0], false);
    const tail = parseHalf(halves[1], true);
    if (!head || !tail || head.length + tail.length > 7) return null;
    words = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseHalf(text, true);
    if (!all || all.length !== 8) return null;
    words = all;
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** True for an IPv6 literal (without brackets). */
export function isIpv6(text: string): boolean {
  return parseIpv6(text) !== null;
}

/** Address classes that never leave the bundle (or the host) to a real destination. */
export type LocalClass = "loopback" | "link-local" | "unspecified" | "multicast" | "broadcast";

function ipv4Class(o: readonly number[]): LocalClass | null {
  if (o[0] === 127) return "loopback";
  if (o[0] === 169 && o[1] === 254) return "link-local";
  if (o[0] === 0) return "unspecified";
  if (o[0] >= 224 && o[0] <= 239) return "multicast";
  if (o.every((x) => x === 255)) return "broadcast";
  return null;
}

/**
 * The local class of an address literal (IPv4, IPv6, IPv4-mapped or
 * IPv4-compatible IPv6), or null for an ordinary unicast address.
 */
export function localAddressClass(text: string): LocalClass | null {
  const v4 = parseIpv4(text);
  if (v4) return ipv4Class(v4);
  const b = parseIpv6(text);
  if (!b) return null;
  const zeroUpTo = (n: number) => b.subarray(0, n).every((x) => x === 0);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible) carry an IPv4 address.
  if (zeroUpTo(10) && b[10] === 0xff && b[11] === 0xff) return ipv4Class([...b.subarray(12)]);
  if (zeroUpTo(15)) return b[15] === 1 ? "loopback" : b[15] === 0 ? "unspecified" : null;
  if (zeroUpTo(12) && !(b[12] === 0 && b[13] === 0)) return ipv4Class([...b.subarray(12)]);
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return "link-local";
  if (b[0] === 0xff) return "multicast";
  return null;
}
