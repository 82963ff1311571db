/**
 * The smolmachines backend end to end, against the FAKE smolvm (tests/fixtures/bin; its guest
 * is a Docker container confined to the bundle by an emulated allowlist) and the real Docker
 * engine, through the CLI as a subprocess with exactly the product's permissions (SPEC §6, §9,
 * §16):
 *
 * 1. a launch runs the agent in the guest to completion, passes its exit code through, drives
 *    smolvm with exactly the expected argv in the expected order, writes the plan's Smolfile,
 *    hands the secret to the agent by reference only, stages the image archive and removes it
 *    at teardown, and the secret's value lands nowhere on disk, in argv, in output or in the
 *    bundle;
 * 2. every smolvm misbehaviour (allowlist fields, every escape field, an unknown field, the
 *    image's own workload, another image) stops the launch before the machine (or the agent)
 *    starts, with its own message naming field, expected and found, and leaves nothing behind;
 *    an unconfined guest makes the probe fail with LEAK;
 * 3. with the confinement, a direct connection from the guest to a reachable address that is
 *    not the bundle is refused fast, and the probe's verdict says so;
 * 4. an image whose own ENTRYPOINT would run with the secrets does not run at start;
 * 5. without a terminal the agent's output streams as it is printed;
 * 6. preflight refusals through the real CLI happen before any side effect.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { IDLE_ENTRYPOINT } from "../../lib/plan/render_smolfile.ts";
import { PROBE_SCRIPT } from "../../lib/launch/egress_probe.ts";
import { tagged } from "../_harness/cli.ts";
import { containersNamed, docker, networksNamed } from "../_harness/docker.ts";
import { callsOf, guestExec, machineRows, readCalls } from "../_harness/fake_smolvm.ts";
import { fileContains, filesUnder } from "../_harness/files.ts";
import { ensureImages, entrypointImage, saveAgentArchive } from "../_harness/images.ts";
import {
  expectedSmolfile,
  SECRET_GUEST_VAR,
  SECRET_HOST_VAR,
  smolvmManifest,
  smolvmSandbox,
} from "../_harness/manifests.ts";
import { ENTRYPOINT_DOCKERFILE } from "../_harness/paths.ts";
import { Sandbox } from "../_harness/sandbox.ts";
import { pool } from "../_harness/wait.ts";

/**
 * The agent, in the guest: says what it sees (the secret only as a hash), waits (bounded) for
 * the test to look at the running bottle and release it, exits 7.
 */
const AGENT_SCRIPT = `set -eu
echo "seen secret $(printf '%s' "$${SECRET_GUEST_VAR}" | sha256sum | cut -d' ' -f1)"
echo "seen env $HTTPS_PROXY $BBTEST_MODE"
echo "seen user $(id -un) $HOME $(pwd)"
[ -d /.fake-smolvm ] && echo "seen guest fake-smolvm"
echo "seen ready"
for i in $(seq 600); do [ -e /tmp/bbtest-release ] && break; sleep 0.1; done
echo agent-done
exit 7`;

/** The staged archive dirs under the sandbox's smolvm cache (bot-bottle removes them). */
function stagedArchives(sb: Sandbox): string[] {
  const dir = `${sb.home}/.cache/smolvm-image-archives`;
  try {
    return [...Deno.readDirSync(dir)].filter((e) => /^[0-9a-f]{64}$/.test(e.name)).map((e) =>
      e.name
    );
  } catch {
    return [];
  }
}

async function metadataOf(sb: Sandbox, slug: string): Promise<Record<string, unknown>> {
  return JSON.parse(
    await Deno.readTextFile(`${sb.stateRoot}/bottles/${slug}/metadata.json`),
  ) as Record<string, unknown>;
}

