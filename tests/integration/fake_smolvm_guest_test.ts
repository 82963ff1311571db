/**
 * CONTRACT, the guest half: the fake smolvm's `machine start`/`exec`/`stop`/`delete` on a real
 * Docker engine against smolvm 1.9.3's source (notes §2, §6, §9; reference §1.3–§1.6, §9, §10):
 * the workload smolvm launches at start (`entrypoint ++ cmd` verbatim, else the image's own,
 * with the secrets resolved from start's environment), exec's environment, user, workdir,
 * modes, timeout and exit codes, the emulated allowlist (only the allowed address answers;
 * everything else is refused at once), and what a machine whose guest vanished looks like.
 *
 * Network rule: everything runs on an `--internal` test network created here, with two
 * containers of the test's own on it (the "bundle" whose address is allowed, and another).
 */
import assert from "node:assert/strict";
import { createArgv, execArgv, startArgv } from "../../lib/backends/smolvm/smolvm_argv.ts";
import { createTestNetwork, docker, removeAll } from "../_harness/docker.ts";
import {
  confinedSmolfile,
  type FakeResult,
  fakeSmolvmSandbox,
  guestExec,
  guestName,
  runFake,
  writeImageArchive,
  writeSmolfile,
} from "../_harness/fake_smolvm.ts";
import { entrypointImage, fixtureImage } from "../_harness/images.ts";
import type { Sandbox } from "../_harness/sandbox.ts";
import { startProbeTarget } from "../_harness/upstreams.ts";

const tail = (argv: string[]) => argv.slice(1);

/** A sandbox with a test network, an allowed "bundle" container and an "other" one on it. */
interface World {
  sb: Sandbox;
  net: string;
  /** The allowed address (a container listening on 443). */
  bundle: string;
  /** Another container on the same network, listening on 443: not allowed. */
  other: string;
}

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  const sb = await fakeSmolvmSandbox();
  const net = `${sb.prefix}-net`;
  const containers = [`${sb.prefix}-bundle`, `${sb.prefix}-other`];
  try {
    await createTestNetwork(net);
    const fixture = await fixtureImage();
    const [bundle, other] = await Promise.all(
      containers.map(async (c) => (await startProbeTarget(c, net, fixture)).split(":")[0]),
    );
    await fn({ sb, net, bundle, other });
  } finally {
    await sb.cleanup(); // the guests first: they sit on the network
    await removeAll(containers, [net]);
  }
}

function ok(result: FakeResult, label: string): FakeResult {
  assert.equal(result.code, 0, `${label}: ${result.stderr}`);
  return result;
}

/** bot-bottle's create, Smolfile and secret reference, for a machine confined to `w.bundle`. */
async function createConfined(
  w: World,
  name: string,
  opts: { smolfile?: string; image?: string; env?: Record<string, string> } = {},
): Promise<void> {
  const smolfile = await writeSmolfile(w.sb, opts.smolfile ?? confinedSmolfile(w.bundle), name);
  const archive = await writeImageArchive(w.sb, opts.image, `${name}.tar`);
  ok(
    await runFake(
      w.sb,
      tail(createArgv({
        name,
        smolfilePath: smolfile,
        imageArchive: archive,
        dns: w.bundle,
        secretEnv: [{ guest: "GH_TOKEN", hostVar: "HOST_GH_TOKEN" }],
      })),
      { env: opts.env },
    ),
    `create ${name}`,
  );
}

async function readRecord(sb: Sandbox, name: string): Promise<Record<string, unknown> | null> {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(sb.dbPath, { readOnly: true });
  try {
    const r = db.prepare("SELECT data FROM vms WHERE name = ?").get(name);
    return r ? JSON.parse(new TextDecoder().decode(r.data as Uint8Array)) : null;
  } finally {
    db.close();
  }
}

