import assert from "node:assert/strict";
import {
  type BottleEntry,
  collectInventory,
  CONTAINERS_ARGV,
  LABELLED_CONTAINERS_ARGV,
  LABELLED_NETWORKS_ARGV,
  NETWORKS_ARGV,
  slugFromName,
} from "../../lib/bottles/inventory.ts";
import { ownerId } from "../../lib/plan/resource_names.ts";
import { lsJsonArgv } from "../../lib/backends/smolvm/smolvm_argv.ts";
import { takeOwnerLock } from "../../lib/state/owner_lock.ts";
import { writeFakeBottle } from "../fixtures/bottle_state.ts";
import { fail, type Handler, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";

const NOW = new Date("2026-11-22T12:00:00Z");
const FOREIGN = "0123456789ab";

/** One `docker ps` line in CONTAINERS_ARGV's format. */
function ps(name: string, state: string, slug: string, role: string, backend: string, owner = "") {
  return [name, state, slug, role, backend, owner].join("\t");
}

/** One `docker network ls` line in NETWORKS_ARGV's format. */
function net(name: string, slug: string, backend: string, owner = "") {
  return [name, slug, backend, owner].join("\t");
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "bbtest-inventory-" });
  try {
    await fn(`${tmp}/bot-bottle`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

function find(bottles: BottleEntry[], slug: string): BottleEntry {
  const b = bottles.find((x) => x.slug === slug);
  assert.ok(b, `no entry for ${slug} in ${JSON.stringify(bottles.map((x) => x.slug))}`);
  return b;
}

function handlers(opts: {
  containers?: string[];
  labelledContainers?: string[];
  networks?: string[];
  labelledNetworks?: string[];
  machines?: string;
}): Handler[] {
  const lines = (l: string[] | undefined) => ok(l && l.length ? `${l.join("\n")}\n` : "");
  return [
    on(CONTAINERS_ARGV, lines(opts.containers)),
    on(LABELLED_CONTAINERS_ARGV, lines(opts.labelledContainers ?? opts.containers)),
    on(NETWORKS_ARGV, lines(opts.networks)),
    on(LABELLED_NETWORKS_ARGV, lines(opts.labelledNetworks ?? opts.networks)),
    on(lsJsonArgv(), ok(opts.machines ?? "[]\n")),
  ];
}

Deno.test("slugFromName strips the prefix and one role suffix", () => {
  assert.equal(slugFromName("bot-bottle-demo-abcde"), "demo-abcde");
  assert.equal(slugFromName("bot-bottle-demo-abcde-bundle"), "demo-abcde");
  assert.equal(slugFromName("bot-bottle-demo-abcde-agent"), "demo-abcde");
  assert.equal(slugFromName("bot-bottle-demo-abcde-agent-probe"), "demo-abcde");
  assert.equal(slugFromName("bot-bottle-demo-abcde-internal"), "demo-abcde");
  assert.equal(slugFromName("other-demo-abcde"), null);
  assert.equal(slugFromName("bot-bottle-"), null);
});

Deno.test("inventory: running, stopped and every orphan reason, joined by slug", async () => {
  await withRoot(async (root) => {
    const me = ownerId(root);
    const runDir = await writeFakeBottle(root, {
      slug: "run-aaaaa",
      backend: "docker",
      octet: 10,
      status: "running",
      startedAt: "2026-11-22T11:59:18.000Z",
    });
    await writeFakeBottle(root, { slug: "stop-bbbbb", octet: 11, status: "stopped" });
    await writeFakeBottle(root, { slug: "left-ccccc", octet: 12, status: "starting" });
    await writeFakeBottle(root, { slug: "half-ddddd", octet: 13, status: "starting" });
    await writeFakeBottle(root, { slug: "nostat-eeeee", octet: 14, status: null });
    await writeFakeBottle(root, {
      slug: "vm-fffff",
      backend: "smolmachines",
      octet: 15,
      status: "running",
    });
    const kept = await writeFakeBottle(root, {
      slug: "kept-ggggg",
      octet: 16,
      status: "starting",
      keep: true,
    });
    const lock = await takeOwnerLock(runDir);
    assert.ok(lock);
    try {
      const runner = new RecordingRunner(handlers({
        containers: [
          ps("bot-bottle-run-aaaaa-agent", "running", "run-aaaaa", "agent", "docker", me),
          ps("bot-bottle-run-aaaaa-bundle", "running", "run-aaaaa", "bundle", "docker", me),
          ps("bot-bottle-ghost-hhhhh-bundle", "exited", "ghost-hhhhh", "bundle", "docker", me),
          // Unlabelled: only the name looks like ours, so it is not ours (a compose
          // project in a directory named bot-bottle would look just like this).
          ps("bot-bottle-bare-iiiii-agent", "created", "", "", ""),
        ],
        networks: [
          net("bot-bottle-run-aaaaa", "run-aaaaa", "docker", me),
          net("bot-bottle-run-aaaaa-internal", "run-aaaaa", "docker", me),
          net("bot-bottle-left-ccccc-internal", "left-ccccc", "docker", me),
        ],
        machines: JSON.stringify([
          { name: "bot-bottle-vm-fffff", state: "created" },
          { name: "someone-elses-vm", state: "running" },
        ]),
      }));
      const inv = await collectInventory({
        runner,
        stateRoot: root,
        now: NOW,
        onPath: () => Promise.resolve(true),
      });
      assert.deepEqual(inv.notes, [
        "left alone, not labelled as bot-bottle's: bot-bottle-bare-iiiii-agent (named like " +
        "bot-bottle resources; remove them with docker yourself if they are leftovers)",
      ]);
      assert.deepEqual(
        inv.bottles.map((b) => [b.slug, b.state]),
        [
          ["ghost-hhhhh", "orphaned"],
          ["half-ddddd", "orphaned"],
          ["kept-ggggg", "orphaned"],
          ["left-ccccc", "orphaned"],
          ["nostat-eeeee", "orphaned"],
          ["run-aaaaa", "running"],
          ["stop-bbbbb", "stopped"],
          ["vm-fffff", "orphaned"],
        ],
      );
      const run = find(inv.bottles, "run-aaaaa");
      assert.equal(run.reason, "");
      assert.equal(run.agent, "demo");
      assert.equal(run.backend, "docker");
      assert.equal(run.subnet, "192.168.10.0/24");
      assert.equal(run.age_seconds, 42);
      assert.equal(run.status, "running");
      assert.equal(run.state_dir, runDir);
      assert.deepEqual(run.containers, [
        { name: "bot-bottle-run-aaaaa-agent", state: "running", role: "agent" },
        { name: "bot-bottle-run-aaaaa-bundle", state: "running", role: "bundle" },
      ]);
      assert.deepEqual(run.networks, ["bot-bottle-run-aaaaa", "bot-bottle-run-aaaaa-internal"]);
      assert.equal(run.machine, null);

      const stopped = find(inv.bottles, "stop-bbbbb");
      assert.equal(stopped.reason, "");
      assert.equal(stopped.subnet, "192.168.11.0/24");
      assert.deepEqual([stopped.containers, stopped.networks, stopped.machine], [[], [], null]);

      assert.equal(
        find(inv.bottles, "left-ccccc").reason,
        "resources left without a live bot-bottle process",
      );
      assert.deepEqual(find(inv.bottles, "left-ccccc").networks, [
        "bot-bottle-left-ccccc-internal",
      ]);
      assert.equal(
        find(inv.bottles, "half-ddddd").reason,
        'state left "starting" with nothing running',
      );
      assert.equal(find(inv.bottles, "nostat-eeeee").reason, "state dir without metadata status");
      assert.equal(find(inv.bottles, "nostat-eeeee").status, null);

      const ghost = find(inv.bottles, "ghost-hhhhh");
      assert.equal(ghost.reason, "resources without a state dir");
      assert.equal(ghost.state_dir, null);
      assert.equal(ghost.backend, "docker");
      assert.equal(ghost.agent, null);

      assert.ok(!inv.bottles.some((b) => b.slug === "bare-iiiii"), "unlabelled is not ours");

      // A status "running" without a live owner is not running: its machine is a leftover.
      const vm = find(inv.bottles, "vm-fffff");
      assert.equal(vm.reason, "resources left without a live bot-bottle process");
      assert.deepEqual(vm.machine, { name: "bot-bottle-vm-fffff", state: "created" });
      assert.equal(vm.backend, "smolmachines");

      const keep = find(inv.bottles, "kept-ggggg");
      assert.equal(keep.keep, true);
      assert.equal(keep.state_dir, kept);
      assert.equal(find(inv.bottles, "half-ddddd").keep, false);
    } finally {
      lock.release();
    }
    // The same state, the lock released: the live bottle's resources become leftovers.
    const runner = new RecordingRunner(handlers({
      containers: [ps("bot-bottle-run-aaaaa-agent", "running", "run-aaaaa", "agent", "docker", me)],
    }));
    const after = await collectInventory({
      runner,
      stateRoot: root,
      now: NOW,
      onPath: () => Promise.resolve(true),
    });
    assert.equal(find(after.bottles, "run-aaaaa").state, "orphaned");
    assert.equal(
      find(after.bottles, "run-aaaaa").reason,
      "resources left without a live bot-bottle process",
    );
  });
});

Deno.test("inventory: another state root's resources are left out, with one note", async () => {
  await withRoot(async (root) => {
    const me = ownerId(root);
    assert.match(me, /^[0-9a-f]{12}$/);
    assert.notEqual(me, FOREIGN);
    await writeFakeBottle(root, { slug: "mine-aaaaa", status: "stopped" });
    const runner = new RecordingRunner(handlers({
      containers: [
        ps(
          "bot-bottle-theirs-bbbbb-bundle",
          "running",
          "theirs-bbbbb",
          "bundle",
          "docker",
          FOREIGN,
        ),
        ps("bot-bottle-theirs-bbbbb-agent", "running", "theirs-bbbbb", "agent", "docker", FOREIGN),
        ps("bot-bottle-mine-aaaaa-bundle", "exited", "mine-aaaaa", "bundle", "docker", me),
      ],
      networks: [
        net("bot-bottle-theirs-bbbbb", "theirs-bbbbb", "docker", FOREIGN),
        // Same slug as one of ours, another owner: still not ours.
        net("bot-bottle-mine-aaaaa-internal", "mine-aaaaa", "docker", FOREIGN),
        net("bot-bottle-other-ccccc", "other-ccccc", "smolmachines", FOREIGN),
      ],
    }));
    const inv = await collectInventory({
      runner,
      stateRoot: root,
      now: NOW,
      onPath: () => Promise.resolve(false),
    });
    assert.deepEqual(inv.bottles.map((b) => b.slug), ["mine-aaaaa"]);
    const mine = inv.bottles[0];
    assert.deepEqual(mine.containers.map((c) => c.name), ["bot-bottle-mine-aaaaa-bundle"]);
    assert.deepEqual(mine.networks, []);
    assert.equal(mine.state, "orphaned");
    assert.deepEqual(inv.notes, [
      "3 bottle(s) owned by another bot-bottle state dir (another user or XDG_STATE_HOME) " +
      "were left alone",
    ]);
    // smolvm not on PATH: not asked.
    assert.ok(!runner.argvs.some((a) => a[0] === "smolvm"));
  });
});

Deno.test("inventory: a container listed by name and by label is counted once", async () => {
  await withRoot(async (root) => {
    const me = ownerId(root);
    const line = ps("bot-bottle-x-aaaaa-bundle", "running", "x-aaaaa", "bundle", "docker", me);
    const labelledOnly = ps("renamed-by-hand", "running", "x-aaaaa", "agent", "docker", me);
    const runner = new RecordingRunner(handlers({
      containers: [line],
      labelledContainers: [line, labelledOnly],
    }));
    const inv = await collectInventory({
      runner,
      stateRoot: root,
      now: NOW,
      onPath: () => Promise.resolve(false),
    });
    assert.deepEqual(inv.bottles.map((b) => b.slug), ["x-aaaaa"]);
    assert.deepEqual(inv.bottles[0].containers.map((c) => c.name), [
      "bot-bottle-x-aaaaa-bundle",
      "renamed-by-hand",
    ]);
  });
});

Deno.test("inventory: garbage from smolvm ls, a failing docker and bad metadata are notes", async () => {
  await withRoot(async (root) => {
    const dir = await writeFakeBottle(root, { slug: "bad-aaaaa", status: "stopped" });
    await Deno.writeTextFile(`${dir}/metadata.json`, "{ not json");
    const runner = new RecordingRunner([
      on(["docker", "ps"], fail(1, "Cannot connect to the Docker daemon at unix:///x.sock\n")),
      on(["docker", "network"], fail(1, "WARNING: noise\npermission denied\n")),
      on(lsJsonArgv(), ok("Machines:\n  bot-bottle-x\n")),
    ]);
    const inv = await collectInventory({
      runner,
      stateRoot: root,
      now: NOW,
      onPath: () => Promise.resolve(true),
    });
    assert.deepEqual(inv.notes, [
      `unreadable metadata in ${dir}`,
      "Docker containers not listed: Cannot connect to the Docker daemon at unix:///x.sock",
      "Docker networks not listed: permission denied",
      "`smolvm machine ls --json` printed something that is not a JSON array",
    ]);
    // The bottle is still listed, from its state dir alone.
    assert.deepEqual(inv.bottles.map((b) => [b.slug, b.state, b.agent]), [
      ["bad-aaaaa", "stopped", null],
    ]);
    // Both listings of a kind are asked at once; a failing docker is still one note per kind.
    assert.equal(runner.argvs.filter((a) => a[1] === "ps").length, 2);
    assert.equal(runner.argvs.filter((a) => a[1] === "network").length, 2);
  });
});

Deno.test("inventory: a failing smolvm ls and a missing state root are notes, not errors", async () => {
  await withRoot(async (root) => {
    const runner = new RecordingRunner([
      on(["docker"], ok("")),
      on(lsJsonArgv(), fail(1, "starting...\nError: database is locked\n")),
    ]);
    const inv = await collectInventory({
      runner,
      stateRoot: root,
      now: NOW,
      onPath: () => Promise.resolve(true),
    });
    assert.deepEqual(inv.bottles, []);
    assert.deepEqual(inv.notes, ["smolvm machines not listed: Error: database is locked"]);
  });
});

Deno.test("inventory: a runner that cannot spawn docker is a note", async () => {
  await withRoot(async (root) => {
    const runner = new RecordingRunner([]); // every call rejects
    const inv = await collectInventory({
      runner,
      stateRoot: root,
      now: NOW,
      onPath: () => Promise.resolve(false),
    });
    assert.equal(inv.notes.length, 2);
    assert.match(inv.notes[0], /^Docker containers not listed: Error: RecordingRunner/);
    assert.match(inv.notes[1], /^Docker networks not listed: /);
  });
});