Deno.test({
  name:
    "smolmachines: start --yes runs the agent through smolvm, exact calls, secret only by reference",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const images = await ensureImages();
    const sb = await smolvmSandbox();
    try {
      const root = sb.stateRoot;
      const cli = sb.start("demo", { args: [AGENT_SCRIPT, "agent"] });
      await cli.waitFor("stdout", /^seen ready$/m);
      const slug = await sb.recordedSlug();
      assert.ok(slug?.startsWith(`${sb.prefix}-`), `slug ${slug}`);
      const stateDir = `${root}/bottles/${slug}`;
      const machine = `bot-bottle-${slug}`;
      // While it runs: the bundle's logs and config (scanned for the secret below), and the
      // archive smolvm staged, a hard link to the private copy bot-bottle handed it.
      const bundle = `${machine}-bundle`;
      const logs = await docker(["logs", bundle], { allowFailure: true });
      await Deno.writeTextFile(`${sb.out}/bundle.log`, logs.stdout + logs.stderr);
      await Deno.writeTextFile(
        `${sb.out}/bundle.inspect`,
        (await docker(["inspect", bundle])).stdout,
      );
      const staged = stagedArchives(sb);
      assert.equal(staged.length, 1, "one archive staged");
      const stagedTar = `${sb.home}/.cache/smolvm-image-archives/${staged[0]}/archive.tar`;
      assert.equal(
        (await Deno.stat(stagedTar)).ino,
        (await Deno.stat(`${stateDir}/image.tar`)).ino,
        "smolvm hard-linked the private copy",
      );
      await guestExec(machine, ["touch", "/tmp/bbtest-release"]);
      const r = await cli.wait(120_000);
      assert.equal(r.code, 7, `exit code passed through\n${r.stderr}`);
      assert.match(r.stdout, /agent-done/);
      assert.match(r.stderr, /bot-bottle: agent exited with 7; state kept/);

      const meta = await metadataOf(sb, slug!);
      const ip = meta.bundle_ip as string;
      assert.match(ip, /^192\.168\.\d+\.2$/);
      const hex = images.agentId.replace(/^sha256:/, "");
      const archive = `${root}/images/${hex}.tar`;
      const probeTarget = sb.env.BOT_BOTTLE_PROBE_TARGET.split(":");

      // Exactly these smolvm calls, in this order.
      const calls = await readCalls(sb);
      assert.deepEqual(calls.map((c) => c.argv), [
        ["smolvm", "--version"],
        // Whether a machine of that name exists is checked before create: absent, so what
        // has the name after create is this bottle's to remove.
        ["smolvm", "machine", "ls", "--json"],
        [
          "smolvm",
          "machine",
          "create",
          "--name",
          machine,
          "-s",
          `${stateDir}/Smolfile`,
          "-I",
          `${stateDir}/image.tar`,
          "--dns",
          ip,
          "--secret-env",
          `${SECRET_GUEST_VAR}=${SECRET_HOST_VAR}`,
        ],
        ["smolvm", "machine", "start", "--name", machine],
        [
          "smolvm",
          "machine",
          "exec",
          "--name",
          machine,
          "--timeout",
          "30s",
          "--",
          "bash",
          "-c",
          PROBE_SCRIPT,
          "probe",
          ip,
          probeTarget[0],
          probeTarget[1],
        ],
        [
          "smolvm",
          "machine",
          "exec",
          "--name",
          machine,
          // stdin is forwarded (a headless agent can be fed through a pipe); no TTY, so the
          // output is streamed rather than held until the agent exits.
          "-i",
          "--stream",
          "--",
          "bash",
          "-c",
          AGENT_SCRIPT,
          "agent",
        ],
        ["smolvm", "machine", "stop", "--name", machine],
        ["smolvm", "machine", "delete", "--name", machine, "-f"],
        // Before the staged archive goes: does any machine (yours too) still use its image?
        ["smolvm", "machine", "ls", "--json"],
      ]);
      // smolvm resolves the secret reference at start and at every exec: the
      // host variable must be in those processes' environments (reference §9).
      for (const call of [...callsOf(calls, "start"), ...callsOf(calls, "exec")]) {
        assert.ok(call.env_keys.includes(SECRET_HOST_VAR), call.argv.slice(0, 3).join(" "));
      }

      // The image was handed over as a real `docker save` archive, cached by image ID, and a
      // private copy of it given to smolvm; the staged copy is gone after teardown.
      const tar = await Deno.readFile(archive);
      assert.equal(new TextDecoder().decode(tar.subarray(257, 262)), "ustar");
      assert.deepEqual(stagedArchives(sb), [], "the staged archive is removed");
      await assert.rejects(Deno.stat(`${stateDir}/image.tar`), Deno.errors.NotFound);

      // The Smolfile is the plan's, byte for byte.
      assert.equal(await Deno.readTextFile(`${stateDir}/Smolfile`), expectedSmolfile(ip));
      assert.equal(meta.slug, slug);
      assert.equal(meta.backend, "smolmachines");

      // The agent ran in the guest, as the image's user, and saw the secret (by hash), the
      // proxy and the literal env.
      const seen = tagged(r.stdout, "seen");
      const want = createHash("sha256").update(sb.needle).digest("hex");
      assert.deepEqual(seen, [
        `secret ${want}`,
        `env http://${ip}:8888 smolvm`,
        "user agent /home/agent /home/agent",
        "guest fake-smolvm",
        "ready",
      ]);
      assert.match(await Deno.readTextFile(`${sb.out}/bundle.inspect`), /"Name": "\/bot-bottle-/);
      assert.match(r.stderr, /probe ok: the proxy refused an unlisted host with 403; direct /);

      // The value is nowhere: argv (call log), Smolfile, the fake's DB (+ -wal),
      // metadata.json, the bundle's config and logs, any file of the run, output.
      const control = await Deno.makeTempFile({ prefix: "bbtest-control-" });
      await Deno.writeTextFile(control, `x${sb.needle}x`);
      assert.ok(await fileContains(control, sb.needle), "the scan finds a planted value");
      await Deno.remove(control);
      const files = await filesUnder(sb.dir, { skip: /\.tar$/ });
      for (
        const must of [
          sb.smolvmLog,
          `${stateDir}/Smolfile`,
          `${stateDir}/metadata.json`,
          sb.dbPath,
          `${sb.out}/bundle.log`,
          `${sb.out}/bundle.inspect`,
        ]
      ) assert.ok(files.includes(must), `${must} was written and is scanned`);
      for (const file of files) {
        assert.ok(!(await fileContains(file, sb.needle)), `the secret value is in ${file}`);
      }
      assert.ok(!r.stdout.includes(sb.needle) && !r.stderr.includes(sb.needle), "CLI output");
      assert.ok(!JSON.stringify(calls).includes(sb.needle), "smolvm argv");

      // Torn down: no machine row, no guest, no container, no network; state kept.
      assert.deepEqual(await sb.leftovers(), []);
      assert.deepEqual(machineRows(sb.dbPath, "bot-bottle-"), []);
    } finally {
      await sb.cleanup();
    }
  },
});

