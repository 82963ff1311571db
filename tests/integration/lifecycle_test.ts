/**
 * A bottle's lifecycle end to end (issue 5): list, stop, resume, SIGKILL
 * leftovers, cleanup and the keep marker, on both backends (real Docker; the
 * fake smolvm), with the CLI run as a subprocess under exactly the compiled
 * binary's permissions; and two concurrent launches in-process, which must
 * never share a slug or a /24.
 */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { type CliContext, realContext } from "../../lib/cli/_shared/context.ts";
import { seedOctet } from "../../lib/plan/bundle_subnet.ts";
import type { MetadataRecord } from "../../lib/plan/metadata_record.ts";
import { randomSuffix } from "../../lib/plan/slug.ts";
import type {
  Runner,
  RunOptions,
  RunResult,
  Spawned,
  SpawnOptions,
} from "../../lib/host/runner.ts";
import type { Cli } from "../_harness/cli.ts";
import { docker, labelled, runner } from "../_harness/docker.ts";
import { lifecycleManifest } from "../_harness/manifests.ts";
import { alive, childPids, cmdline, descendants } from "../_harness/procs.ts";
import { type ListDoc, Sandbox } from "../_harness/sandbox.ts";
import { sleep, waitFor } from "../_harness/wait.ts";

type Entry = ListDoc["bottles"][number];

/** A sandbox with the fake smolvm first on PATH and the lifecycle manifest. */
function lifecycleSandbox(opts: { agentArchive?: boolean } = {}): Promise<Sandbox> {
  return Sandbox.create({ fakeSmolvm: true, manifest: lifecycleManifest(), ...opts });
}

/** The subnet Docker actually gave `network`. */
async function dockerSubnet(network: string): Promise<string> {
  return (await docker([
    "network",
    "inspect",
    "--format",
    "{{(index .IPAM.Config 0).Subnet}}",
    network,
  ])).stdout.trim();
}

async function readMeta(sb: Sandbox, slug: string): Promise<MetadataRecord> {
  return JSON.parse(await Deno.readTextFile(`${sb.stateDir(slug)}/metadata.json`));
}

/** The one slug the CLI's plan printed. */
function slugOf(cli: Cli): string {
  const m = /^ {2}slug {7}(\S+)$/m.exec(cli.stderr);
  assert.ok(m, `no slug in the plan:\n${cli.stderr}`);
  return m[1];
}

function byslug(doc: ListDoc, slug: string): Entry {
  const e = doc.bottles.find((b) => b.slug === slug);
  assert.ok(e, `${slug} not in list: ${JSON.stringify(doc.bottles.map((b) => b.slug))}`);
  return e;
}

/** Assert the resources `list` shows for a running (or leftover) bottle of `backend`. */
function assertResources(e: Entry, backend: string, opts: { agent: boolean }): void {
  const p = `bot-bottle-${e.slug}`;
  if (backend === "docker") {
    const expected = [
      ...(opts.agent ? [{ name: `${p}-agent`, state: "running", role: "agent" }] : []),
      { name: `${p}-bundle`, state: "running", role: "bundle" },
    ];
    assert.deepEqual(
      [...e.containers].sort((a, b) => a.name.localeCompare(b.name)),
      expected,
      e.slug,
    );
    assert.deepEqual([...e.networks].sort(), [p, `${p}-internal`]);
    assert.equal(e.machine, null);
  } else {
    assert.deepEqual(e.containers, [{ name: `${p}-bundle`, state: "running", role: "bundle" }]);
    assert.deepEqual(e.networks, [p]);
    assert.equal(e.machine?.name, p);
  }
}

