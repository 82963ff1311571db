import assert from "node:assert/strict";
import { knownHostsHost, parseGitUpstream } from "../../lib/policy/git_upstream.ts";

Deno.test("git upstreams: accepted, with host, port and path", () => {
  const table: [string, string, string, number, string][] = [
    ["ssh://git@example.org/me/app.git", "example.org", "name", 22, "/me/app.git"],
    ["ssh://git@example.org:2222/me/app.git", "example.org", "name", 2222, "/me/app.git"],
    ["ssh://git@EXAMPLE.org/me/app.git", "example.org", "name", 22, "/me/app.git"],
    ["ssh://git@host/org/repo+x.git", "host", "name", 22, "/org/repo+x.git"],
    ["ssh://git@[2001:db8::1]:22/app.git", "2001:db8::1", "ipv6", 22, "/app.git"],
    ["ssh://git@192.0.2.7:2200/app.git", "192.0.2.7", "ipv4", 2200, "/app.git"],
    ["ssh://git@example.org/~me/app.git", "example.org", "name", 22, "/~me/app.git"],
    ["git@example.org:me/app.git", "example.org", "name", 22, "me/app.git"],
    ["git@example.org:/srv/app.git", "example.org", "name", 22, "/srv/app.git"],
    ["deploy.bot@git.example.net:team/lib.git", "git.example.net", "name", 22, "team/lib.git"],
  ];
  for (const [text, host, kind, port, path] of table) {
    const parsed = parseGitUpstream(text);
    assert.ok("upstream" in parsed, `${text}: ${JSON.stringify(parsed)}`);
    assert.deepEqual(
      [parsed.upstream.host, parsed.upstream.hostKind, parsed.upstream.port, parsed.upstream.path],
      [host, kind, port, path],
      text,
    );
  }
});

Deno.test("git upstreams: refused, the form or the host/port named", () => {
  const table: [string, RegExp][] = [
    ["https://example.org/me/app.git", /^form$/],
    ["ssh://example.org/me/app.git", /^form$/],
    ["ssh://git@example.org", /^form$/],
    ["git@example.org:", /^form$/],
    ["git@example.org:-oProxyCommand=sh", /^form$/],
    ["-oProxyCommand=sh@example.org:x", /^form$/],
    ["ssh://-oProxyCommand=x/r.git", /^form$/],
    ["ext::sh -c touch% /tmp/pwned", /^form$/],
    ["file:///etc/passwd", /^form$/],
    ["git@example.org:me/app.git\n", /^form$/],
    ["git@example.org:me app.git", /^form$/],
    ["ssh://git@h.test/r.git; rm -rf /", /^form$/],
    ["ssh://git@h.test/r.git\tx", /^form$/],
    ["ssh://git@example.org:70000/app.git", /port 70000 is not in 1-65535/],
    ["ssh://git@example.org:0/app.git", /port 0 is not in 1-65535/],
    ["git@-example.org:x", /^form$/],
    ["git@bad-.example.org:x", /not a valid host name/],
    ["ssh://git@under_score.example/x", /^form$/],
    ["ssh://git@[::1]/x", /loopback address.*bundle itself/],
    ["ssh://git@[::ffff:127.0.0.1]/x", /loopback/],
    ["ssh://git@127.0.0.1/x", /loopback/],
    ["ssh://git@localhost/x", /loopback/],
    ["git@db.localhost:x", /loopback/],
    ["ssh://git@169.254.169.254/x", /link-local/],
    ["ssh://git@[fe80::1]/x", /link-local/],
    ["ssh://git@0.0.0.0/x", /unspecified/],
    ["ssh://git@[::]/x", /unspecified/],
    ["ssh://git@[1::2::3]/x", /not a valid IPv6/],
    ["ssh://git@999.1.1.1/x", /not a valid IPv4/],
    [`ssh://git@h.test/${"a".repeat(1100)}`, /^form$/],
  ];
  for (const [text, why] of table) {
    const parsed = parseGitUpstream(text);
    assert.ok("problem" in parsed, JSON.stringify(text));
    assert.match(parsed.problem, why, JSON.stringify(text));
  }
});

Deno.test("known_hosts host field: bare on 22, bracketed with a port otherwise", () => {
  const host = (text: string) => {
    const parsed = parseGitUpstream(text);
    assert.ok("upstream" in parsed);
    return knownHostsHost(parsed.upstream);
  };
  assert.equal(host("git@example.org:me/app.git"), "example.org");
  assert.equal(host("ssh://git@example.org:2222/a"), "[example.org]:2222");
  assert.equal(host("ssh://git@[2001:db8::1]/a"), "2001:db8::1");
  assert.equal(host("ssh://git@[2001:db8::1]:2222/a"), "[2001:db8::1]:2222");
});
