import assert from "node:assert/strict";
import { bundleName } from "../../lib/plan/resource_names.ts";
import {
  BUNDLE_HEALTH_CMD,
  bundleRunArgv,
  type BundleRunOptions,
} from "../../lib/bundle/bundle_run_argv.ts";

const BASE: BundleRunOptions = {
  auditDir: "/state/b/audit",
  controlDir: "/state/b/control",
  limits: { memory_mib: 384, cpus: 1, pids: 256 },
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

Deno.test("bundleRunArgv: full argv (snapshot)", async (t) => {
  await t.assertSnapshot(bundleRunArgv(BASE));
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
      "every mount is read-only but the audit log dir (the only host path the bundle writes)",
      BASE,
      (a) => {
        const writable = values(a, "--mount").filter((v) => !v.endsWith(",readonly"));
        assert.deepEqual(writable, [
          `type=bind,source=${BASE.auditDir},target=/var/log/bot-bottle`,
        ]);
      },
    ],
    [
      "no identity: config, control and audit mounts only",
      { ...BASE, identityMounts: [] },
      (a) =>
        assert.deepEqual(values(a, "--mount"), [
          `type=bind,source=${BASE.configDir},target=/etc/bot-bottle,readonly`,
          `type=bind,source=${BASE.controlDir},target=/var/lib/bot-bottle/control,readonly`,
          `type=bind,source=${BASE.auditDir},target=/var/log/bot-bottle`,
        ]),
    ],
    ["confined: memory (no swap), cpus, pids, no forwarding, no IPv6", BASE, (a) => {
      assert.deepEqual(values(a, "--memory"), ["384m"]);
      assert.deepEqual(values(a, "--memory-swap"), ["384m"]);
      assert.deepEqual(values(a, "--cpus"), ["1"]);
      assert.deepEqual(values(a, "--pids-limit"), ["256"]);
      assert.deepEqual(values(a, "--sysctl"), [
        "net.ipv4.ip_forward=0",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
      ]);
    }],
    [
      "a bottle's bundle table raises the limits",
      { ...BASE, limits: { memory_mib: 1024, cpus: 2, pids: 1024 } },
      (a) => {
        assert.deepEqual(values(a, "--memory"), ["1024m"]);
        assert.deepEqual(values(a, "--pids-limit"), ["1024"]);
      },
    ],
    [
      "labels sorted by key",
      { ...BASE, labels: { z: "1", a: "2" } },
      (a) => assert.deepEqual(values(a, "--label"), ["a=2", "z=1"]),
    ],
    ["health check is the bundle script, every 30 s", BASE, (a) => {
      assert.deepEqual(values(a, "--health-cmd"), [BUNDLE_HEALTH_CMD]);
      assert.deepEqual(values(a, "--health-interval"), ["30s"]);
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
