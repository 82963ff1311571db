import assert from "node:assert/strict";
import { isIpv4, isIpv6, localAddressClass, parseIpv6 } from "../../lib/policy/ip_address.ts";

Deno.test("IPv4 literals: strict dotted quads only", () => {
  for (const yes of ["0.0.0.0", "10.0.0.1", "255.255.255.255", "192.168.17.2"]) {
    assert.equal(isIpv4(yes), true, yes);
  }
  for (
    const no of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "256.1.1.1",
      "1.2.3.-4",
      "0x7f.0.0.1",
      "1..2.3",
      " 1.2.3.4",
      "2130706433",
      "1.2.3.4/32",
    ]
  ) {
    assert.equal(isIpv4(no), false, JSON.stringify(no));
  }
});

Deno.test("IPv6 literals: RFC 4291 text forms, no zones, no brackets", () => {
  for (
    const yes of [
      "::",
      "::1",
      "fe80::1",
      "2001:db8::1",
      "2001:db8:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
      "64:ff9b::192.0.2.1",
      "1:2:3:4:5:6:7:8",
      "1::8",
      "::2:3:4:5:6:7:8",
    ]
  ) {
    assert.equal(isIpv6(yes), true, yes);
  }
  for (
    const no of [
      "",
      ":",
      ":::",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "fe80::1%eth0",
      "[::1]",
      "12345::1",
      "::ffff:256.0.0.1",
      "1.2.3.4",
      "g::1",
      "1:2:3:4:5:6:7::8:9",
    ]
  ) {
    assert.equal(isIpv6(no), false, JSON.stringify(no));
  }
  assert.deepEqual([...parseIpv6("::ffff:1.2.3.4")!.subarray(10)], [0xff, 0xff, 1, 2, 3, 4]);
});

Deno.test("local address classes, in both families and in IPv4-mapped form", () => {
  const table: [string, ReturnType<typeof localAddressClass>][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["0:0:0:0:0:ffff:7f00:1", "loopback"],
    ["::127.0.0.1", "loopback"],
    ["169.254.169.254", "link-local"],
    ["::ffff:169.254.169.254", "link-local"],
    ["fe80::1", "link-local"],
    ["febf::1", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["::ffff:0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["10.0.0.1", null],
    ["192.168.7.2", null],
    ["2001:db8::1", null],
    ["fec0::1", null],
    ["::ffff:10.0.0.1", null],
    ["example.org", null],
  ];
  for (const [address, expected] of table) {
    assert.equal(localAddressClass(address), expected, address);
  }
});
