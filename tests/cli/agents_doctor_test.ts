import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { fail, ok, on } from "../fixtures/recording_runner.ts";
import { testContext } from "../fixtures/test_context.ts";

const MANIFEST = "/home/u/.config/bot-bottle/bot-bottle.toml";
const TOML = `
[bottles.base]
image = "img:1"
secrets = { T = "HOST_T" }
egress.allow = ["a.test"]

[agents.zed]
bottle = "base"
command = ["zsh"]

[agents.alpha]
bottle = "base"
command = ["sh", "-c", "echo hi"]
`;

Deno.test("agents --json lists agents sorted, with chain, image and secret names", async () => {
  const c = testContext({ files: { [MANIFEST]: TOML }, env: { HOST_T: "s3cret-value" } });
  assert.equal(await main(["agents", "--json"], c), 0);
  const out = JSON.parse(c.stdoutText);
  assert.deepEqual(out.files, [MANIFEST]);
  assert.deepEqual(out.agents.map((a: { name: string }) => a.name), ["alpha", "zed"]);
  assert.deepEqual(out.agents[0], {
    name: "alpha",
    scope: "user",
    source: MANIFEST,
    bottle: "base",
    bottles: ["base"],
    image: "img:1",
    dockerfile: null,
    command: ["sh", "-c", "echo hi"],
    egress_allow: ["a.test"],
    secrets: ["T"],
  });
  assert.ok(!c.stdoutText.includes("s3cret-value"));
  assert.deepEqual(c.runner.calls, [], "agents spawns nothing");
});

Deno.test("agents prints a readable list on stdout; an empty manifest says so", async () => {
  const c = testContext({ files: { [MANIFEST]: TOML } });
  assert.equal(await main(["agents"], c), 0);
  assert.match(c.stdoutText, /^alpha {2}\(user: .*\)\n {2}bottles {2}base\n/);
  const empty = testContext();
  assert.equal(await main(["agents"], empty), 0);
  assert.match(empty.stderrText, /^bot-bottle: no agents defined/);
});

Deno.test("agents with --manifest reads that file instead of the user one", async () => {
  const c = testContext({ files: { "/tmp/m.toml": TOML } });
  assert.equal(await main(["--manifest", "/tmp/m.toml", "agents", "--json"], c), 0);
  assert.deepEqual(JSON.parse(c.stdoutText).files, ["/tmp/m.toml"]);
});

Deno.test("doctor --json: every check, both backends' readiness, exit 0 when all pass", async () => {
  const c = testContext();
  assert.equal(await main(["doctor", "--json"], c), 0);
  const report = JSON.parse(c.stdoutText);
  assert.equal(report.ok, true);
  assert.deepEqual(report.ready, { smolmachines: true, docker: true });
  assert.deepEqual(report.checks.map((x: { id: string }) => x.id), [
    "smolvm-installed",
    "smolvm-version",
    "kvm-device",
    "kvm-access",
    "smolvm-root",
    "docker-installed",
    "docker-daemon",
  ]);
  for (const { argv } of c.runner.calls) {
    assert.ok(["--version", "info"].includes(argv[1]), `doctor must only ask versions: ${argv}`);
  }
});

Deno.test("doctor reports every failure and exits 1 without stopping early", async () => {
  const c = testContext({
    kvm: { state: "no-access" },
    handlers: [
      on(["smolvm", "--version"], ok("smolvm 1.0.0")),
      on(["docker", "info"], fail(1, "Cannot connect to the Docker daemon")),
    ],
  });
  assert.equal(await main(["doctor"], c), 1);
  const text = c.stdoutText;
  assert.match(
    text,
    /FAIL smolvm-version: smolvm 1\.0\.0 enforces the egress allowlist through TSI/,
  );
  assert.match(text, /FAIL kvm-access: \/dev\/kvm exists but is not readable and writable/);
  assert.match(text, /FAIL docker-daemon: the Docker daemon is not reachable: Cannot connect/);
  assert.match(
    text,
    /smolmachines backend: not ready\n {2}docker backend: {7}not ready\nstart uses the smolmachines backend \(the default\): not ready\n$/,
  );
});

Deno.test("doctor --backend B: that backend's checks only, exit 0 when it is ready", async () => {
  // A Docker-only host: no smolvm.
  const dockerOnly = { have: ["docker"] };
  const c = testContext(dockerOnly);
  assert.equal(await main(["doctor", "--backend", "docker"], c), 0, c.stdoutText);
  assert.deepEqual(
    c.stdoutText.split("\n").filter((l) => /^ {2}(ok|FAIL|warn) /.test(l)).map((l) =>
      l.split(":")[0]
    ),
    ["  ok   docker-installed", "  ok   docker-daemon"],
  );
  assert.match(c.stdoutText, /^ {2}docker backend: ready$/m);
  assert.ok(!c.stdoutText.includes("smolmachines"));
  const json = testContext(dockerOnly);
  assert.equal(await main(["doctor", "--backend", "docker", "--json"], json), 0);
  const report = JSON.parse(json.stdoutText);
  assert.equal(report.backend, "docker");
  assert.equal(report.ok, true);
  assert.deepEqual(report.ready, { docker: true });

  // The same host without --backend: the default backend is not ready, and doctor says what is.
  const all = testContext(dockerOnly);
  assert.equal(await main(["doctor"], all), 1);
  assert.match(
    all.stdoutText,
    /start uses the smolmachines backend \(the default\): not ready; the docker backend is ready: use --backend docker or BOT_BOTTLE_BACKEND=docker\n$/,
  );
  const env = testContext({ ...dockerOnly, env: { BOT_BOTTLE_BACKEND: "docker" } });
  assert.equal(await main(["doctor"], env), 0);
  assert.match(env.stdoutText, /start uses the docker backend \(BOT_BOTTLE_BACKEND\): ready\n$/);
  const smol = testContext(dockerOnly);
  assert.equal(await main(["doctor", "--backend", "smolmachines"], smol), 1);
  const bad = testContext();
  assert.equal(await main(["doctor", "--backend", "qemu"], bad), 2);
  assert.match(bad.stderrText, /unknown backend "qemu"[^]*bot-bottle doctor --help/);
});
