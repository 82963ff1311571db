import assert from "node:assert/strict";
import {
  type HostProbe,
  type KvmState,
  type PreflightCheck,
  type PreflightDeps,
  preflightPassed,
} from "../../lib/host/preflight.ts";
import { backendFor, preflightAll } from "../../lib/backends/registry.ts";
import type { BackendName } from "../../lib/plan/plan_types.ts";

type Deps = Omit<PreflightDeps, "env"> & { env?: PreflightDeps["env"] };
const NO_ENV = { get: () => undefined };
const preflight = (name: BackendName, deps: Deps) =>
  backendFor(name).preflight({ env: NO_ENV, ...deps });
import { fail, ok, on, RecordingRunner } from "../fixtures/recording_runner.ts";

function probe(
  opts: { os?: string; have?: string[]; kvm?: KvmState; uid?: number } = {},
): HostProbe {
  const have = opts.have ?? ["smolvm", "docker"];
  return {
    os: opts.os ?? "linux",
    kvmPath: "/dev/kvm",
    which: (cmd) => Promise.resolve(have.includes(cmd) ? `/usr/bin/${cmd}` : null),
    kvm: () => Promise.resolve(opts.kvm ?? { state: "ok" }),
    uid: () => opts.uid ?? 1000,
    gid: () => 1000,
    passwdHome: () => Promise.resolve("/home/u"),
  };
}

function runner(smolvmVersion: string | null = "smolvm 1.9.3\n", dockerUp = true) {
  return new RecordingRunner([
    on(
      ["smolvm", "--version"],
      smolvmVersion === null ? fail(1, "Error: boom") : ok(smolvmVersion),
    ),
    on(
      ["docker", "info"],
      dockerUp ? ok('28.2.2\t{"io.containerd.runc.v2":{},"runc":{},"runsc":{}}\n') : fail(
        1,
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
      ),
    ),
  ]);
}

function byId(checks: PreflightCheck[], id: string): PreflightCheck {
  const found = checks.find((c) => c.id === id);
  assert.ok(found, `no check ${id} in ${checks.map((c) => c.id)}`);
  return found;
}

Deno.test("all good: every smolmachines check passes", async () => {
  const checks = await preflight("smolmachines", { runner: runner(), probe: probe() });
  assert.deepEqual(checks.map((c) => [c.id, c.status]), [
    ["smolvm-installed", "ok"],
    ["smolvm-version", "ok"],
    ["kvm-device", "ok"],
    ["kvm-access", "ok"],
    ["smolvm-root", "ok"],
    ["docker-installed", "ok"],
    ["docker-daemon", "ok"],
  ]);
  assert.equal(byId(checks, "smolvm-version").version, "1.9.3");
  assert.ok(preflightPassed(checks));
});

Deno.test("smolvm missing: install command and the docker alternative", async () => {
  const r = runner();
  const checks = await preflight("smolmachines", { runner: r, probe: probe({ have: ["docker"] }) });
  const c = byId(checks, "smolvm-installed");
  assert.equal(c.status, "fail");
  assert.equal(c.summary, "the smolmachines backend needs `smolvm` on PATH, and it is not there");
  assert.match(c.fix!, /curl -sSL https:\/\/smolmachines\.com\/install\.sh \| bash/);
  assert.match(c.fix!, /--backend=docker/);
  assert.ok(!r.argvs.some((a) => a[0] === "smolvm"), "smolvm must not be run when absent");
  assert.equal(preflightPassed(checks), false);
});

Deno.test("smolvm below 1.1.3: refused because TSI does not enforce the allowlist", async () => {
  const checks = await preflight("smolmachines", {
    runner: runner("smolvm 0.8.0\n"),
    probe: probe(),
  });
  const c = byId(checks, "smolvm-version");
  assert.equal(c.status, "fail");
  assert.equal(
    c.summary,
    "smolvm 0.8.0 enforces the egress allowlist through TSI, which the smolvm maintainers found does " +
      "not enforce it (fixed in 1.1.3); bot-bottle needs smolvm 1.2.5 or newer",
  );
  assert.match(c.fix!, /^Upgrade smolvm: curl/);
});

Deno.test("smolvm 1.1.3..1.2.4: refused because there is no --dns", async () => {
  for (const v of ["1.1.3", "1.2.4"]) {
    const c = byId(
      await preflight("smolmachines", { runner: runner(`smolvm ${v}`), probe: probe() }),
      "smolvm-version",
    );
    assert.equal(c.status, "fail", v);
    assert.match(c.summary, /has no `machine create --dns`, so guest DNS would leak/);
  }
  const ok125 = byId(
    await preflight("smolmachines", { runner: runner("smolvm 1.2.5"), probe: probe() }),
    "smolvm-version",
  );
  assert.equal(ok125.status, "ok");
});

Deno.test("smolvm version unparsable, or --version failing, is refused", async () => {
  const garbled = byId(
    await preflight("smolmachines", { runner: runner("smolvm dev-build\n"), probe: probe() }),
    "smolvm-version",
  );
  assert.equal(garbled.status, "fail");
  assert.equal(
    garbled.summary,
    'cannot tell the smolvm version from `smolvm --version`: "smolvm dev-build"; refusing to drive an unknown smolvm',
  );
  const broken = byId(
    await preflight("smolmachines", { runner: runner(null), probe: probe() }),
    "smolvm-version",
  );
  assert.equal(broken.status, "fail");
  assert.equal(broken.summary, "`smolvm --version` exited 1: Error: boom");
});

