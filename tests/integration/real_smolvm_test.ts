/**
 * Opt-in: the smolmachines launch against a REAL smolvm (>= 1.2.5) with a
 * usable /dev/kvm, when `BOT_BOTTLE_REAL_SMOLVM=1`. Otherwise the test is
 * registered as ignored, with the reason in its name and printed.
 *
 * The egress probe aims at a container this test starts (a `git daemon`
 * listener on a network of its own): the guest must be refused, while the
 * host reaches it (the control that makes a refusal mean something).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { probeDevice, whichIn } from "../../lib/host/host_probe.ts";
import { smolvmPaths } from "../../lib/backends/smolvm/smolvm_paths.ts";
import {
  formatVersion,
  MIN_SMOLVM_VERSION,
  parseSmolvmVersion,
  unsupportedReason,
} from "../../lib/backends/smolvm/smolvm_version.ts";
import { docker, removeAll, uniquePrefix } from "../_harness/docker.ts";
import { fileContains, filesUnder } from "../_harness/files.ts";
import { ensureImages } from "../_harness/images.ts";
import { expectedSmolfile, SECRET_GUEST_VAR, smolvmSandbox } from "../_harness/manifests.ts";
import { ROOT } from "../_harness/paths.ts";

const decoder = new TextDecoder();

/** Why the real-smolvm test cannot run here, or null when it can. */
async function skipReason(): Promise<string | null> {
  if (Deno.env.get("BOT_BOTTLE_REAL_SMOLVM") !== "1") {
    return "BOT_BOTTLE_REAL_SMOLVM is not 1";
  }
  const path = await whichIn("smolvm", Deno.env.get("PATH") ?? "");
  if (!path) return "no smolvm on PATH";
  const real = await Deno.realPath(path);
  if (real.startsWith(`${ROOT}tests/fixtures/`)) {
    return `the smolvm on PATH (${path}) is the test fake`;
  }
  const out = await new Deno.Command(path, {
    args: ["--version"],
    stdout: "piped",
    stderr: "piped",
  })
    .output().catch((e) => ({ code: -1, stdout: new Uint8Array(), stderr: enc(String(e)) }));
  const text = `${decoder.decode(out.stdout)}${decoder.decode(out.stderr)}`.trim();
  const version = parseSmolvmVersion(text);
  if (out.code !== 0 || !version) return `\`smolvm --version\` said ${JSON.stringify(text)}`;
  const why = unsupportedReason(version);
  if (why) return `${why} (need >= ${formatVersion(MIN_SMOLVM_VERSION)})`;
  if (Deno.build.os === "linux") {
    const kvm = await probeDevice("/dev/kvm");
    if (kvm.state !== "ok") {
      return `/dev/kvm is not usable (${kvm.state}${"reason" in kvm ? `: ${kvm.reason}` : ""})`;
    }
  }
  const daemon = await docker(["version"], { allowFailure: true }).catch(() => ({ code: -1 }));
  if (daemon.code !== 0) return "the Docker daemon is not reachable";
  return null;
}

function enc(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

const reason = await skipReason();

if (reason !== null) {
  console.log(`real smolvm test skipped: ${reason}`);
  Deno.test({
    name: `real smolvm: start --yes end to end (skipped: ${reason})`,
    ignore: true,
    fn() {},
  });
} else {
  Deno.test({
    name: "real smolvm: start --yes runs the agent in a microVM confined to its bundle",
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const images = await ensureImages();
      // The probe target: a listener in a container of our own, on its own network.
      const target = uniquePrefix();
      await docker(["network", "create", "--label", "io.bot-bottle.test=1", target]);
      const sb = await smolvmSandbox();
      try {
        await docker([
          "run",
          "-d",
          "--name",
          target,
          "--network",
          target,
          "--label",
          "io.bot-bottle.test=1",
          images.agent,
          "git",
          "daemon",
          "--reuseaddr",
          "--listen=0.0.0.0",
          "--port=9418",
          "--base-path=/tmp",
          "--export-all",
          "/tmp",
        ]);
        const ip = (await docker([
          "inspect",
          "--format",
          "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
          target,
        ])).stdout.trim();
        // Control: the host reaches the listener, so a refusal in the guest is the allowlist.
        let conn: Deno.TcpConn | undefined;
        for (let i = 0; i < 50 && !conn; i++) {
          conn = await Deno.connect({ hostname: ip, port: 9418 }).catch(() => undefined);
          if (!conn) await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(conn, `the probe target ${ip}:9418 does not listen`);
        conn.close();

        // Real smolvm: its own PATH, HOME and data dir (its agent rootfs lives there).
        sb.env.PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
        sb.env.HOME = Deno.env.get("HOME") ?? sb.home;
        const xdgData = Deno.env.get("XDG_DATA_HOME");
        if (xdgData) sb.env.XDG_DATA_HOME = xdgData;
        else delete sb.env.XDG_DATA_HOME;
        delete sb.env.FAKE_SMOLVM_LOG;
        sb.env.BOT_BOTTLE_PROBE_TARGET = `${ip}:9418`;
        sb.dbPath = smolvmPaths({
          os: Deno.build.os,
          env: (n) => sb.env[n],
          passwdHome: null,
        }).dbPath;

        const agent = `printf '%s' "$${SECRET_GUEST_VAR}" | sha256sum | cut -d' ' -f1; exit 7`;
        const r = await sb.run(sb.startArgs("demo", { args: [agent] }));
        assert.equal(r.code, 7, r.stderr);
        const want = createHash("sha256").update(sb.needle).digest("hex");
        assert.ok(r.stdout.includes(want), `the agent saw the secret\n${r.stdout}`);
        assert.match(r.stderr, /smolvm stored the allowlist \["192\.168\.\d+\.2\/32"\]/);
        assert.ok(r.stderr.includes(`probe ok:`) && r.stderr.includes(`direct ${ip}:9418 refused`));

        const slug = await sb.recordedSlug();
        const stateDir = `${sb.stateRoot}/bottles/${slug}`;
        const meta = JSON.parse(await Deno.readTextFile(`${stateDir}/metadata.json`));
        assert.equal(
          await Deno.readTextFile(`${stateDir}/Smolfile`),
          expectedSmolfile(meta.bundle_ip),
        );
        for (const file of await filesUnder(sb.dir, { skip: /\.tar$/ })) {
          assert.ok(!(await fileContains(file, sb.needle)), `the secret value is in ${file}`);
        }
        for (const suffix of ["", "-wal"]) {
          const db = `${sb.dbPath}${suffix}`;
          const exists = await Deno.stat(db).then(() => true, () => false);
          if (exists) assert.ok(!(await fileContains(db, sb.needle)), `the secret is in ${db}`);
        }
        assert.ok(!r.stderr.includes(sb.needle));
        assert.deepEqual(await sb.leftovers(), []);
      } finally {
        await sb.cleanup();
        await removeAll([target], [target]);
      }
    },
  });
}
