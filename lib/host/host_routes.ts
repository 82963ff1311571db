/**
 * Host routes, so a bundle /24 never shadows a LAN, VPN or other bridge.
 * Read from /proc/net/route (Linux). Inside the compiled binary Deno forbids
 * /proc without --allow-all; that is reported as a note, and `docker network
 * create` stays the final arbiter.
 */
import type { TakenRange } from "../plan/bundle_subnet.ts";

/** Routes found, plus a note when they could not be read. */
export interface HostRoutes {
  ranges: TakenRange[];
  note?: string;
  /**
   * True when not reading them is how this build always is (the compiled binary may not read
   * /proc): `doctor` says so once, and plans do not repeat it.
   */
  expected?: boolean;
}

/** Parse /proc/net/route: destinations and masks are little-endian hex. */
export function parseProcNetRoute(text: string): TakenRange[] {
  const ranges: TakenRange[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const [iface, destHex, , , , , , maskHex] = fields;
    if (!/^[0-9A-Fa-f]{8}$/.test(destHex) || !/^[0-9A-Fa-f]{8}$/.test(maskHex)) continue;
    const dest = littleEndianIp(destHex);
    const maskBits = popcount(parseInt(maskHex, 16) >>> 0);
    if (maskBits === 0) continue; // default route
    ranges.push({ cidr: `${dest}/${maskBits}`, source: `host route on ${iface}` });
  }
  return ranges;
}

function littleEndianIp(hex: string): string {
  const n = parseInt(hex, 16) >>> 0;
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join(".");
}

function popcount(n: number): number {
  let count = 0;
  for (let v = n; v; v >>>= 1) count += v & 1;
  return count;
}

/** Read the host's IPv4 routes; never throws. */
export async function readHostRoutes(
  read: (path: string) => Promise<string> = Deno.readTextFile,
  os: string = Deno.build.os,
): Promise<HostRoutes> {
  if (os !== "linux") {
    return { ranges: [], note: `host routes are not read on ${os}; Docker networks still are` };
  }
  try {
    return { ranges: parseProcNetRoute(await read("/proc/net/route")) };
  } catch (error) {
    const expected = error instanceof Deno.errors.NotCapable;
    const why = expected
      ? "Deno allows no access under /proc without --allow-all, which bot-bottle does not hold"
      : (error as Error).message;
    return {
      ranges: [],
      note: `host routes not checked (${why}); \`docker network create\` still refuses overlaps ` +
        "with other Docker networks",
      expected,
    };
  }
}
