/**
 * Opt-in: the smolmachines launch against a REAL smolvm with a usable
 * /dev/kvm, when `BOT_BOTTLE_REAL_SMOLVM=1`, one test step per stage (preflight,
 * create + read-back, start, probe, exec, verify, teardown), which
 * `scripts/check_real_smolvm.sh` reports as pass/fail. Otherwise the test is
 * registered as ignored, with the reason in its name and printed.
 * `BOT_BOTTLE_REAL_SMOLVM=fake` runs the same steps against the fake smolvm.
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
import type { Cli } from "../_harness/cli.ts";
import { ensureImages, entrypointImage } from "../_harness/images.ts";
import { SECRET_GUEST_VAR, smolvmManifest, smolvmSandbox } from "../_harness/manifests.ts";
import { ENTRYPOINT_DOCKERFILE, ROOT } from "../_harness/paths.ts";

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

/** `fake`: run the same steps against the fake smolvm (to check this test and its script). */
const MODE = Deno.env.get("BOT_BOTTLE_REAL_SMOLVM");
const reason = MODE === "fake" ? null : await skipReason();

/** The agent: lines that must stream, the entrypoint marker, the secret's hash; then it waits. */
const AGENT = [
  "echo LINE-1",
  "sleep 2",
  "echo LINE-2",
  "test -e /tmp/bbtest-entrypoint-ran && echo ENTRYPOINT-RAN || echo ENTRYPOINT-IDLE",
  `printf 'SECRET %s\\n' "$(printf '%s' "$${SECRET_GUEST_VAR}" | sha256sum | cut -d' ' -f1)"`,
  "echo WAITING",
  "for i in $(seq 600); do [ -e /tmp/release ] && break; sleep 0.2; done",
  "exit 7",
].join("; ");

if (reason !== null) {
  console.log(`real smolvm test skipped: ${reason}`);
  Deno.test({
    name: `real smolvm: start --yes end to end (skipped: ${reason})`,
    ignore: true,
    fn() {},
  });
} else {
  Deno.test({
    name: "real smolvm: each step of a launch, reported (scripts/check_real_smolvm.sh)",
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const images = await ensureImages();
      await entrypointImage();
      // The probe target: a listener in a container of our own, on its own network.
      const target = uniquePrefix();
      await docker(["network", "create", "--label", "io.bot-bottle.test=1", target]);
      const sb = await smolvmSandbox();
      let cli: Cli | undefined;
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
        sb.env.BOT_BOTTLE_PROBE_TARGET = `${ip}:9418`;
        if (MODE !== "fake") {
          // Real smolvm: its own PATH, HOME and data dir (its agent rootfs lives there).
          sb.env.PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
          sb.env.HOME = Deno.env.get("HOME") ?? sb.home;
          const xdgData = Deno.env.get("XDG_DATA_HOME");
          if (xdgData) sb.env.XDG_DATA_HOME = xdgData;
          else delete sb.env.XDG_DATA_HOME;
          delete sb.env.FAKE_SMOLVM_LOG;
          sb.dbPath = smolvmPaths({ os: Deno.build.os, env: (n) => sb.env[n], passwdHome: null })
            .dbPath;
        }
        // The bottle's image has its own ENTRYPOINT (it would record its env if it ran).
        const manifest = await sb.writeManifest(
          smolvmManifest().replace(/dockerfile = ".*"/, `dockerfile = "${ENTRYPOINT_DOCKERFILE}"`),
        );

        await t.step(
          "preflight: doctor passes for smolmachines (version, KVM, root, platform)",
          async () => {
            const d = await sb.run(["doctor", "--json"]);
            const doc = JSON.parse(d.stdout) as {
              ready: Record<string, boolean>;
              checks: { id: string; status: string; summary: string; fix?: string }[];
            };
            const failed = doc.checks.filter((c) =>
              c.status === "fail" && (c.id.startsWith("smolvm") || c.id.startsWith("kvm"))
            );
            assert.deepEqual(failed.map((c) => `${c.id}: ${c.summary} (fix: ${c.fix})`), []);
            assert.equal(doc.ready.smolmachines, true, d.stdout);
          },
        );

        cli = sb.spawn([
          "start",
          "demo",
          "--yes",
          "--manifest",
          manifest,
          "--label",
          sb.prefix,
          "--",
          AGENT,
        ]);
        // Streaming: LINE-1 shows while the agent still sleeps before LINE-2.
        let streamed = false;
        await cli.waitFor("stdout", /^LINE-1$/m, 600_000).then(
          () => (streamed = !cli!.stdout.includes("LINE-2")),
          () => {},
        );
        await cli.waitFor("stdout", /^WAITING$/m, 60_000).catch(() => {});
        const slug = await sb.recordedSlug();

        await t.step(
          "create + read-back: smolvm stored only the bundle, nothing that opens another way out",
          () => {
            assert.match(
              cli!.stderr,
              /smolvm stored the allowlist \["192\.168\.\d+\.2\/32"\]/,
              cli!.transcript,
            );
          },
        );
        await t.step("start: the image's own ENTRYPOINT did not run (the workload is idle)", () => {
          assert.match(cli!.stdout, /^ENTRYPOINT-IDLE$/m, cli!.transcript);
        });
        await t.step("probe: a direct connection from the guest is refused fast", () => {
          assert.ok(
            cli!.stderr.includes("probe ok:") && cli!.stderr.includes(`direct ${ip}:9418 refused`),
            cli!.transcript,
          );
        });
        await t.step(
          "exec: the agent runs with its secret (by reference); non-TTY output streams",
          async () => {
            const want = createHash("sha256").update(sb.needle).digest("hex");
            assert.match(cli!.stdout, new RegExp(`^SECRET ${want}$`, "m"), cli!.transcript);
            assert.match(cli!.stdout, /^LINE-1\nLINE-2$/m);
            assert.ok(streamed, "LINE-1 arrived only with LINE-2: non-TTY output is buffered");
            const e = await sb.run(["exec", slug!, "--", "sh", "-c", "exit 3"]);
            assert.equal(e.code, 3, e.stderr);
          },
        );
        await t.step("verify: the isolation suite passes inside the live VM", async () => {
          const v = await sb.run(["verify", slug!, "--json"], {
            BOT_BOTTLE_VERIFY_TARGET: `${ip}:9418`,
          });
          for (const c of JSON.parse(v.stdout).checks) {
            assert.equal(c.status, "pass", `${c.id}: ${c.detail}`);
          }
        });
        await t.step("teardown: exit code passed, nothing left, no secret on disk", async () => {
          await sb.run(["exec", slug!, "--", "touch", "/tmp/release"]);
          const r = await cli!.wait(180_000);
          assert.equal(r.code, 7, cli!.transcript);
          assert.deepEqual(await sb.leftovers(), []);
          const stateDir = `${sb.stateRoot}/bottles/${slug}`;
          const meta = JSON.parse(await Deno.readTextFile(`${stateDir}/metadata.json`));
          assert.ok(
            (await Deno.readTextFile(`${stateDir}/Smolfile`)).includes(`${meta.bundle_ip}/32`),
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
        });
      } finally {
        try {
          cli?.kill("SIGINT");
        } catch { /* exited */ }
        await cli?.done;
        await sb.cleanup();
        await removeAll([target], [target]);
      }
    },
  });
}