/** Stop (SIGSTOP) the CLI, SIGKILL it, then deal with the children it left running. */
async function killDuringLaunch(cli: Cli): Promise<void> {
  Deno.kill(cli.pid, "SIGSTOP"); // no new children from here on
  const kids = childPids(cli.pid);
  cli.kill("SIGKILL");
  const status = await cli.done;
  assert.equal(status.signal, "SIGKILL");
  for (const pid of kids) {
    const argv = cmdline(pid) ?? [];
    // A hanging fake smolvm or an attached `docker exec` would outlive the test: end them.
    // Any other docker client call is let finish, so nothing appears after cleanup.
    if (argv.some((a) => a.endsWith("fake_smolvm/main.ts")) || argv.includes("exec")) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
  for (const pid of kids) {
    const deadline = Date.now() + 30_000;
    while (alive(pid) && Date.now() < deadline) await sleep(100);
    if (alive(pid)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
}

/**
 * End every CLI still running (after a failure), and what it started: a `smolvm machine exec`
 * or `docker exec` left attached would otherwise hold the CLI's output pipes open.
 */
async function reap(clis: Cli[]): Promise<void> {
  for (const cli of clis) {
    if (cli.exited) continue;
    const tree = descendants(cli.pid);
    cli.kill("SIGKILL");
    for (const pid of tree) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await cli.child.status;
  }
}

Deno.test({
  name: "list, stop and resume: two bottles on each backend",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sb = await lifecycleSandbox({ agentArchive: true });
    const clis: Cli[] = [];
    try {
      const launches = [
        { label: "d1", backend: "docker" },
        { label: "d2", backend: "docker" },
        { label: "s1", backend: "smolmachines" },
        { label: "s2", backend: "smolmachines" },
      ].map((l) => ({
        ...l,
        cli: sb.start("hold", { backend: l.backend, label: `${sb.prefix}-${l.label}` }),
      }));
      clis.push(...launches.map((l) => l.cli));
      await Promise.all(launches.map((l) => l.cli.waitFor("stderr", /^bot-bottle: running /m)));
      const slugs = launches.map((l) => slugOf(l.cli));
      for (const [i, l] of launches.entries()) {
        assert.match(slugs[i], new RegExp(`^${sb.prefix}-${l.label}-[a-z0-9]{5}$`));
      }

      // list --json: all four, running, with their resources.
      const running = await sb.list();
      assert.equal(running.schema, 1);
      assert.deepEqual(running.bottles.map((b) => b.slug), [...slugs].sort());
      const subnets = new Map<string, string>();
      for (const [i, l] of launches.entries()) {
        const e = byslug(running, slugs[i]);
        assert.equal(e.agent, "hold");
        assert.equal(e.backend, l.backend);
        assert.equal(e.state, "running", JSON.stringify(e));
        assert.equal(e.reason, "");
        assert.equal(e.status, "running");
        assert.equal(e.state_dir, sb.stateDir(e.slug));
        assertResources(e, l.backend, { agent: true });
        assert.match(e.subnet ?? "", /^192\.168\.\d{1,3}\.0\/24$/);
        assert.equal(e.subnet, (await readMeta(sb, e.slug)).subnet);
        // The printed plan's /24, or the one the launch announced it moved to (four bottles
        // created at once may overlap; docker network create arbitrates and the CLI says so).
        const subnet = e.subnet!.replaceAll(".", "\\.");
        assert.match(
          l.cli.stderr,
          new RegExp(`subnet {5}${subnet} |overlaps an existing network; moving to ${subnet}\\n`),
        );
        // The /24 Docker really holds is the one listed.
        const carrier = l.backend === "docker"
          ? `bot-bottle-${e.slug}-internal`
          : `bot-bottle-${e.slug}`;
        assert.equal(await dockerSubnet(carrier), e.subnet);
        subnets.set(e.slug, e.subnet!);
      }
      assert.equal(new Set(subnets.values()).size, 4, "four bottles, four /24s");
      assert.deepEqual(sb.machines(), slugs.slice(2).map((s) => `bot-bottle-${s}`).sort());

      // A running bottle cannot be resumed.
      const busy = await sb.run(["resume", slugs[0], "--yes", "--manifest", sb.manifest]);
      assert.equal(busy.code, 1, busy.stderr);
      assert.match(
        busy.stderr,
        new RegExp(`error: bottle ${slugs[0]} is running; only a stopped bottle can be resumed`),
      );

      // stop each: torn down, state kept as stopped, nothing labelled with the slug left.
      const stops = await Promise.all(slugs.map((s) => sb.run(["stop", s])));
      for (const [i, r] of stops.entries()) {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`${slugs[i]} stopped; resume it with`));
      }
      // Stopping a machine removes the fake's guest container, which ends its exec session,
      // as a real VM's death does.
      const exits = await Promise.all(launches.map((l) => l.cli.wait(60_000)));
      for (const [i, r] of exits.entries()) {
        assert.match(r.stderr, /agent exited with \d+; state kept for `bot-bottle resume /);
        assert.ok(!/could not remove/.test(r.stderr), `${slugs[i]}: ${r.stderr}`);
      }
      const stopped = await sb.list();
      for (const s of slugs) {
        const e = byslug(stopped, s);
        assert.equal(e.state, "stopped", JSON.stringify(e));
        assert.equal(e.status, "stopped");
        assert.deepEqual([e.containers, e.networks, e.machine], [[], [], null]);
        assert.equal(e.subnet, subnets.get(s), "stop keeps the recorded /24");
        assert.deepEqual(await labelled(s), { containers: [], networks: [] });
      }
      assert.deepEqual(sb.machines(), []);

      // resume one of each: same slug, same /24, running again.
      const resumed = [slugs[0], slugs[2]];
      const again = resumed.map((s) => sb.spawn(["resume", s, "--yes", "--manifest", sb.manifest]));
      clis.push(...again);
      await Promise.all(again.map((c) => c.waitFor("stderr", /^bot-bottle: running /m)));
      const back = await sb.list();
      for (const [i, s] of resumed.entries()) {
        assert.equal(slugOf(again[i]), s);
        const e = byslug(back, s);
        assert.equal(e.state, "running", JSON.stringify(e));
        assert.equal(e.subnet, subnets.get(s), "resume brings the bottle back on the same /24");
        assertResources(e, i === 0 ? "docker" : "smolmachines", { agent: true });
        assert.equal(
          await dockerSubnet(`bot-bottle-${s}${i === 0 ? "-internal" : ""}`),
          subnets.get(s),
        );
      }
      assert.equal(byslug(back, slugs[1]).state, "stopped");
      assert.equal(byslug(back, slugs[3]).state, "stopped");

      // Tidy up with rm: running ones are torn down, every state dir goes.
      const rms = await Promise.all(slugs.map((s) => sb.run(["rm", s])));
      for (const r of rms) assert.equal(r.code, 0, r.stderr);
      await Promise.all(again.map((c) => c.wait(60_000)));
      const empty = await sb.list();
      assert.deepEqual(empty.bottles, []);
      for (const s of slugs) {
        await assert.rejects(Deno.stat(sb.stateDir(s)), Deno.errors.NotFound);
        assert.deepEqual(await labelled(s), { containers: [], networks: [] });
      }
      assert.deepEqual(await sb.owned(), { containers: [], networks: [] });
      assert.deepEqual(sb.machines(), []);
    } finally {
      await reap(clis);
      await sb.cleanup();
    }
  },
});

Deno.test({
  name: "resume through the CLI: an unknown slug exits 1 with its own message",
  sanitizeResources: false,
  fn: async () => {
    const sb = await lifecycleSandbox();
    try {
      const r = await sb.run([
        "resume",
        `${sb.prefix}-x-aaaaa`,
        "--yes",
        "--manifest",
        sb.manifest,
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^bot-bottle: error: no bottle "${sb.prefix}-x-aaaaa" to resume: nothing is recorded in ` +
            `${sb.stateDir(`${sb.prefix}-x-aaaaa`)}\nhint: see \`bot-bottle list\``,
        ),
      );
      assert.equal(r.stdout, "");
      await assert.rejects(Deno.stat(sb.stateRoot), Deno.errors.NotFound);
    } finally {
      await sb.cleanup();
    }
  },
});