/** One way smolvm (or the guest network) misbehaves, and what bot-bottle must say. */
interface Misbehaviour {
  name: string;
  env: Record<string, string>;
  /** A fragment only this case's message contains (ip = bundle IP, machine = VM name). */
  says: (ip: string, machine: string) => string;
  /** `machine start` was called (and must be the last step that ran). */
  started?: boolean;
  /** The probe exec was called (and the agent exec was not). */
  probed?: boolean;
  /** A probe target container on a test network the guest has a route to. */
  network?: boolean;
}

/** A record mode whose message is `<field>: expected <expected>, found <found>`. */
function recordMode(mode: string, text: (ip: string) => string): Misbehaviour {
  return { name: mode, env: { FAKE_SMOLVM_RECORD: mode }, says: text };
}

const MISBEHAVIOURS: Misbehaviour[] = [
  recordMode(
    "cidrs-null",
    (ip) => `allowed_cidrs: expected ["${ip}/32"], found null (null means UNRESTRICTED egress)`,
  ),
  recordMode(
    "cidrs-other",
    (ip) => `allowed_cidrs: expected ["${ip}/32"], found ["203.0.113.7/32"]`,
  ),
  recordMode(
    "cidrs-extra",
    (ip) => `allowed_cidrs: expected ["${ip}/32"], found ["${ip}/32","0.0.0.0/0"]`,
  ),
  recordMode("network-false", () => "network: expected true, found false"),
  recordMode(
    "backend-tsi",
    () => 'network_backend: expected absent or "virtio-net", found "tsi" (TSI does not enforce',
  ),
  recordMode("no-dns", (ip) => `dns: expected "${ip}", found absent`),
  recordMode(
    "dns-filter-hosts",
    () => 'dns_filter_hosts: expected absent, found ["allowed.invalid"]',
  ),
  // Every field that opens a way out the IP allowlist does not govern (SPEC §16).
  recordMode("network-name", () => 'network_name: expected absent, found "fabric0"'),
  recordMode("ports", () => "ports: expected [], found [[8080,80]]"),
  recordMode("mounts", () => 'mounts: expected [], found [["/","/host",false]]'),
  recordMode("ssh-agent", () => "ssh_agent: expected false, found true"),
  recordMode("docker-socket", () => "docker_socket: expected false, found true"),
  recordMode(
    "published-sockets",
    () =>
      'published_sockets: expected [], found [{"direction":"mount","guest_path":"/run/host.sock",' +
      '"host_path":"/run/docker.sock"}]',
  ),
  recordMode(
    "unknown-field",
    () => 'future_escape: expected absent or a default (null, false, 0, "", [], {}), found true',
  ),
  recordMode(
    "workload-image",
    () =>
      `entrypoint: expected entrypoint ++ cmd = ${JSON.stringify(IDLE_ENTRYPOINT)}, found [] ++ []`,
  ),
  recordMode("image-other", () => `, found "local:${"0".repeat(63)}1" (smolvm did not store`),
  {
    name: "no-row",
    env: { FAKE_SMOLVM_RECORD: "no-row" },
    says: (_ip, m) => `row: expected a vms row named '${m}', found no such row`,
  },
  {
    name: "corrupt-data",
    env: { FAKE_SMOLVM_RECORD: "corrupt-data" },
    says: () => 'data: expected parsable JSON, found "{not json"',
  },
  {
    name: "no-db",
    env: { FAKE_SMOLVM_RECORD: "no-db" },
    says: () => "db: expected smolvm's state DB, found no such file",
  },
  {
    name: "fail-create",
    env: { FAKE_SMOLVM_FAIL: "create" },
    says: () => "smolvm machine create failed: Error: agent operation failed: machine create",
  },
  {
    name: "fail-start",
    env: { FAKE_SMOLVM_FAIL: "start" },
    says: () => "smolvm machine start failed: Error: agent operation failed: machine start",
    started: true,
  },
  {
    // A guest the allowlist does not confine: the probe's direct connection gets through.
    name: "unconfined",
    env: { FAKE_SMOLVM_UNCONFINED: "1" },
    network: true,
    says: () =>
      "the egress probe inside the machine failed, so the agent was not started: " +
      "probe: LEAK: a direct connection to 10.213.",
    started: true,
    probed: true,
  },
];