async function guestRunning(name: string): Promise<boolean> {
  const r = await docker(
    ["inspect", "--format", "{{.State.Running}}", guestName(name)],
    { allowFailure: true },
  );
  return r.code === 0 && r.stdout.trim() === "true";
}

const SECRET = { HOST_GH_TOKEN: `s3cr3t-${crypto.randomUUID()}` };

Deno.test({
  name: "fake guest: start boots a confined container, exec runs in it as smolvm's exec does",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withWorld(async (w) => {
      const { sb } = w;
      const m = `${sb.prefix}-life`;
      await createConfined(w, m);

      // start resolves the secret refs from its own environment: unset → error, nothing runs.
      const unset = await runFake(sb, tail(startArgv(m)));
      assert.equal(unset.code, 1);
      assert.equal(
        unset.stderr,
        `Starting machine '${m}'...\nError: config operation failed: resolve secret 'GH_TOKEN': ` +
          "env_unset\n",
      );
      assert.equal(await guestRunning(m), false);
      assert.equal((await readRecord(sb, m))?.state, "created");

      const started = ok(await runFake(sb, tail(startArgv(m)), { env: SECRET }), "start");
      assert.equal(started.stderr, `Starting machine '${m}'...\n`);
      const pid = Number(/^Machine '.*' running \(PID: (\d+)\)\n$/.exec(started.stdout)?.[1]);
      const inspect = await docker(["inspect", "--format", "{{.State.Pid}}", guestName(m)]);
      assert.equal(pid, Number(inspect.stdout.trim()), "the VMM PID is the guest's PID 1");
      const record = (await readRecord(sb, m))!;
      assert.equal(record.state, "running");
      assert.equal(record.pid, pid);
      assert.equal(record.init_completed, true);
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      assert.equal(
        record.pid_start_time,
        Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]),
        "pid_start_time is /proc starttime (clock ticks), not epoch seconds",
      );
      const again = ok(await runFake(sb, tail(startArgv(m)), { env: SECRET }), "again");
      assert.equal(again.stdout, `Machine '${m}' already running (PID: ${pid})\n`);
      const labels = await docker(["inspect", "--format", "{{json .Config.Labels}}", guestName(m)]);
      assert.deepEqual(Object.keys(JSON.parse(labels.stdout)).sort(), [
        "io.bot-bottle-test.fake-smolvm",
        "io.bot-bottle-test.fake-smolvm.db",
      ]);

      // exec: record env + secret (from exec's env) + -e, the record's workdir, the image's
      // user; the exit code passes through; default mode prints stdout, then stderr.
      const script = 'printf "%s|%s|%s|%s|%s" "$AGENT_MODE" "$GH_TOKEN" "$EXTRA" "$(pwd)" ' +
        '"$(id -un)"; echo oops >&2; exit 7';
      const ran = await runFake(
        sb,
        tail(execArgv({
          name: m,
          command: ["sh", "-c", script],
          interactive: false,
          env: { EXTRA: "cli" },
        })),
        { env: SECRET },
      );
      assert.equal(ran.code, 7, ran.stderr);
      assert.equal(ran.stdout, `test|${SECRET.HOST_GH_TOKEN}|cli|/tmp|root`);
      assert.equal(ran.stderr, "oops\n");
      const noSecret = await runFake(
        sb,
        tail(execArgv({ name: m, command: ["true"], interactive: false })),
      );
      assert.equal(noSecret.code, 1);
      assert.equal(
        noSecret.stderr,
        "Error: config operation failed: resolve secret 'GH_TOKEN': env_unset\n",
      );
      // -w wins over the record's workdir; -i forwards stdin and its end.
      const wd = await runFake(sb, ["machine", "exec", "--name", m, "-w", "/", "--", "pwd"], {
        env: SECRET,
      });
      assert.equal(wd.stdout, "/\n");
      const cat = await runFake(sb, ["machine", "exec", "--name", m, "-i", "--", "cat"], {
        env: SECRET,
        stdin: "through stdin\n",
      });
      assert.equal(cat.stdout, "through stdin\n");
      // --timeout: the command is ended, exit 124.
      const t0 = performance.now();
      const slow = await runFake(
        sb,
        ["machine", "exec", "--name", m, "--timeout", "1s", "--", "sleep", "30"],
        { env: SECRET },
      );
      assert.equal(slow.code, 124);
      assert.ok(performance.now() - t0 < 15_000, "the timeout ended it");
      const top = await docker(["top", guestName(m)]);
      assert.ok(!top.stdout.includes("sleep 30"), "the timed-out command is gone");
      // -d prints the guest PID and returns.
      const bg = ok(
        await runFake(sb, ["machine", "exec", "--name", m, "-d", "--", "sleep", "5"], {
          env: SECRET,
        }),
        "-d",
      );
      assert.match(bg.stdout, /^[1-9]\d*\n$/);
      // A command that is not there.
      const missing = await runFake(sb, ["machine", "exec", "--name", m, "--", "/nope"], {
        env: SECRET,
      });
      assert.ok(missing.code === 126 || missing.code === 127, `${missing.code}`);

      // The secret value is nowhere on disk.
      for (const file of [sb.dbPath, `${sb.dbPath}-wal`]) {
        const bytes = await Deno.readFile(file).catch(() => new Uint8Array());
        assert.ok(!new TextDecoder().decode(bytes).includes(SECRET.HOST_GH_TOKEN), file);
      }

      const stopped = ok(await runFake(sb, ["machine", "stop", "--name", m]), "stop");
      assert.equal(stopped.stdout, `Stopping machine '${m}'...\nStopped machine: ${m}\n`);
      assert.equal(await guestRunning(m), false, "stop removes the guest");
      const rec = (await readRecord(sb, m))!;
      assert.deepEqual([rec.state, rec.pid, rec.pid_start_time], ["stopped", null, null]);
      const after = await runFake(sb, ["machine", "exec", "--name", m, "--", "true"], {
        env: SECRET,
      });
      assert.equal(
        after.stderr,
        `Error: agent operation failed: connect: machine '${m}' is not running. Use 'smolvm ` +
          `machine start --name ${m}' first.\n`,
      );
      // A second start boots a new guest (init already done).
      ok(await runFake(sb, tail(startArgv(m)), { env: SECRET }), "restart");
      assert.equal(await guestRunning(m), true);
      const deleted = ok(await runFake(sb, ["machine", "delete", "--name", m, "-f"]), "delete");
      assert.equal(
        deleted.stdout,
        `Stopping machine '${m}'...\nCleaning up data directory for vm: ${m}\nDeleted machine: ${m}\n`,
      );
      assert.equal(await guestRunning(m), false);
      assert.equal(await readRecord(sb, m), null);
      assert.deepEqual(await sb.guests(), []);
    }),
});