Deno.test({
  name: "SIGKILL during launch: list shows orphans, cleanup --yes removes them, keep survives",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sb = await lifecycleSandbox({ agentArchive: true });
    const clis: Cli[] = [];
    try {
      const d = sb.start("hold", { backend: "docker", label: `${sb.prefix}-k1` });
      const k = sb.start("hold", { backend: "docker", label: `${sb.prefix}-k3` });
      const s = sb.start("hold", {
        backend: "smolmachines",
        label: `${sb.prefix}-k2`,
        env: { FAKE_SMOLVM_HANG: "start" },
      });
      clis.push(d, k, s);
      const healthy = /^bot-bottle: bundle \S+ is healthy at /m;
      // Each launch is killed as soon as it reaches its step (a docker launch left running
      // while the smolmachines one is still staging its image would go on to "running").
      await Promise.all([
        d.waitFor("stderr", healthy).then(() => killDuringLaunch(d)),
        k.waitFor("stderr", healthy).then(() => killDuringLaunch(k)),
        (async () => {
          await s.waitFor("stderr", /: verified$/m);
          // The fake's `machine start` hangs: wait until the CLI is blocked in it.
          await waitFor(
            "the hanging `smolvm machine start`",
            () =>
              Promise.resolve(
                childPids(s.pid).some((pid) =>
                  (cmdline(pid) ?? []).join(" ").includes("machine start")
                ),
              ),
            30_000,
            50,
          );
          await killDuringLaunch(s);
        })(),
      ]);
      const [dSlug, kSlug, sSlug] = [d, k, s].map(slugOf);

      const orphans = await sb.list();
      assert.deepEqual(orphans.bottles.map((b) => b.slug), [dSlug, sSlug, kSlug].sort());
      for (const e of orphans.bottles) {
        assert.equal(e.state, "orphaned", JSON.stringify(e));
        assert.equal(e.reason, "resources left without a live bot-bottle process");
        assert.equal(e.status, "starting");
        assert.ok(e.containers.some((c) => c.role === "bundle"), JSON.stringify(e));
      }
      assert.deepEqual(byslug(orphans, sSlug).machine, {
        name: `bot-bottle-${sSlug}`,
        state: "created",
      });
      assert.deepEqual(sb.machines(), [`bot-bottle-${sSlug}`]);
      for (const slug of [dSlug, kSlug]) {
        assert.deepEqual(
          [...byslug(orphans, slug).networks].sort(),
          [`bot-bottle-${slug}`, `bot-bottle-${slug}-internal`],
        );
      }
      // The table says so too.
      const table = await sb.run(["list"]);
      assert.match(table.stdout, new RegExp(`^${dSlug} +hold +docker +orphaned `, "m"));
      assert.match(table.stdout, new RegExp(`^${sSlug} +hold +smolmachines +orphaned `, "m"));

      await Deno.writeTextFile(`${sb.stateDir(kSlug)}/keep`, "");
      const dry = await sb.run(["cleanup", "--dry-run"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, new RegExp(`keeping ${sb.stateDir(kSlug)} \\(keep marker\\)`));
      // Refuse to go on if cleanup would touch anything that is not this test's.
      for (const m of dry.stdout.matchAll(/^ {2}(\S+) \(/gm)) {
        assert.ok(
          [dSlug, kSlug, sSlug].includes(m[1]),
          `cleanup would remove ${m[1]}, which this test did not create; not running it`,
        );
      }

      const clean = await sb.run(["cleanup", "--yes"]);
      assert.equal(clean.code, 0, clean.stderr);
      assert.match(clean.stderr, /cleanup: \d+ removed, 0 failed\n$/);
      assert.match(clean.stderr, new RegExp(`removed machine bot-bottle-${sSlug}\n`));
      for (const slug of [dSlug, kSlug, sSlug]) {
        assert.deepEqual(await labelled(slug), { containers: [], networks: [] }, slug);
      }
      assert.deepEqual(await sb.owned(), { containers: [], networks: [] });
      assert.deepEqual(sb.machines(), []);
      await assert.rejects(Deno.stat(sb.stateDir(dSlug)), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(sb.stateDir(sSlug)), Deno.errors.NotFound);
      // The kept one: its resources are gone, its state dir (metadata and all) is not.
      assert.ok((await Deno.stat(`${sb.stateDir(kSlug)}/keep`)).isFile);
      assert.equal((await readMeta(sb, kSlug)).slug, kSlug);

      const second = await sb.run(["cleanup", "--yes"]);
      assert.equal(second.code, 0, second.stderr);
      // (Bottles of other state roots, e.g. tests running beside this one, are only a note.)
      assert.equal(
        second.stderr.replace(/^note: .*\n/gm, ""),
        `nothing to clean up\nkept ${sb.stateDir(kSlug)} (keep marker)\n`,
      );
      const after = await sb.list();
      assert.deepEqual(after.bottles.map((b) => [b.slug, b.state, b.keep]), [
        [kSlug, "orphaned", true],
      ]);
      assert.deepEqual(after.bottles[0].containers, []);
      assert.deepEqual(after.bottles[0].networks, []);
    } finally {
      await reap(clis);
      await sb.cleanup();
    }
  },
});

/** A runner that holds the first `docker network create --subnet` until both launches reach it. */
class GatedRunner implements Runner {
  #passed = false;
  constructor(private readonly inner: Runner, private readonly gate: Gate) {}
  async run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    if (
      !this.#passed && argv[1] === "network" && argv[2] === "create" && argv.includes("--subnet")
    ) {
      this.#passed = true;
      await this.gate.arrive();
    }
    return await this.inner.run(argv, options);
  }
  spawn(argv: readonly string[], options?: SpawnOptions): Spawned {
    return this.inner.spawn(argv, options);
  }
}

