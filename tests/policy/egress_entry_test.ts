import assert from "node:assert/strict";
import {
  type EgressEntry,
  formatEgressEntry,
  parseEgressEntry,
} from "../../lib/policy/egress_entry.ts";

Deno.test("egress entries: accepted forms, parsed", () => {
  const table: [string, EgressEntry][] = [
    ["api.anthropic.com", { kind: "exact", host: "api.anthropic.com", port: null }],
    ["localhost", { kind: "exact", host: "localhost", port: null }],
    ["xn--bcher-kva.example", { kind: "exact", host: "xn--bcher-kva.example", port: null }],
    ["a-b.example.com", { kind: "exact", host: "a-b.example.com", port: null }],
    ["*.githubusercontent.com", { kind: "suffix", suffix: "githubusercontent.com", port: null }],
    ["*.a.example.com", { kind: "suffix", suffix: "a.example.com", port: null }],
    ["10.0.0.1", { kind: "ipv4", address: "10.0.0.1", port: null }],
    ["255.255.255.255", { kind: "ipv4", address: "255.255.255.255", port: null }],
    ["example.org:8443", { kind: "exact", host: "example.org", port: 8443 }],
    ["example.com:443", { kind: "exact", host: "example.com", port: 443 }],
    ["*.cdn.example:8080", { kind: "suffix", suffix: "cdn.example", port: 8080 }],
    ["10.0.0.1:65535", { kind: "ipv4", address: "10.0.0.1", port: 65535 }],
    ["a.test:1", { kind: "exact", host: "a.test", port: 1 }],
  ];
  for (const [text, expected] of table) {
    const parsed = parseEgressEntry(text);
    assert.deepEqual(parsed, { entry: expected }, text);
    assert.equal(formatEgressEntry(expected), text);
  }
});

Deno.test("egress entries: refused forms, each with its reason", () => {
  const table: [string, RegExp][] = [
    ["", /is empty/],
    ["*", /every host/],
    ["*.", /not a valid host name/],
    ["*.com", /too broad/],
    ["**.example.com", /wildcard only as a leading/],
    ["*.*.example.com", /only one wildcard/],
    ["a.*.example.com", /wildcard only as a leading/],
    ["example.*", /wildcard only as a leading/],
    ["http://example.com", /has a scheme/],
    ["example.com:0", /port "0", not a number from 1 to 65535/],
    ["example.com:65536", /port "65536"/],
    ["example.com:08443", /port "08443"/],
    ["example.com:", /port ""/],
    ["example.com:https", /port "https"/],
    [":443", /is empty/],
    ["https://example.com:443", /has a scheme/],
    ["example.com:443/x", /has a path/],
    ["Example.com:443", /uppercase/],
    ["example.com/path", /has a path/],
    ["Example.com", /uppercase/],
    ["example.com.", /not a valid host name/],
    [".example.com", /not a valid host name/],
    ["-bad.example.com", /not a valid host name/],
    ["bad-.example.com", /not a valid host name/],
    ["ex ample.com", /whitespace/],
    ["example.org\nhttp_access allow all", /whitespace/],
    ["example.org#comment", /not a valid host name/],
    ["example.org;x", /not a valid host name/],
    ["%{x}.example", /not a valid host name/],
    ["\\.evil$", /not a valid host name/],
    ["1.2.3", /not a valid IPv4/],
    ["01.2.3.4", /not a valid IPv4/],
    ["1.2.3.4.5", /not a valid IPv4/],
    ["256.1.1.1", /not a valid IPv4/],
    ["2130706433", /not a valid IPv4/],
    ["::1", /IPv6 is off in bottles/],
    ["[::1]", /IPv6 is off in bottles/],
    ["[2001:db8::1]:443", /IPv6 is off in bottles/],
    ["a..example.com", /not a valid host name/],
    ["under_score.example.com", /not a valid host name/],
    [`${"a".repeat(64)}.example.com`, /not a valid host name/],
  ];
  for (const [text, why] of table) {
    const parsed = parseEgressEntry(text);
    assert.ok("problem" in parsed, JSON.stringify(text));
    assert.match(parsed.problem, why, JSON.stringify(text));
  }
});