Deno.test({
  name:
    "fake guest: only the allowed address answers; the rest is refused at once (or not, unconfined)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withWorld(async (w) => {
      const { sb } = w;
      const confined = `${sb.prefix}-conf`;
      const open = `${sb.prefix}-open`;
      await createConfined(w, confined);
      await createConfined(w, open);
      ok(await runFake(sb, tail(startArgv(confined)), { env: SECRET }), "start");
      ok(
        await runFake(sb, tail(startArgv(open)), {
          env: { ...SECRET, FAKE_SMOLVM_UNCONFINED: "1" },
        }),
        "start unconfined",
      );
      const connect = (m: string, ip: string) =>
        runFake(sb, [
          "machine",
          "exec",
          "--name",
          m,
          "--timeout",
          "20s",
          "--",
          "bash",
          "-c",
          `t0=$(date +%s%N); if (exec 3<>/dev/tcp/${ip}/443) 2>/tmp/err; then echo CONNECTED; ` +
          `else echo "REFUSED $(cat /tmp/err)"; fi; echo "ms=$(( ($(date +%s%N) - t0) / 1000000 ))"`,
        ], { env: SECRET });
      const toBundle = await connect(confined, w.bundle);
      assert.match(toBundle.stdout, /^CONNECTED\n/, toBundle.stderr);
      const toOther = await connect(confined, w.other);
      assert.match(toOther.stdout, /^REFUSED .*Connection refused/, toOther.stdout);
      const ms = Number(/ms=(\d+)/.exec(toOther.stdout)?.[1]);
      assert.ok(ms < 1000, `refused in ${ms} ms: fast, like smolvm's RST`);
      const unconfined = await connect(open, w.other);
      assert.match(unconfined.stdout, /^CONNECTED\n/, "without the allowlist the address answers");
      // The guest's DNS is the record's --dns (the bundle); IPv6 is off; no capabilities.
      const resolv = await guestExec(confined, [
        "sh",
        "-c",
        "cat /proc/sys/net/ipv6/conf/all/disable_ipv6; grep CapEff /proc/self/status",
      ]);
      assert.match(resolv.stdout, /^1\nCapEff:\s+0+\n$/, resolv.stdout);
      const dns = await docker([
        "inspect",
        "--format",
        "{{json .HostConfig.Dns}}",
        guestName(confined),
      ]);
      assert.deepEqual(JSON.parse(dns.stdout), [w.bundle]);
    }),
});