Deno.test("/dev/kvm missing: load the module, enable virtualization", async () => {
  const checks = await preflight("smolmachines", {
    runner: runner(),
    probe: probe({ kvm: { state: "missing" } }),
  });
  const c = byId(checks, "kvm-device");
  assert.equal(c.status, "fail");
  assert.equal(c.summary, "the smolmachines backend needs /dev/kvm on Linux, and it is missing");
  assert.match(c.fix!, /kvm-intel or kvm-amd/);
  assert.match(c.fix!, /BIOS\/firmware/);
  assert.ok(!checks.some((x) => x.id === "kvm-access"));
});

Deno.test("/dev/kvm not accessible: join the kvm group and log in again", async () => {
  const checks = await preflight("smolmachines", {
    runner: runner(),
    probe: probe({ kvm: { state: "no-access" } }),
  });
  assert.equal(byId(checks, "kvm-device").status, "ok");
  const c = byId(checks, "kvm-access");
  assert.equal(c.status, "fail");
  assert.equal(c.summary, "/dev/kvm exists but is not readable and writable by this user");
  assert.match(c.fix!, /sudo usermod -aG kvm "\$USER"/);
  assert.match(c.fix!, /log out and in again/);
});

Deno.test("/dev/kvm unverifiable is a warning that does not block", async () => {
  const checks = await preflight("smolmachines", {
    runner: runner(),
    probe: probe({ kvm: { state: "unverifiable", reason: "sandboxed" } }),
  });
  assert.equal(byId(checks, "kvm-device").status, "warn");
  assert.ok(preflightPassed(checks));
});

Deno.test("macOS needs no KVM device", async () => {
  const checks = await preflight("smolmachines", {
    runner: runner(),
    probe: probe({ os: "darwin" }),
  });
  assert.ok(!checks.some((c) => c.id.startsWith("kvm")));
});

Deno.test("docker missing", async () => {
  const checks = await preflight("docker", {
    runner: runner(),
    probe: probe({ have: ["smolvm"] }),
  });
  assert.deepEqual(checks.map((c) => c.id), ["docker-installed"]);
  assert.equal(checks[0].status, "fail");
  assert.match(checks[0].summary, /`docker` is not on PATH/);
  assert.match(checks[0].fix!, /docker\.io/);
});

Deno.test("docker daemon unreachable: says what docker said and how to fix", async () => {
  const checks = await preflight("docker", {
    runner: runner("smolvm 1.9.3", false),
    probe: probe(),
  });
  const c = byId(checks, "docker-daemon");
  assert.equal(c.status, "fail");
  assert.equal(
    c.summary,
    "the Docker daemon is not reachable: Cannot connect to the Docker daemon at " +
      "unix:///var/run/docker.sock. Is the docker daemon running?",
  );
  assert.match(c.fix!, /systemctl start docker/);
  assert.match(c.fix!, /usermod -aG docker/);
});

Deno.test("the docker backend does not look at smolvm or KVM", async () => {
  const r = runner();
  const checks = await preflight("docker", { runner: r, probe: probe({ have: ["docker"] }) });
  assert.deepEqual(checks.map((c) => c.id), ["docker-installed", "docker-daemon"]);
  assert.deepEqual(r.argvs, [[
    "docker",
    "info",
    "--format",
    "{{.ServerVersion}}\t{{json .Runtimes}}",
  ]]);
  // One call gives the version and the runtimes (no dotted containerd shims).
  assert.deepEqual(byId(checks, "docker-daemon").runtimes, ["runc", "runsc"]);
  assert.match(byId(checks, "docker-daemon").summary, /\(runtimes: runc, runsc\)/);
});

Deno.test("preflightAll reports each check once, docker checks for both backends", async () => {
  const checks = await preflightAll({ runner: runner(), probe: probe(), env: NO_ENV });
  assert.equal(new Set(checks.map((c) => c.id)).size, checks.length);
  assert.deepEqual(byId(checks, "docker-daemon").backends, ["smolmachines", "docker"]);
});

Deno.test("smolmachines on macOS is refused with the reason and the docker backend", async () => {
  const checks = await preflight("smolmachines", {
    runner: runner(),
    probe: probe({ os: "darwin" }),
  });
  const platform = checks.find((c) => c.id === "smolvm-platform")!;
  assert.equal(platform.status, "fail");
  assert.match(platform.summary, /Docker Desktop does not route it/);
  assert.match(platform.fix ?? "", /--backend docker/);
  assert.equal(preflightPassed(checks), false);
});

Deno.test("known-bad smolvm 1.14.1 is refused by name, with the upgrade", async () => {
  const checks = await preflight("smolmachines", {
    runner: runner("smolvm 1.14.1\n"),
    probe: probe(),
  });
  const version = checks.find((c) => c.id === "smolvm-version")!;
  assert.equal(version.status, "fail");
  assert.match(version.summary, /1\.14\.1 reads local image archives back wrong.*#1181.*refuses/);
  assert.match(version.fix ?? "", /Upgrade smolvm/);
  const ok = await preflight("smolmachines", { runner: runner("smolvm 1.14.2\n"), probe: probe() });
  assert.equal(ok.find((c) => c.id === "smolvm-version")!.status, "ok");
});

Deno.test("root: doctor says whether VMs drop to a per-VM uid and what bot-bottle does about it", async () => {
  const summary = async (uid: number, env: Record<string, string> = {}) =>
    (await preflight("smolmachines", {
      runner: runner(),
      probe: probe({ uid }),
      env: { get: (n) => env[n] },
    })).find((c) => c.id === "smolvm-root")!;
  assert.match((await summary(0)).summary, /drops to its own uid.*world-readable/);
  assert.match((await summary(0, { SMOLVM_VM_UID_DROP: "off" })).summary, /UID_DROP=off/);
  assert.match((await summary(1000)).summary, /uid 1000/);
  for (const uid of [0, 1000]) assert.equal((await summary(uid)).status, "ok");
});
