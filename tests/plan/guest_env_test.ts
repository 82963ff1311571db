import assert from "node:assert/strict";
import { guestEnv } from "../../lib/plan/guest_env.ts";
import type { ResolvedBottle } from "../../lib/manifest/types.ts";

const base: ResolvedBottle = {
  name: "b",
  chain: ["b"],
  image: "i",
  cpus: 1,
  memory: 512,
  env: { EDITOR: "vi" },
  secrets: { TOKEN: "HOST_TOKEN" },
  injected: {},
  caCerts: [],
  egressInspect: "credentials",
  egressRules: [],
  egressAllow: [],
  git: [],
  supervise: false,
  egressOnBlock: "refuse",
  egressAskTimeout: 60,
  bundle: { memory: 384, cpus: 1, pids: 256, maxPushMib: 64 },
  runtime: "runc",
};

Deno.test("guest env: proxies as IP literals, NO_PROXY loopback, bottle env kept", () => {
  assert.deepEqual(guestEnv(base, "192.168.9.2"), {
    EDITOR: "vi",
    HTTPS_PROXY: "http://192.168.9.2:8888",
    HTTP_PROXY: "http://192.168.9.2:8888",
    NO_PROXY: "localhost,127.0.0.1",
    http_proxy: "http://192.168.9.2:8888",
    https_proxy: "http://192.168.9.2:8888",
    no_proxy: "localhost,127.0.0.1",
  });
});

Deno.test("guest env: GIT_GATE_URL only with git; no supervise URL (refused at plan time)", () => {
  const withGit = guestEnv(
    {
      ...base,
      git: [{ name: "a", upstream: "git@h:p", identity: "i", hostKey: "ssh-ed25519 AAAA" }],
    },
    "192.168.9.2",
  );
  assert.equal(withGit.GIT_GATE_URL, "git://192.168.9.2:9418");
  assert.equal(withGit.MCP_SUPERVISE_URL, undefined);
  assert.equal(guestEnv({ ...base, supervise: true }, "192.168.9.2").MCP_SUPERVISE_URL, undefined);
});

Deno.test("guest env never carries secrets", () => {
  const env = guestEnv(base, "192.168.9.2");
  assert.ok(!("TOKEN" in env));
  assert.ok(!Object.values(env).includes("HOST_TOKEN"));
});