Deno.test({
  name: "smolmachines: every smolvm misbehaviour stops the launch early, says what, leaves nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await ensureImages();
    const cache = await Deno.makeTempDir({ prefix: "bbtest-smolvm-images-" });
    try {
      const archive = await saveAgentArchive(cache);
      const results = await pool(MISBEHAVIOURS, 5, async (m) => {
        const sb = await Sandbox.create({
          fakeSmolvm: true,
          manifest: smolvmManifest(),
          secretVar: SECRET_HOST_VAR,
          network: m.network,
          env: m.env,
        });
        try {
          await sb.seedArchive(archive);
          const r = await sb.run(sb.startArgs("demo", { args: ["echo AGENT-RAN"] }));
          // A start that fails before its agent runs leaves no state dir: the plan it printed
          // says which slug and bundle address it had.
          const slug = /^ {2}slug +(\S+)$/m.exec(r.stderr)?.[1] ?? null;
          const ip = /^ {2}subnet .*, bundle (\d+\.\d+\.\d+\.\d+)\)$/m.exec(r.stderr)?.[1] ?? "";
          return {
            m,
            sb,
            r,
            slug,
            ip,
            calls: await readCalls(sb),
            left: await sb.leftovers(),
            staged: stagedArchives(sb),
            dbExists: await Deno.stat(sb.dbPath).then(() => true, () => false),
          };
        } finally {
          await sb.cleanup();
        }
      });

      for (const x of results) {
        const tag = `[${x.m.name}]\n${x.r.stderr}`;
        assert.equal(x.r.code, 1, tag);
        assert.ok(x.slug, tag);
        const machine = `bot-bottle-${x.slug}`;
        // Its own message, naming the field, what was expected and the value found...
        assert.ok(x.r.stderr.includes(x.m.says(x.ip, machine)), tag);
        // ...and no other case's.
        for (const other of MISBEHAVIOURS) {
          if (other !== x.m) {
            assert.ok(
              !x.r.stderr.includes(other.says(x.ip, machine)),
              `${tag}\nsays ${other.name}`,
            );
          }
        }
        // Stopped before the machine started (or, for the probe, before the agent).
        const subs = x.calls.map((c) => c.argv.slice(1, 3).join(" "));
        assert.equal(subs.includes("machine start"), x.m.started === true, tag);
        assert.equal(callsOf(x.calls, "exec").length, x.m.probed ? 1 : 0, tag);
        if (x.m.probed) assert.ok(callsOf(x.calls, "exec")[0].argv.includes(PROBE_SCRIPT), tag);
        assert.ok(!x.r.stdout.includes("AGENT-RAN"), `${tag}\nthe agent ran`);
        // Teardown ran: the machine is stopped and deleted, docker is clean, the staged
        // archive is removed (once `machine ls` showed no machine left on its image).
        assert.deepEqual(subs.slice(-3), ["machine stop", "machine delete", "machine ls"], tag);
        assert.ok(!x.r.stderr.includes(x.sb.needle), tag);
        if (x.m.name === "no-db") {
          assert.equal(x.dbExists, false, "bot-bottle must never create smolvm's DB");
        }
        if (x.m.name === "corrupt-data") {
          // smolvm cannot read (so cannot delete) a record it cannot parse, and
          // bot-bottle never writes smolvm's DB: the row stays, and the user is told.
          assert.deepEqual(x.left, [`machine ${machine}`], tag);
          assert.match(
            x.r.stderr,
            new RegExp(`could not remove ${machine}: (stop: Error:.*; )?delete: Error:`),
          );
          // The machine that stays may need its image: the staged archive stays with it.
          assert.equal(x.staged.length, 1, tag);
          assert.match(x.r.stderr, /smolvm machines not listed: .*the staged archive stays/, tag);
        } else {
          assert.deepEqual(x.staged, [], `${tag}\nstaged archive left`);
          assert.deepEqual(x.left, [], tag);
        }
      }
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "smolmachines: a direct connection from the guest to anything but the bundle is refused fast",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await ensureImages();
    // A probe target of the test's own on an --internal network the guest has a route to:
    // only the emulated allowlist stands between them.
    const sb = await Sandbox.create({
      fakeSmolvm: true,
      manifest: smolvmManifest(),
      secretVar: SECRET_HOST_VAR,
      network: true,
    });
    try {
      const target = sb.probeTarget;
      assert.match(target, /^10\.213\.\d+\.\d+:443$/);
      const r = await sb.run(
        sb.startArgs("demo", {
          args: [
            `(exec 3<>/dev/tcp/${target.replace(":", "/")}) 2>&1 || echo "agent: refused too"`,
          ],
        }),
      );
      assert.equal(r.code, 0, r.stderr);
      const verdict = new RegExp(
        `probe ok: the proxy refused an unlisted host with 403; direct ${
          target.replaceAll(".", "\\.")
        } refused in (\\d+) ms \\(Connection refused\\)`,
      ).exec(r.stderr);
      assert.ok(verdict, r.stderr);
      assert.ok(Number(verdict[1]) < 3000, `refused in ${verdict[1]} ms`);
      // The agent meets the same wall.
      assert.match(r.stdout, /Connection refused\nagent: refused too\n/);
      assert.deepEqual(await sb.leftovers(), []);
    } finally {
      await sb.cleanup();
    }
  },
});

