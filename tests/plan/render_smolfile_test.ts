import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { guestEnv } from "../../lib/plan/guest_env.ts";
import { renderSmolfile, tomlString } from "../../lib/plan/render_smolfile.ts";
import type { ResolvedBottle } from "../../lib/manifest/types.ts";

const bottle: ResolvedBottle = {
  name: "dev",
  chain: ["base", "dev"],
  image: "img:1",
  cpus: 2,
  memory: 4096,
  workdir: "/work space",
  env: { GIT_AUTHOR_NAME: 'Ada "the" Lovelace', MULTI: "line1\nline2\\end", A: "y", A1: "x" },
  secrets: { CLAUDE_CODE_OAUTH_TOKEN: "BOT_BOTTLE_CLAUDE_TOKEN" },
  injected: {},
  caCerts: [],
  egressInspect: "credentials",
  egressRules: [],
  egressAllow: ["api.anthropic.com"],
  git: [{
    name: "app",
    upstream: "git@example.org:me/app.git",
    identity: "~/.ssh/id",
    hostKey: "ssh-ed25519 AAAA",
  }],
  supervise: false,
  egressOnBlock: "refuse",
  egressAskTimeout: 60,
  bundle: { memory: 384, cpus: 1, pids: 256, maxPushMib: 64 },
  runtime: "runc",
};

function render(): string {
  return renderSmolfile({
    env: guestEnv(bottle, "192.168.70.2"),
    bundleIp: "192.168.70.2",
    cpus: bottle.cpus,
    memory: bottle.memory,
    workdir: bottle.workdir,
  });
}

Deno.test("Smolfile matches its snapshot byte for byte", async (t) => {
  await t.assertSnapshot(render());
});

Deno.test("Smolfile is deterministic whatever the env insertion order", () => {
  const reversed = { ...bottle, env: Object.fromEntries(Object.entries(bottle.env).reverse()) };
  const again = renderSmolfile({
    env: guestEnv(reversed, "192.168.70.2"),
    bundleIp: "192.168.70.2",
    cpus: 2,
    memory: 4096,
    workdir: "/work space",
  });
  assert.equal(again, render());
});

// Keys smolvm 1.9.3 (and 0.8.0) accept per reference/smolvm.md §2; smolvm denies unknown fields.
const SMOLVM_193_TOP_KEYS = new Set([
  "image",
  "entrypoint",
  "cmd",
  "env",
  "secrets",
  "workdir",
  "cpus",
  "memory",
  "net",
  "gpu",
  "gpu_vram",
  "rosetta",
  "cuda",
  "auto_graph",
  "docker_socket",
  "storage",
  "overlay",
  "ports",
  "volumes",
  "init",
  "network",
  "dev",
  "artifact",
  "pack",
  "health",
  "restart",
  "auth",
  "service",
  "fork",
]);

Deno.test("Smolfile round-trips through a TOML parser with only keys smolvm accepts", () => {
  const parsed = parse(render()) as Record<string, unknown>;
  for (const key of Object.keys(parsed)) assert.ok(SMOLVM_193_TOP_KEYS.has(key), key);
  assert.deepEqual(Object.keys(parsed.network as object), ["allow_cidrs"]);
  assert.deepEqual((parsed.network as { allow_cidrs: string[] }).allow_cidrs, ["192.168.70.2/32"]);
  assert.ok((parsed.env as string[]).includes("MULTI=line1\nline2\\end"));
  for (const forbidden of ["name", "dns", "net_backend", "labels", "deny_cidrs"]) {
    assert.ok(!(forbidden in parsed), forbidden);
  }
});

Deno.test("secrets never reach the Smolfile", () => {
  const text = render();
  assert.ok(!text.includes("CLAUDE_CODE_OAUTH_TOKEN"));
  assert.ok(!text.includes("BOT_BOTTLE_CLAUDE_TOKEN"));
});

Deno.test("tomlString escapes quotes, backslashes and control characters", () => {
  assert.equal(tomlString('a"b\\c\n\t\u0001\u007f'), '"a\\"b\\\\c\\n\\t\\u0001\\u007f"');
  assert.equal(parse(`k = ${tomlString('x"y\\z\u0000')}`).k, 'x"y\\z\u0000');
});