Deno.test({
  name: "fake guest: start runs entrypoint ++ cmd verbatim, else the image's own, with the secrets",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withWorld(async (w) => {
      const { sb } = w;
      const image = await entrypointImage();
      const marker = "/tmp/bbtest-entrypoint-ran";
      const base = `cpus = 1\nmemory = 256\n[network]\nallow_cidrs = ["${w.bundle}/32"]\n`;
      const cases: { tag: string; smolfile: string; entrypointRan: boolean; cmdRan?: boolean }[] = [
        { tag: "idle", smolfile: confinedSmolfile(w.bundle), entrypointRan: false },
        { tag: "empty", smolfile: base, entrypointRan: true },
        {
          tag: "cmd",
          smolfile:
            `cmd = ["/bin/sh", "-c", "echo cmd > /tmp/cmd-ran; exec sleep infinity"]\n${base}`,
          entrypointRan: false,
          cmdRan: true,
        },
        { tag: "exits", smolfile: `entrypoint = ["/bin/true"]\n${base}`, entrypointRan: false },
      ];
      for (const c of cases) {
        const m = `${sb.prefix}-${c.tag}`;
        await createConfined(w, m, { smolfile: c.smolfile, image });
        ok(await runFake(sb, tail(startArgv(m)), { env: SECRET }), `${c.tag}: start`);
        // Give a detached workload a moment to do what it does.
        await new Promise((r) => setTimeout(r, 500));
        const seen = await guestExec(m, ["sh", "-c", `cat ${marker} 2>/dev/null; ls /tmp`]);
        assert.equal(seen.stdout.includes("bbtest-entrypoint-ran"), c.entrypointRan, c.tag);
        if (c.entrypointRan) {
          assert.ok(seen.stdout.includes(`GH_TOKEN=${SECRET.HOST_GH_TOKEN}`), "with the secret");
        }
        assert.equal(seen.stdout.includes("cmd-ran"), c.cmdRan === true, `${c.tag}: cmd`);
        // Whatever the workload did, exec still works.
        const exec = await runFake(sb, ["machine", "exec", "--name", m, "--", "echo", "up"], {
          env: SECRET,
        });
        assert.equal(exec.stdout, "up\n", `${c.tag}: ${exec.stderr}`);
      }

      // A workload binary the image does not have fails start with smolvm's message shape and
      // leaves the machine created (init_completed already written), its guest gone.
      const m = `${sb.prefix}-nobin`;
      await createConfined(w, m, { smolfile: `entrypoint = ["/no/such/binary"]\n${base}`, image });
      const failed = await runFake(sb, tail(startArgv(m)), { env: SECRET });
      assert.equal(failed.code, 1);
      assert.match(
        failed.stderr,
        /^Starting machine '.*'\.\.\.\nError: agent operation failed: start background CMD: agent operation failed: run container detached: crun create failed: .*\/no\/such\/binary/,
      );
      assert.equal(await guestRunning(m), false);
      const record = (await readRecord(sb, m))!;
      assert.deepEqual([record.state, record.init_completed], ["created", true]);
    }),
});