Deno.test({
  name: "smolmachines: an image whose own ENTRYPOINT would get the secrets does not run at start",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await ensureImages();
    const image = await entrypointImage();
    const config = JSON.parse(
      (await docker(["image", "inspect", "--format", "{{json .Config.Entrypoint}}", image])).stdout,
    );
    assert.match(config.join(" "), /env > \/tmp\/bbtest-entrypoint-ran/, "the image's own program");
    const sb = await smolvmSandbox();
    try {
      const manifest = await sb.writeManifest(
        `[bottles.ep]\ndockerfile = "${ENTRYPOINT_DOCKERFILE}"\ncpus = 1\nmemory = 512\n` +
          `secrets = { ${SECRET_GUEST_VAR} = "${SECRET_HOST_VAR}" }\n\n[agents.check]\n` +
          `bottle = "ep"\ncommand = ["sh", "-c", 'sleep 1; if [ -e /tmp/bbtest-entrypoint-ran ]; ` +
          `then echo "ENTRYPOINT RAN"; cat /tmp/bbtest-entrypoint-ran; else echo "entrypoint ` +
          `idle"; fi; [ -n "$${SECRET_GUEST_VAR}" ] && echo "agent has the secret"']\n`,
        "ep.toml",
      );
      const r = await sb.run(sb.startArgs("check", { manifest }));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "entrypoint idle\nagent has the secret\n");
      assert.ok(!r.stdout.includes(sb.needle));
      assert.deepEqual(await sb.leftovers(), []);
    } finally {
      await sb.cleanup();
    }
  },
});

