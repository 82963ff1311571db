/**
 * The smolmachines backend end to end, against the FAKE smolvm (tests/fixtures/bin)
 * and the real Docker engine, through the CLI as a subprocess with exactly the
 * product's permissions (SPEC §6, §9):
 *
 * 1. a launch runs the agent to completion, passes its exit code through, drives
 *    smolvm with exactly the expected argv in the expected order, writes the
 *    plan's Smolfile, hands the secret to the agent by reference only, and the
 *    secret's value lands nowhere on disk, in argv, in output or in the bundle;
 * 2. every smolvm misbehaviour stops the launch before the machine (or the agent)
 *    starts, with its own message, and leaves nothing behind;
 * 3. preflight refusals through the real CLI happen before any side effect.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { PROBE_SCRIPT } from "../../lib/launch/egress_probe.ts";
import { containersNamed, networksNamed } from "../_harness/docker.ts";
import { callsOf, machineRows, readCalls } from "../_harness/fake_smolvm.ts";
import { fileContains, filesUnder } from "../_harness/files.ts";
import { ensureImages, saveAgentArchive } from "../_harness/images.ts";
import {
  expectedSmolfile,
  SECRET_GUEST_VAR,
  SECRET_HOST_VAR,
  smolvmSandbox,
} from "../_harness/manifests.ts";
import type { Sandbox } from "../_harness/sandbox.ts";
import { pool } from "../_harness/wait.ts";

/** The agent: records what it sees (the secret only as a hash), captures the bundle, exits 7. */
const AGENT_SCRIPT = `set -eu
out=$1 root=$2
printf '%s' "$${SECRET_GUEST_VAR}" | sha256sum | cut -d' ' -f1 > "$out/secret.sha256"
printf '%s\\n' "$HTTPS_PROXY" "$BBTEST_MODE" > "$out/env"
slug=$(ls "$root/bottles")
docker logs "bot-bottle-$slug-bundle" > "$out/bundle.log" 2>&1
docker inspect "bot-bottle-$slug-bundle" > "$out/bundle.inspect" 2>&1
echo agent-done
exit 7`;

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
      const r = await sb.run(sb.startArgs("demo", { args: [AGENT_SCRIPT, "agent", sb.out, root] }));
      assert.equal(r.code, 7, `exit code passed through\n${r.stderr}`);
      assert.match(r.stdout, /agent-done/);
      assert.match(r.stderr, /bot-bottle: agent exited with 7; state kept/);

      const slug = await sb.recordedSlug();
      assert.ok(slug?.startsWith(`${sb.prefix}-`), `slug ${slug}`);
      const stateDir = `${root}/bottles/${slug}`;
      const meta = await metadataOf(sb, slug!);
      const ip = meta.bundle_ip as string;
      assert.match(ip, /^192\.168\.\d+\.2$/);
      const machine = `bot-bottle-${slug}`;
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
          archive,
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
          // stdin is forwarded (a headless agent can be fed through a pipe); no TTY here.
          "-i",
          "--",
          "bash",
          "-c",
          AGENT_SCRIPT,
          "agent",
          sb.out,
          root,
        ],
        ["smolvm", "machine", "stop", "--name", machine],
        ["smolvm", "machine", "delete", "--name", machine, "-f"],
      ]);
      // smolvm resolves the secret reference at start and at every exec: the
      // host variable must be in those processes' environments (reference §9).
      for (const call of [...callsOf(calls, "start"), ...callsOf(calls, "exec")]) {
        assert.ok(call.env_keys.includes(SECRET_HOST_VAR), call.argv.slice(0, 3).join(" "));
      }

      // The image was handed over as a real `docker save` archive, cached by image ID.
      const tar = await Deno.readFile(archive);
      assert.equal(new TextDecoder().decode(tar.subarray(257, 262)), "ustar");

      // The Smolfile is the plan's, byte for byte.
      assert.equal(await Deno.readTextFile(`${stateDir}/Smolfile`), expectedSmolfile(ip));
      assert.equal(meta.slug, slug);
      assert.equal(meta.backend, "smolmachines");

      // The agent saw the secret (by hash), the proxy and the literal env.
      const want = createHash("sha256").update(sb.needle).digest("hex");
      assert.equal((await Deno.readTextFile(`${sb.out}/secret.sha256`)).trim(), want);
      assert.equal(
        await Deno.readTextFile(`${sb.out}/env`),
        `http://${ip}:8888\nsmolvm\n`,
      );
      assert.match(await Deno.readTextFile(`${sb.out}/bundle.inspect`), /"Name": "\/bot-bottle-/);

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

      // Torn down: no machine row, no container, no network; state kept.
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
  /** Start a listener and aim the probe at it (a leak). */
  leak?: boolean;
}