/** Two-party barrier, bounded (proceeds after 30 s so a failure shows as an assertion). */
class Gate {
  #count = 0;
  #open!: () => void;
  readonly #opened = new Promise<void>((r) => this.#open = r);
  arrive(): Promise<void> {
    if (++this.#count === 2) this.#open();
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      this.#opened,
      new Promise<void>((r) => timer = setTimeout(r, 30_000)),
    ]).finally(() => clearTimeout(timer));
  }
}

/** The real context, in the sandbox, with scripted slug suffixes and captured output. */
function concurrentContext(
  sb: Sandbox,
  suffixes: string[],
  gate?: Gate,
): CliContext & { err: () => string; drawn: string[] } {
  const base = realContext();
  const err: string[] = [];
  const drawn: string[] = [];
  return {
    ...base,
    runner: gate ? new GatedRunner(runner, gate) : base.runner,
    env: { get: (name) => sb.env[name] },
    cwd: sb.dir,
    stdout: () => {},
    stderr: (t) => void err.push(t),
    stdinIsTerminal: false,
    stderrIsTerminal: false,
    randomSuffix: () => {
      const s = suffixes.shift() ?? randomSuffix();
      drawn.push(s);
      return s;
    },
    err: () => err.join(""),
    drawn,
  };
}

/** Two suffixes whose slugs (`<label>-<suffix>`) share the seed /24. */
function sameSeedSuffixes(label: string): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; i < 10_000; i++) {
    const s = randomSuffix();
    const octet = seedOctet(`${label}-${s}`);
    const other = seen.get(octet);
    if (other && other !== s) return [other, s];
    seen.set(octet, s);
  }
  throw new Error("no two suffixes with the same seed octet");
}

