import assert from "node:assert/strict";
import { bundleName } from "../../lib/plan/resource_names.ts";
import {
  BUNDLE_HEALTH_CMD,
  bundleRunArgv,
  type BundleRunOptions,
} from "../../lib/bundle/bundle_run_argv.ts";

const BASE: BundleRunOptions = {
  slug: "dev-a1b2c",
  image: "bot-bottle/bundle:0123456789ab",
  egressNetwork: "bot-bottle-dev-a1b2c",
  ip: "192.168.42.2",
  configDir: "/home/u/.local/state/bot-bottle/bottles/dev-a1b2c/bundle",
  identityMounts: [{
    host_path: "/home/u/.ssh/id_app",
    container_path: "/run/secrets/bot-bottle/app",
  }],
  labels: {
    "io.bot-bottle.slug": "dev-a1b2c",
    "io.bot-bottle.role": "bundle",
    "io.bot-bottle.backend": "smolmachines",
  },
};

/** Value following each occurrence of `flag`. */
function values(argv: string[], flag: string): string[] {
  return argv.flatMap((arg, i) => (arg === flag ? [argv[i + 1]] : []));
}

Deno.test("bundleRunArgv: full argv", () => {
  assert.deepEqual(bundleRunArgv(BASE), [
    "docker",
    "run",
    "-d",
    "--name",
    "bot-bottle-dev-a1b2c-bundle",
    "--hostname",
    "bundle",
    "--network",
    "bot-bottle-dev-a1b2c",
    "--ip",
    "192.168.42.2",
    "--label",
    "io.bot-bottle.backend=smolmachines",
    "--label",
    "io.bot-bottle.role=bundle",
    "--label",
    "io.bot-bottle.slug=dev-a1b2c",
    "--mount",
    "type=bind,source=/home/u/.local/state/bot-bottle/bottles/dev-a1b2c/bundle,target=/etc/bot-bottle,readonly",
    "--mount",
    "type=bind,source=/home/u/.ssh/id_app,target=/run/secrets/bot-bottle/app,readonly",
    "--cap-drop",
    "ALL",
    "--cap-add",
    "CHOWN",
    "--cap-add",
    "DAC_OVERRIDE",
    "--cap-add",
    "FOWNER",
    "--cap-add",
    "KILL",
    "--cap-add",
    "NET_BIND_SERVICE",
    "--cap-add",
    "SETGID",
    "--cap-add",
    "SETUID",
    "--security-opt",
    "no-new-privileges",
    "--health-cmd",
    "/usr/local/bin/bot-bottle-health",
    "--health-interval",
    "1s",
    "--health-timeout",
    "3s",
    "--health-retries",
    "3",
    "--health-start-period",
    "60s",
    "--stop-timeout",
    "10",
    "bot-bottle/bundle:0123456789ab",
  ]);
});

Deno.test("bundleRunArgv: table of properties", () => {
  const table: [string, BundleRunOptions, (argv: string[]) => void][] = [
    ["image is the last argument", BASE, (a) => assert.equal(a.at(-1), BASE.image)],
    [
      "name per SPEC §4.1",
      BASE,
      (a) => assert.deepEqual(values(a, "--name"), ["bot-bottle-dev-a1b2c-bundle"]),
    ],
    [
      "every mount is read-only",
      BASE,
      (a) => assert.ok(values(a, "--mount").every((v) => v.endsWith(",readonly"))),
    ],
    [
      "no identity: only the config mount",
      { ...BASE, identityMounts: [] },
      (a) =>
        assert.deepEqual(values(a, "--mount"), [
          `type=bind,source=${BASE.configDir},target=/etc/bot-bottle,readonly`,
        ]),
    ],
    [
      "labels sorted by key",
      { ...BASE, labels: { z: "1", a: "2" } },
      (a) => assert.deepEqual(values(a, "--label"), ["a=2", "z=1"]),
    ],
    ["health check is the bundle script, every second", BASE, (a) => {
      assert.deepEqual(values(a, "--health-cmd"), [BUNDLE_HEALTH_CMD]);
      assert.deepEqual(values(a, "--health-interval"), ["1s"]);
    }],
    ["never privileged, no host network, no docker socket", BASE, (a) => {
      assert.ok(!a.includes("--privileged"));
      assert.ok(!a.some((x) => x.includes("docker.sock")));
      assert.deepEqual(values(a, "--network"), [BASE.egressNetwork]);
    }],
  ];
  for (const [name, opts, check] of table) {
    try {
      check(bundleRunArgv(opts));
    } catch (err) {
      throw new Error(`${name}: ${err}`);
    }
  }
});

Deno.test("bundleRunArgv refuses paths that would break -v parsing", () => {
  assert.throws(() => bundleRunArgv({ ...BASE, configDir: "relative/dir" }), /absolute/);
  assert.throws(
    () => bundleRunArgv({ ...BASE, configDir: "/a:/etc/shadow" }),
    /absolute, without ':'/,
  );
  assert.throws(
    () => bundleRunArgv({ ...BASE, identityMounts: [{ host_path: "/k,x", container_path: "/c" }] }),
    /identity/,
  );
});

Deno.test("bundleName", () => {
  assert.equal(bundleName("x-1"), "bot-bottle-x-1-bundle");
});