Deno.test({
  name: "fake guest: a machine whose guest vanished is stopped, as smolvm sees a dead VMM",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withWorld(async (w) => {
      const { sb } = w;
      const m = `${sb.prefix}-gone`;
      await createConfined(w, m);
      ok(await runFake(sb, tail(startArgv(m)), { env: SECRET }), "start");
      await docker(["rm", "-f", guestName(m)]);
      const ls = JSON.parse(ok(await runFake(sb, ["machine", "ls", "--json"]), "ls").stdout);
      assert.equal(ls[0].state, "stopped");
      const status = ok(await runFake(sb, ["machine", "status", "--name", m]), "status");
      assert.equal(status.stdout, `Machine '${m}': stopped\n`);
      const exec = await runFake(sb, ["machine", "exec", "--name", m, "--", "true"], {
        env: SECRET,
      });
      assert.match(exec.stderr, /is not running\. Use 'smolvm machine start --name .*' first\.\n$/);
      const stop = ok(await runFake(sb, ["machine", "stop", "--name", m]), "stop");
      assert.equal(stop.stdout, `Machine '${m}' is not running (state: stopped)\n`);
      assert.equal((await readRecord(sb, m))?.state, "running", "smolvm leaves the record as is");
      ok(await runFake(sb, ["machine", "delete", "--name", m, "-f"]), "delete");
      assert.equal(await readRecord(sb, m), null);
    }),
});

Deno.test({
  name: "fake guest: an image missing from Docker is loaded from the staged archive",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withWorld(async (w) => {
      const { sb } = w;
      // A tiny image of the test's own (no shell, no entrypoint): built, saved, removed.
      const ctx = `${sb.home}/ctx`;
      await Deno.mkdir(ctx);
      await Deno.writeTextFile(`${ctx}/f`, crypto.randomUUID());
      await Deno.writeTextFile(`${ctx}/Dockerfile`, "FROM scratch\nCOPY f /f\n");
      const tag = `bot-bottle-test/fake-smolvm-load:${sb.prefix}`;
      await docker(["build", "-q", "-t", tag, ctx]);
      const id = (await docker(["image", "inspect", "--format", "{{.Id}}", tag])).stdout.trim();
      const archive = `${sb.home}/tiny.tar`;
      try {
        await docker(["save", "--output", archive, tag]);
        await docker(["rmi", tag]);
        const m = `${sb.prefix}-load`;
        const smolfile = await writeSmolfile(
          sb,
          `[network]\nallow_cidrs = ["${w.bundle}/32"]\n`,
          "Smolfile.tiny",
        );
        ok(
          await runFake(sb, ["machine", "create", "--name", m, "-s", smolfile, "-I", archive]),
          "create",
        );
        // No entrypoint or cmd anywhere: smolvm boots the bare agent and start succeeds.
        ok(await runFake(sb, tail(startArgv(m))), "start");
        assert.equal(
          (await docker(["image", "inspect", "--format", "{{.Id}}", id])).stdout.trim(),
          id,
        );
        assert.equal(await guestRunning(m), true, "the keep-alive needs nothing from the image");
        ok(await runFake(sb, ["machine", "delete", "--name", m, "-f"]), "delete");
      } finally {
        await docker(["rmi", "-f", id], { allowFailure: true });
      }
    }),
});
