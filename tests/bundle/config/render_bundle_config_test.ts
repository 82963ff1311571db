import assert from "node:assert/strict";
import { UserError } from "../../../lib/errors.ts";
import type { GitRemote } from "../../../lib/manifest/types.ts";
import { renderBundleConfig } from "../../../lib/bundle/config/render_bundle_config.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

Deno.test("renderBundleConfig: squid.conf snapshot (exact, wildcard, IPv4, duplicates)", async (t) => {
  const config = renderBundleConfig({
    slug: "dev-a1b2c",
    egressAllow: [
      "api.anthropic.com",
      "*.githubusercontent.com",
      "10.213.0.5",
      "api.anthropic.com",
      "*.wild.test",
      "*.githubusercontent.com",
    ],
    git: [],
  });
  assert.deepEqual(Object.keys(config.files), ["squid.conf"]);
  assert.deepEqual(config.identity_mounts, []);
  await t.assertSnapshot(config.files["squid.conf"]);
});

Deno.test("renderBundleConfig: empty allowlist denies everything (snapshot)", async (t) => {
  const config = renderBundleConfig({ slug: "empty-zzzzz", egressAllow: [], git: [] });
  const conf = config.files["squid.conf"];
  assert.doesNotMatch(conf, /http_access allow/);
  assert.match(conf, /http_access deny bb_why_not_allowed\n/);
  await t.assertSnapshot(conf);
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
    "http_access deny bb_why_not_allowed",
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

Deno.test("renderBundleConfig: git remotes render remotes, known_hosts and identity mounts", async (t) => {
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
      hostKey: KEY,
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
  await t.assertSnapshot(config.files["git/remotes"]);
  await t.assertSnapshot(config.files["git/known_hosts"]);
  assert.deepEqual(config.identity_mounts, [
    { host_path: "/home/u/.ssh/id_app", container_path: "/run/secrets/bot-bottle/app" },
    { host_path: "/keys/lib", container_path: "/run/secrets/bot-bottle/lib-2" },
    { host_path: "/keys/scp", container_path: "/run/secrets/bot-bottle/scp" },
  ]);
  // Identities are mounted, never rendered into the config.
  for (const content of Object.values(config.files)) {
    assert.doesNotMatch(content, /\/keys\/|id_app/);
  }
});

Deno.test("renderBundleConfig: a ~/ identity without $HOME is the one user error left", () => {
  const remote: GitRemote = {
    name: "app",
    upstream: "ssh://git@h.test/org/repo+x.git",
    identity: "~/k",
    hostKey: KEY,
  };
  assert.throws(
    () => renderBundleConfig({ slug: "s", egressAllow: [], git: [remote] }),
    (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /git remote "app": identity "~\/k" needs \$HOME/);
      return true;
    },
  );
  // The same remote renders once HOME is known (the `+` in the path the old second grammar
  // refused after the user had said yes).
  const config = renderBundleConfig({ slug: "s", egressAllow: [], git: [remote], homeDir: "/h" });
  assert.equal(
    config.files["git/remotes"],
    "app\tssh://git@h.test/org/repo+x.git\t/run/secrets/bot-bottle/app\n",
  );
});

Deno.test("renderBundleConfig: input that skipped the manifest grammar is a bug, not a user error", () => {
  assert.throws(
    () => renderBundleConfig({ slug: "s", egressAllow: ["example.org http_access"], git: [] }),
    (err: unknown) => !(err instanceof UserError) && err instanceof Error,
  );
});
