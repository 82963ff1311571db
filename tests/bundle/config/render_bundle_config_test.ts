import assert from "node:assert/strict";
import { UserError } from "../../../lib/errors.ts";
import type { GitRemote } from "../../../lib/manifest/types.ts";
import {
  type AllowEntry,
  parseAllowEntry,
  renderBundleConfig,
} from "../../../lib/bundle/config/render_bundle_config.ts";

const GOLDEN = new URL("../../fixtures/golden/", import.meta.url);
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";

async function golden(name: string, actual: string): Promise<void> {
  const url = new URL(name, GOLDEN);
  if (UPDATE) await Deno.writeTextFile(url, actual);
  assert.equal(actual, await Deno.readTextFile(url), `golden ${name} differs (UPDATE_GOLDEN=1)`);
}

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

Deno.test("parseAllowEntry classifies valid entries", () => {
  const table: [string, AllowEntry][] = [
    ["api.anthropic.com", { kind: "exact", host: "api.anthropic.com" }],
    ["API.Anthropic.COM", { kind: "exact", host: "api.anthropic.com" }],
    ["localhost", { kind: "exact", host: "localhost" }],
    ["a-b.c0.example", { kind: "exact", host: "a-b.c0.example" }],
    ["*.githubusercontent.com", { kind: "suffix", suffix: "githubusercontent.com" }],
    ["*.a.b.example.org", { kind: "suffix", suffix: "a.b.example.org" }],
    ["10.213.0.5", { kind: "ipv4", address: "10.213.0.5" }],
    ["255.255.255.255", { kind: "ipv4", address: "255.255.255.255" }],
  ];
  for (const [input, expected] of table) assert.deepEqual(parseAllowEntry(input), expected, input);
});

Deno.test("parseAllowEntry refuses anything that could inject or widen config", () => {
  const table: [string, RegExp][] = [
    ["", /not a valid hostname/],
    ["*", /not a valid hostname|only as a leading/],
    ["*.com", /too broad/],
    ["*.*.example.org", /not a valid hostname/],
    ["a.*.example.org", /only as a leading/],
    ["example.org\nhttp_access allow all", /whitespace/],
    ["example.org http_access", /whitespace/],
    [" example.org", /whitespace/],
    ["example.org\tx", /whitespace/],
    ["example.org#comment", /not a valid hostname/],
    ["example.org;x", /not a valid hostname/],
    ["example.org:443", /no ':'/],
    ["https://example.org", /no ':'/],
    ["::1", /no ':'/],
    ["[::1]", /no ':'/],
    [".example.org", /not a valid hostname/],
    ["example.org.", /not a valid hostname/],
    ["-bad.example", /not a valid hostname/],
    ["bad-.example", /not a valid hostname/],
    ["under_score.example", /not a valid hostname/],
    ["a..b", /not a valid hostname/],
    ["2130706433", /not a valid hostname/],
    ["10.0.0.256", /not a valid hostname/],
    ["010.0.0.1", /not a valid hostname/],
    ["1.2.3", /not a valid hostname/],
    ["%{x}.example", /not a valid hostname/],
    ["\\.evil$", /not a valid hostname/],
    [`${"a".repeat(64)}.example`, /not a valid hostname/],
  ];
  for (const [input, why] of table) {
    assert.throws(() => parseAllowEntry(input), (err: unknown) => {
      assert.ok(err instanceof UserError, `${JSON.stringify(input)}: not a UserError`);
      assert.ok(
        err.message.includes(JSON.stringify(input)),
        `message names ${JSON.stringify(input)}`,
      );
      assert.match(err.message, why, JSON.stringify(input));
      assert.match(err.hint ?? "", /egress\.allow/);
      return true;
    });
  }
});

Deno.test("renderBundleConfig: squid.conf golden (exact, wildcard, IPv4, duplicates)", async () => {
  const config = renderBundleConfig({
    slug: "dev-a1b2c",
    egressAllow: [
      "api.anthropic.com",
      "*.githubusercontent.com",
      "10.213.0.5",
      "API.anthropic.com",
      "*.wild.test",
      "*.githubusercontent.com",
    ],
    git: [],
  });
  assert.deepEqual(Object.keys(config.files), ["squid.conf"]);
  assert.deepEqual(config.identityMounts, []);
  await golden("bundle_squid_full.conf", config.files["squid.conf"]);
});

Deno.test("renderBundleConfig: empty allowlist denies everything (golden)", async () => {
  const config = renderBundleConfig({ slug: "empty-zzzzz", egressAllow: [], git: [] });
  const conf = config.files["squid.conf"];
  assert.doesNotMatch(conf, /http_access allow/);
  assert.match(conf, /http_access deny bb_why_host\n/);
  await golden("bundle_squid_empty.conf", conf);
});