async function startConcurrently(
  sb: Sandbox,
  label: string,
  ctxs: ReturnType<typeof concurrentContext>[],
) {
  const args = ["start", "quick", "--backend", "docker", "--label", label, "--yes"];
  const codes = await Promise.all(ctxs.map((c) => main([...args, "--manifest", sb.manifest], c)));
  const slugs = ctxs.map((c) => /^ {2}slug {7}(\S+)$/m.exec(c.err())?.[1] ?? "");
  const metas = await Promise.all(ctxs.map(async (c) => {
    const dirs = [...c.drawn].reverse().map((s) => sb.stateDir(`${label}-${s}`));
    for (const dir of dirs) {
      try {
        return JSON.parse(await Deno.readTextFile(`${dir}/metadata.json`)) as MetadataRecord;
      } catch { /* not this one */ }
    }
    return null;
  }));
  return { codes, slugs, metas };
}

Deno.test({
  name: "two starts at the same moment: the same first slug, distinct slugs and /24s",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sb = await lifecycleSandbox();
    try {
      const label = `${sb.prefix}-c`;
      const [first, t1, t2] = ["aaaaa", "bbbbb", "ccccc"];
      const ctxs = [concurrentContext(sb, [first, t1]), concurrentContext(sb, [first, t2])];
      const { codes, metas } = await startConcurrently(sb, label, ctxs);
      assert.deepEqual(codes, [0, 0], ctxs.map((c) => c.err()).join("\n----\n"));
      // Both planned the same slug; exactly one had to draw again.
      assert.deepEqual(ctxs.map((c) => c.drawn[0]), [first, first]);
      const redrew = ctxs.filter((c) => c.drawn.length === 2);
      assert.equal(redrew.length, 1, JSON.stringify(ctxs.map((c) => c.drawn)));
      const slugs = metas.map((m) => m?.slug);
      assert.equal(new Set(slugs).size, 2, JSON.stringify(slugs));
      assert.ok(slugs.includes(`${label}-${first}`));
      assert.ok(slugs.includes(`${label}-${redrew[0].drawn[1]}`));
      assert.notEqual(metas[0]!.subnet, metas[1]!.subnet);
      // The loser's printed plan names the slug it really used.
      for (const [i, c] of ctxs.entries()) {
        assert.match(c.err(), new RegExp(`tearing down bottle ${metas[i]!.slug}\n`));
      }
      assert.deepEqual(await sb.owned(), { containers: [], networks: [] });
      for (const m of metas) {
        assert.equal((await Deno.readTextFile(`${sb.stateDir(m!.slug)}/status`)).trim(), "stopped");
      }
    } finally {
      await sb.cleanup();
    }
  },
});