Deno.test({
  name: "smolmachines: without a terminal the agent's output streams as it is printed",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await ensureImages();
    const sb = await smolvmSandbox();
    try {
      const cli = sb.start("demo", { args: ["echo first-line; sleep 3; echo last-line"] });
      await cli.waitFor("stdout", /^first-line$/m, 180_000);
      const seenAt = performance.now();
      assert.ok(!cli.exited, "the line came while the agent still ran");
      assert.ok(!cli.stdout.includes("last-line"));
      const r = await cli.wait(60_000);
      assert.equal(r.code, 0, r.stderr);
      const exitedAt = cli.startedAt + r.ms;
      assert.ok(exitedAt - seenAt >= 2000, `the line came ${exitedAt - seenAt} ms before the exit`);
      assert.equal(r.stdout, "first-line\nlast-line\n");
    } finally {
      await sb.cleanup();
    }
  },
});

async function dockerDir(): Promise<string> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if ((await Deno.stat(`${dir}/docker`)).isFile) return dir;
    } catch { /* keep looking */ }
  }
  throw new Error("docker is not on PATH");
}

Deno.test({
  name: "smolmachines: preflight refusals through the CLI happen before any side effect",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // A PATH with docker but without any smolvm.
    const bin = await Deno.makeTempDir({ prefix: "bbtest-nosmolvm-" });
    await Deno.symlink(`${await dockerDir()}/docker`, `${bin}/docker`);
    const cases: { name: string; env: Record<string, string>; says: string; calls: number }[] = [
      {
        name: "smolvm missing",
        env: { PATH: bin },
        says: "FAIL smolvm-installed: the smolmachines backend needs `smolvm` on PATH",
        calls: 0,
      },
      {
        name: "smolvm 1.1.0 (TSI)",
        env: { FAKE_SMOLVM_VERSION: "1.1.0" },
        says: "FAIL smolvm-version: smolvm 1.1.0 enforces the egress allowlist through TSI",
        calls: 1,
      },
      {
        name: "smolvm 1.2.4 (no --dns)",
        env: { FAKE_SMOLVM_VERSION: "1.2.4" },
        says: "FAIL smolvm-version: smolvm 1.2.4 has no `machine create --dns`",
        calls: 1,
      },
    ];
    try {
      await pool(cases, 3, async (c) => {
        const sb = await smolvmSandbox(c.env);
        try {
          const r = await sb.run(sb.startArgs("demo", { args: ["exit 0"] }));
          const tag = `[${c.name}]\n${r.stderr}`;
          assert.equal(r.code, 1, tag);
          assert.ok(r.stderr.includes(c.says), tag);
          assert.match(r.stderr, /--backend=docker/, tag);
          assert.match(
            r.stderr,
            /error: cannot start a smolmachines bottle on this host; nothing was created/,
            tag,
          );
          const calls = await readCalls(sb);
          assert.deepEqual(calls.map((x) => x.argv), c.calls ? [["smolvm", "--version"]] : [], tag);
          // No state dir, no image cache, no network, no container, no DB.
          assert.deepEqual([...Deno.readDirSync(sb.state)], [], tag);
          assert.deepEqual(await sb.leftovers(), [], tag);
          assert.deepEqual(await networksNamed(`bot-bottle-${sb.prefix}`), [], tag);
          assert.deepEqual(await containersNamed(`bot-bottle-${sb.prefix}`), [], tag);
          assert.equal(await Deno.stat(sb.dbPath).then(() => true, () => false), false, tag);
        } finally {
          await sb.cleanup();
        }
      });
    } finally {
      await Deno.remove(bin, { recursive: true });
    }
  },
});