Deno.test("renderBundleConfig: allow rules come after the port/proto rules and before the final deny", () => {
  const conf = renderBundleConfig({ slug: "s", egressAllow: ["a.test", "*.b.test"], git: [] })
    .files["squid.conf"];
  const order = [
    "http_access deny manager",
    "http_access deny bb_connect !bb_port_443",
    "http_access deny !bb_connect !bb_http",
    "http_access deny bb_allow_exact to_localhost",
    "http_access allow bb_allow_exact",
    "http_access allow bb_allow_suffix",
    "http_access deny bb_ip_literal",
    "http_access deny bb_why_host",
  ].map((line) => conf.indexOf(line));
  assert.ok(order.every((i) => i >= 0), String(order));
  assert.deepEqual([...order].sort((a, b) => a - b), order);
  // Exact names never use squid's dot-prefixed form (which would also match subdomains);
  // wildcard suffixes are anchored and need at least one label before them.
  assert.match(conf, /^acl bb_allow_exact dstdomain -n a\.test$/m);
  assert.match(conf, /^acl bb_allow_suffix dstdom_regex -n -i \\\.b\\\.test\$$/m);
  // Every domain ACL skips reverse DNS.
  for (const line of conf.split("\n").filter((l) => /dstdom/.test(l))) assert.match(line, / -n /);
});

Deno.test("renderBundleConfig: wildcard regex matches subdomains only", () => {
  const conf = renderBundleConfig({ slug: "s", egressAllow: ["*.wild.test"], git: [] })
    .files["squid.conf"];
  const pattern = /dstdom_regex -n -i (\S+)$/m.exec(conf)![1];
  const re = new RegExp(pattern, "i");
  const table: [string, boolean][] = [
    ["a.wild.test", true],
    ["a.b.wild.test", true],
    ["wild.test", false],
    ["xwild.test", false],
    ["a.wild.test.evil", false],
    ["a.wildxtest", false],
  ];
  for (const [host, expected] of table) assert.equal(re.test(host), expected, host);
});

Deno.test("renderBundleConfig: git remotes render remotes, known_hosts and identity mounts", async () => {
  const git: GitRemote[] = [
    {
      name: "app",
      upstream: "ssh://git@example.org/me/app.git",
      identity: "~/.ssh/id_app",
      hostKey: KEY,
    },
    {
      name: "lib-2",
      upstream: "ssh://git@git.example.net:2222/team/lib.git",
      identity: "/keys/lib",
      hostKey: `${KEY} comment here`,
    },
    { name: "scp", upstream: "git@example.org:me/scp.git", identity: "/keys/scp", hostKey: KEY },
  ];
  const config = renderBundleConfig({
    slug: "dev-a1b2c",
    egressAllow: [],
    git,
    homeDir: "/home/u/",
  });
  assert.deepEqual(Object.keys(config.files).sort(), [
    "git/known_hosts",
    "git/remotes",
    "squid.conf",
  ]);
  await golden("bundle_git_remotes.txt", config.files["git/remotes"]);
  await golden("bundle_git_known_hosts.txt", config.files["git/known_hosts"]);
  assert.deepEqual(config.identityMounts, [
    { hostPath: "/home/u/.ssh/id_app", containerPath: "/run/secrets/bot-bottle/app" },
    { hostPath: "/keys/lib", containerPath: "/run/secrets/bot-bottle/lib-2" },
    { hostPath: "/keys/scp", containerPath: "/run/secrets/bot-bottle/scp" },
  ]);
  // Identities are mounted, never rendered into the config.
  for (const content of Object.values(config.files)) {
    assert.doesNotMatch(content, /\/keys\/|id_app/);
  }
});

Deno.test("renderBundleConfig: bad git remotes are refused with the remote named", () => {
  const ok: GitRemote = {
    name: "app",
    upstream: "ssh://git@h.test/r.git",
    identity: "/k",
    hostKey: KEY,
  };
  const table: [Partial<GitRemote>, RegExp][] = [
    [{ name: "App" }, /name must match/],
    [{ upstream: "https://h.test/r.git" }, /not an SSH URL/],
    [{ upstream: "ssh://git@h.test/r.git\tx" }, /not an SSH URL/],
    [{ upstream: "ssh://git@h.test/r.git\n/tmp" }, /not an SSH URL/],
    [{ upstream: "ssh://git@h.test/r.git; rm -rf /" }, /not an SSH URL/],
    [{ upstream: "ssh://-oProxyCommand=x/r.git" }, /not an SSH URL|not a valid hostname/],
    [{ upstream: "ssh://git@h.test:99999/r.git" }, /out of range/],
    [{ hostKey: "AAAA" }, /host_key/],
    [{ hostKey: `${KEY}\nevil.test ssh-ed25519 AAAA` }, /host_key/],
    [{ identity: "relative/key" }, /absolute path/],
    [{ identity: "/a:b" }, /':'/],
  ];
  for (const [patch, why] of table) {
    assert.throws(
      () => renderBundleConfig({ slug: "s", egressAllow: [], git: [{ ...ok, ...patch }] }),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, /git remote "/);
        assert.match(err.message, why, JSON.stringify(patch));
        return true;
      },
    );
  }
  assert.throws(
    () => renderBundleConfig({ slug: "s", egressAllow: [], git: [ok, ok] }),
    /is used twice/,
  );
  assert.throws(
    () => renderBundleConfig({ slug: "s", egressAllow: [], git: [{ ...ok, identity: "~/k" }] }),
    /needs \$HOME/,
  );
  assert.throws(
    () => renderBundleConfig({ slug: "bad slug\n", egressAllow: [], git: [] }),
    /slug/,
  );
});