Deno.test({
  name: "two starts at the same moment with the same seed /24: docker network create arbitrates",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sb = await lifecycleSandbox();
    try {
      const label = `${sb.prefix}-c`;
      const [a, b] = sameSeedSuffixes(label);
      assert.equal(seedOctet(`${label}-${a}`), seedOctet(`${label}-${b}`));
      const gate = new Gate();
      const ctxs = [concurrentContext(sb, [a], gate), concurrentContext(sb, [b], gate)];
      const { codes, metas } = await startConcurrently(sb, label, ctxs);
      assert.deepEqual(codes, [0, 0], ctxs.map((c) => c.err()).join("\n----\n"));
      assert.deepEqual(metas.map((m) => m?.slug), [`${label}-${a}`, `${label}-${b}`]);
      // Both planned the same /24 (printed); the launches ended on two different ones.
      const planned = ctxs.map((c) => /^ {2}subnet {5}(\S+)/m.exec(c.err())?.[1]);
      assert.equal(planned[0], planned[1], "both plans chose the same /24");
      assert.notEqual(metas[0]!.subnet, metas[1]!.subnet);
      const moved = ctxs.filter((c) => /overlaps an existing network; moving to /.test(c.err()));
      assert.equal(moved.length, 1, ctxs.map((c) => c.err()).join("\n----\n"));
      assert.deepEqual(await sb.owned(), { containers: [], networks: [] });
    } finally {
      await sb.cleanup();
    }
  },
});
