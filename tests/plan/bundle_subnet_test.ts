import assert from "node:assert/strict";
import {
  chooseBundleSubnet,
  cidrsOverlap,
  nextOctet,
  seedOctet,
  seedSubnet,
  type TakenRange,
} from "../../lib/plan/bundle_subnet.ts";

// Vectors computed independently with the seed's Python (hashlib.sha256(slug)[0] % 254 + 1, 17 -> 18).
const VECTORS: [slug: string, firstByte: number, octet: number][] = [
  ["demo-abcde", 69, 70],
  ["researcher-m3hxd", 109, 110],
  ["a-00000", 209, 210],
  ["claude-zzzzz", 66, 67],
  [`${"x".repeat(57)}-12345`, 32, 33],
  ["demo-00043", 16, 18], // raw octet 17 -> 18 (docker's default bridge)
  ["demo-00364", 17, 18], // raw octet 18 stays 18
  ["demo-00543", 253, 254], // the top
  ["demo-00547", 0, 1], // the bottom
  ["demo-00676", 254, 1], // 254 % 254 = 0 -> 1
  ["demo-00574", 255, 2], // 255 % 254 = 1 -> 2
];

Deno.test("seed octet matches the seed algorithm for every vector", () => {
  for (const [slug, , octet] of VECTORS) assert.equal(seedOctet(slug), octet, slug);
});

Deno.test("seed subnet gives .0/24, gateway .1 and bundle .2", () => {
  assert.deepEqual(seedSubnet("demo-abcde"), {
    octet: 70,
    subnet: "192.168.70.0/24",
    gateway: "192.168.70.1",
    bundleIp: "192.168.70.2",
  });
});

Deno.test("a free seed /24 is kept, with no moves", () => {
  const choice = chooseBundleSubnet("demo-abcde", [
    { cidr: "172.17.0.0/16", source: 'docker network "bridge"' },
    { cidr: "0.0.0.0/0", source: "default route" },
  ]);
  assert.equal(choice.subnet, "192.168.70.0/24");
  assert.deepEqual(choice.moves, []);
});

Deno.test("a taken seed /24 moves to the next octet and says why", () => {
  const taken: TakenRange = { cidr: "192.168.70.0/24", source: 'docker network "other"' };
  const choice = chooseBundleSubnet("demo-abcde", [taken]);
  assert.equal(choice.subnet, "192.168.71.0/24");
  assert.equal(choice.bundleIp, "192.168.71.2");
  assert.equal(choice.seed.subnet, "192.168.70.0/24");
  assert.deepEqual(choice.moves, [{ subnet: "192.168.70.0/24", takenBy: taken }]);
});

Deno.test("a wide host route moves past every /24 it covers", () => {
  const choice = chooseBundleSubnet("demo-abcde", [
    { cidr: "192.168.64.0/20", source: "host route on wg0" }, // 64..79
  ]);
  assert.equal(choice.subnet, "192.168.80.0/24");
  assert.equal(choice.moves.length, 10); // 70..79
});

Deno.test("probing wraps past 254 to 1", () => {
  const choice = chooseBundleSubnet("demo-00543", [
    { cidr: "192.168.254.0/24", source: "host route on eth1" },
  ]);
  assert.equal(choice.seed.octet, 254);
  assert.equal(choice.subnet, "192.168.1.0/24");
});

Deno.test("probing skips 17", () => {
  assert.equal(nextOctet(16), 18);
  assert.equal(nextOctet(254), 1);
  const choice = chooseBundleSubnet("demo-00043", [
    { cidr: "192.168.18.0/24", source: "x" },
    { cidr: "192.168.19.0/24", source: "y" },
  ]);
  assert.equal(choice.subnet, "192.168.20.0/24");
  const wrap = chooseBundleSubnet("demo-00547", [
    { cidr: "192.168.0.0/20", source: "lan" }, // 1..15
    { cidr: "192.168.16.0/24", source: "vpn" },
  ]);
  assert.equal(wrap.subnet, "192.168.18.0/24"); // 17 is never a candidate
  assert.equal(wrap.moves.length, 16);
});

Deno.test("a resumed bottle keeps its recorded octet when free", () => {
  assert.equal(
    chooseBundleSubnet("demo-abcde", [], { preferredOctet: 99 }).subnet,
    "192.168.99.0/24",
  );
});

Deno.test("all /24s taken is a user error, not a loop", () => {
  assert.throws(
    () => chooseBundleSubnet("demo-abcde", [{ cidr: "192.168.0.0/16", source: "vpn" }]),
    /every 192\.168\.<1\.\.254>\.0\/24/,
  );
});

Deno.test("cidrsOverlap", () => {
  const table: [string, string, boolean][] = [
    ["192.168.5.0/24", "192.168.5.0/24", true],
    ["192.168.5.0/24", "192.168.0.0/16", true],
    ["192.168.5.128/25", "192.168.5.0/24", true],
    ["192.168.5.0/24", "192.168.6.0/24", false],
    ["10.0.0.0/8", "192.168.5.0/24", false],
    ["192.168.5.7", "192.168.5.0/24", true],
    ["fd00::/64", "192.168.5.0/24", false],
    ["garbage", "192.168.5.0/24", false],
  ];
  for (const [a, b, want] of table) assert.equal(cidrsOverlap(a, b), want, `${a} vs ${b}`);
});