const MISBEHAVIOURS: Misbehaviour[] = [
  {
    name: "cidrs-null",
    env: { FAKE_SMOLVM_RECORD: "cidrs-null" },
    says: (ip) =>
      `allowed_cidrs: expected ["${ip}/32"], found null (null means UNRESTRICTED egress)`,
  },
  {
    name: "cidrs-other",
    env: { FAKE_SMOLVM_RECORD: "cidrs-other" },
    says: (ip) => `allowed_cidrs: expected ["${ip}/32"], found ["203.0.113.7/32"]`,
  },
  {
    name: "cidrs-extra",
    env: { FAKE_SMOLVM_RECORD: "cidrs-extra" },
    says: (ip) => `allowed_cidrs: expected ["${ip}/32"], found ["${ip}/32","0.0.0.0/0"]`,
  },
  {
    name: "network-false",
    env: { FAKE_SMOLVM_RECORD: "network-false" },
    says: () => "network: expected true, found false",
  },
  {
    name: "backend-tsi",
    env: { FAKE_SMOLVM_RECORD: "backend-tsi" },
    says: () =>
      'network_backend: expected absent or "virtio-net", found "tsi" (TSI does not enforce',
  },
  {
    name: "no-dns",
    env: { FAKE_SMOLVM_RECORD: "no-dns" },
    says: (ip) => `dns: expected "${ip}", found absent`,
  },
  {
    name: "dns-filter-hosts",
    env: { FAKE_SMOLVM_RECORD: "dns-filter-hosts" },
    says: () => 'dns_filter_hosts: expected absent, found ["allowed.invalid"]',
  },
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
    name: "probe-leak",
    env: {},
    leak: true,
    says: () =>
      "the egress probe inside the machine failed, so the agent was not started: " +
      "probe: LEAK: a direct connection to 127.0.0.1:",
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
        const sb = await smolvmSandbox(m.env);
        const listener = m.leak ? Deno.listen({ hostname: "127.0.0.1", port: 0 }) : undefined;
        if (listener) {
          sb.env.BOT_BOTTLE_PROBE_TARGET = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
        }
        try {
          await sb.seedArchive(archive);
          const r = await sb.run(
            sb.startArgs("demo", { args: ['touch "$1/agent-ran"', "agent", sb.out] }),
          );
          const slug = await sb.recordedSlug();
          const meta = slug ? await metadataOf(sb, slug) : {};
          return {
            m,
            sb,
            r,
            slug,
            ip: meta.bundle_ip as string,
            calls: await readCalls(sb),
            left: await sb.leftovers(),
            agentRan: await Deno.stat(`${sb.out}/agent-ran`).then(() => true, () => false),
            dbExists: await Deno.stat(sb.dbPath).then(() => true, () => false),
          };
        } finally {
          listener?.close();
          await sb.cleanup();
        }
      });

      for (const x of results) {
        const tag = `[${x.m.name}]\n${x.r.stderr}`;
        assert.equal(x.r.code, 1, tag);
        assert.ok(x.slug, tag);
        const machine = `bot-bottle-${x.slug}`;
        // Its own message, naming the field and the value found...
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
        assert.equal(x.agentRan, false, `${tag}\nthe agent ran`);
        // Teardown ran: the machine is stopped and deleted, docker is clean.
        assert.deepEqual(subs.slice(-2), ["machine stop", "machine delete"], tag);
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
        } else {
          assert.deepEqual(x.left, [], tag);
        }
      }
    } finally {
      await Deno.remove(cache, { recursive: true });
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
