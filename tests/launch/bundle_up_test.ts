import assert from "node:assert/strict";
import { createSubnetNetwork, startBundle } from "../../lib/launch/bundle_up.ts";
import type { TakenRange } from "../../lib/plan/bundle_subnet.ts";
import type { Plan } from "../../lib/plan/plan_types.ts";
import { fail, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";
import { testLaunch } from "../fixtures/test_launch.ts";

function fakePlan(octet: number, stateDir: string): Plan {
  return {
    subnet: `192.168.${octet}.0/24`,
    gateway: `192.168.${octet}.1`,
    labels: { "io.bot-bottle.slug": "a-abcde" },
    state_dir: stateDir,
    bundle_config: { files: { "policy.json": "{}\n" }, identity_mounts: [] },
    bundle_limits: { memory_mib: 384, cpus: 1, pids: 256 },
    secrets: [],
  } as unknown as Plan;
}

Deno.test("createSubnetNetwork: on overlap, everything Docker has now is marked taken", async () => {
  const stateDir = await Deno.makeTempDir();
  try {
    // 192.168.170.0/24 lies in a default-pool /20 another network took after planning.
    const runner = new RecordingRunner([
      on(
        ["docker", "network", "create"],
        (argv) =>
          argv.includes("192.168.170.0/24")
            ? fail(
              1,
              "Error response from daemon: Pool overlaps with other one on this address space",
            )
            : ok("netid\n"),
      ),
      on(["docker", "network", "ls"], ok("id1\n")),
      on(["docker", "network", "inspect"], ok("bot-bottle-b-xyz12 192.168.160.0/20\n")),
    ]);
    const extras: TakenRange[][] = [];
    const launch = testLaunch(runner, fakePlan(170, stateDir), {
      replan: (extra) => {
        extras.push(extra);
        return fakePlan(176, stateDir);
      },
    });
    await createSubnetNetwork(launch, {
      name: "bot-bottle-a-abcde-internal",
      role: "internal",
      internal: true,
      which: "subnet",
    });
    assert.equal(launch.plan.subnet, "192.168.176.0/24");
    assert.deepEqual(extras, [[
      { cidr: "192.168.170.0/24", source: "docker network create (overlap)" },
      { cidr: "192.168.160.0/20", source: 'docker network "bot-bottle-b-xyz12"' },
    ]]);
    assert.deepEqual(launch.teardown.created, [
      { kind: "network", name: "bot-bottle-a-abcde-internal" },
    ]);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("createSubnetNetwork: the bridge moves on overlap, the bundle /24 already made stays", async () => {
  const stateDir = await Deno.makeTempDir();
  try {
    const plan = (octet: number, bridge: number) =>
      ({
        ...fakePlan(octet, stateDir),
        bridge_subnet: `192.168.${bridge}.0/24`,
        bridge_gateway: `192.168.${bridge}.1`,
      }) as unknown as Plan;
    const runner = new RecordingRunner([
      on(
        ["docker", "network", "create"],
        (argv) =>
          argv.includes("192.168.50.0/24")
            ? fail(
              1,
              "Error response from daemon: Pool overlaps with other one on this address space",
            )
            : ok("netid\n"),
      ),
      on(["docker", "network", "ls"], ok("id1\nid2\n")),
      on(
        ["docker", "network", "inspect"],
        ok("bot-bottle-a-abcde-internal 192.168.40.0/24\nother 192.168.50.0/24\n"),
      ),
    ]);
    const calls: { extra: TakenRange[]; keep: string[] }[] = [];
    const launch = testLaunch(runner, plan(40, 50), {
      replan: (extra, keep) => {
        calls.push({ extra, keep });
        return plan(40, 51);
      },
    });
    await createSubnetNetwork(launch, {
      name: "bot-bottle-a-abcde-internal",
      role: "internal",
      internal: true,
      which: "subnet",
    });
    await createSubnetNetwork(launch, {
      name: "bot-bottle-a-abcde",
      role: "egress",
      internal: false,
      which: "bridge",
    });
    assert.equal(launch.plan.subnet, "192.168.40.0/24");
    assert.equal(launch.plan.bridge_subnet, "192.168.51.0/24");
    // The launch's own network is not "taken"; the /24 already made is kept.
    assert.deepEqual(calls, [{
      extra: [
        { cidr: "192.168.50.0/24", source: "docker network create (overlap)" },
        { cidr: "192.168.50.0/24", source: 'docker network "other"' },
      ],
      keep: ["subnet"],
    }]);
    const subnets = runner.argvs.filter((a) => a[2] === "create").map((a) =>
      a[a.indexOf("--subnet") + 1]
    );
    assert.deepEqual(subnets, ["192.168.40.0/24", "192.168.50.0/24", "192.168.51.0/24"]);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("startBundle: a container name that is already taken is not recorded (not ours to remove)", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "bbtest-bundle-up-" });
  try {
    const runner = new RecordingRunner([
      on(
        ["docker", "run"],
        fail(
          125,
          'docker: Error response from daemon: Conflict. The container name "/bot-bottle-a-abcde-' +
            'bundle" is already in use by container "0123". You have to remove (or rename) ' +
            "that container to be able to reuse that name.\n",
        ),
      ),
    ]);
    const plan = {
      ...fakePlan(170, stateDir),
      slug: "a-abcde",
      bundle_ip: "192.168.170.2",
    } as unknown as Plan;
    const launch = testLaunch(runner, plan);
    await assert.rejects(
      startBundle(launch, { network: "bot-bottle-a-abcde" }),
      /starting the bundle \(docker run -d\) failed: .*already in use/,
    );
    assert.deepEqual(launch.teardown.created, []);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("startBundle: the bundle is recorded for teardown once docker created it", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "bbtest-bundle-up-" });
  try {
    const runner = new RecordingRunner([
      on(["docker", "create"], ok("id\n")),
      on(["docker", "network", "connect"], fail(1, "Error: network gone\n")),
    ]);
    const plan = {
      ...fakePlan(170, stateDir),
      slug: "a-abcde",
      bundle_ip: "192.168.170.2",
    } as unknown as Plan;
    const launch = testLaunch(runner, plan);
    await assert.rejects(
      startBundle(launch, { network: "bot-bottle-a-abcde-internal", alsoOn: "bot-bottle-a-abcde" }),
      /network gone/,
    );
    assert.deepEqual(launch.teardown.created, [
      { kind: "container", name: "bot-bottle-a-abcde-bundle" },
    ]);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("startBundle: a missing git identity stops before docker (no root-owned dir appears)", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "bbtest-bundle-up-" });
  try {
    const runner = new RecordingRunner([]);
    const plan = {
      ...fakePlan(171, stateDir),
      slug: "a-abcde",
      bundle_ip: "192.168.171.2",
    } as unknown as Plan;
    const missing = `${stateDir}/no-such-key`;
    plan.bundle_config = {
      files: { "policy.json": "{}\n" },
      identity_mounts: [{ host_path: missing, container_path: "/run/secrets/bot-bottle/app" }],
    };
    const launch = testLaunch(runner, plan);
    await assert.rejects(
      startBundle(launch, { network: "bot-bottle-a-abcde" }),
      new RegExp(`the git identity ${missing} \\(for app\\) is not a readable file`),
    );
    assert.deepEqual(runner.calls, [], "docker was never asked to mount it");
    assert.deepEqual(launch.teardown.created, []);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
