import assert from "node:assert/strict";
import { UserError } from "../../../lib/errors.ts";
import type { GitRemote } from "../../../lib/manifest/types.ts";
import { renderBundleConfig } from "../../../lib/bundle/config/render_bundle_config.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

Deno.test("renderBundleConfig: policy.json carries the parsed allowlist (snapshot)", async (t) => {
  const config = renderBundleConfig({
    slug: "dev-a1b2c",
    egressAllow: [
      "api.anthropic.com",
      "*.githubusercontent.com",
      "10.213.0.5",
      "example.org:8443",
      "*.wild.test",
    ],
    git: [],
  });
  assert.deepEqual(Object.keys(config.files), ["policy.json"]);
  assert.deepEqual(config.identity_mounts, []);
  const policy = JSON.parse(config.files["policy.json"]);
  assert.deepEqual(policy.allow, [
    { kind: "exact", host: "api.anthropic.com", port: null },
    { kind: "suffix", suffix: "githubusercontent.com", port: null },
    { kind: "ipv4", address: "10.213.0.5", port: null },
    { kind: "exact", host: "example.org", port: 8443 },
    { kind: "suffix", suffix: "wild.test", port: null },
  ]);
  assert.equal(policy.on_block, "refuse");
  await t.assertSnapshot(config.files["policy.json"]);
});

Deno.test("renderBundleConfig: an empty allowlist and ask mode", () => {
  const policy = JSON.parse(
    renderBundleConfig({ slug: "s", egressAllow: [], onBlock: "ask", git: [] })
      .files["policy.json"],
  );
  assert.deepEqual(policy.allow, []);
  assert.equal(policy.on_block, "ask");
  assert.equal(policy.ask_timeout_seconds, 60);
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
    "policy.json",
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
