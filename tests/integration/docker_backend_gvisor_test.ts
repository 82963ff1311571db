/**
 * `runtime = "runsc"`: the docker backend's agent runs under gVisor end to end (real CLI, real
 * Docker with runsc registered, as `scripts/setup.sh` does): the plan says so, the egress probe
 * passes, the container runs under runsc (docker inspect), the agent sees gVisor's kernel and
 * reaches nothing but the bundle; `verify` passes inside it.
 */
import assert from "node:assert/strict";
import { docker } from "../_harness/docker.ts";
import { manifestToml } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";

const AGENT = `echo "KERNEL $(cat /proc/version)"
echo "PROXY $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://denied.test/)"
for i in $(seq 300); do [ -e /tmp/verified ] && break; sleep 0.2; done
exit 7`;

Deno.test("docker backend under gVisor: probe passes, the agent runs under runsc", async () => {
  const runtimes = await docker(["info", "--format", "{{json .Runtimes}}"]);
  assert.ok(
    runtimes.stdout.includes('"runsc"'),
    "Docker has no runsc runtime: scripts/setup.sh registers it (Debian's runsc)",
  );
  const sandbox = await Sandbox.create({
    network: true,
    manifest: manifestToml({
      agents: { gv: AGENT },
      runtime: "runsc",
      egressAllow: ["allowed.test"],
    }),
  });
  try {
    const dry = await sandbox.run([
      "start",
      "gv",
      "--backend",
      "docker",
      "--dry-run",
      "--json",
      "--manifest",
      sandbox.manifest,
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.equal(plan.runtime, "runsc");
    assert.ok(
      plan.preflight.some((c: { id: string; status: string }) =>
        c.id === "docker-runtime" && c.status === "ok"
      ),
    );
    const text = await sandbox.run([
      "start",
      "gv",
      "--backend",
      "docker",
      "--dry-run",
      "--manifest",
      sandbox.manifest,
    ]);
    assert.match(text.stdout, /backend +docker \(runtime runsc: gVisor\)/);

    const cli = sandbox.start("gv", { backend: "docker" });
    await cli.waitFor("stderr", /probe ok: /, 180_000);
    await cli.waitFor("stdout", /^KERNEL /m, 60_000);
    const slug = await cli.slug();
    const inspect = await docker([
      "inspect",
      "-f",
      "{{.HostConfig.Runtime}}",
      `bot-bottle-${slug}-agent`,
    ]);
    assert.equal(inspect.stdout.trim(), "runsc");
    // The isolation suite passes inside the gVisor agent too.
    const verify = await sandbox.run(["verify", slug, "--json"], {
      BOT_BOTTLE_VERIFY_TARGET: sandbox.probeTarget,
      BOT_BOTTLE_VERIFY_HOSTS: "",
    });
    for (const c of JSON.parse(verify.stdout).checks) {
      assert.equal(c.status, "pass", `${c.id}: ${c.detail}`);
    }
    assert.equal(verify.code, 0);
    assert.equal((await sandbox.run(["exec", slug, "--", "touch", "/tmp/verified"])).code, 0);
    const r = await cli.wait(120_000);
    assert.equal(r.code, 7, cli.transcript);
    // gVisor's own kernel, not the host's.
    const kernel = /^KERNEL (.*)$/m.exec(r.stdout)![1];
    const host = (await Deno.readTextFile("/proc/version")).trim();
    assert.notEqual(kernel, host, "the agent saw the host kernel");
    assert.match(r.stdout, /^PROXY 403$/m, "the bundle proxy answers, and refuses");
  } finally {
    await sandbox.cleanup();
  }
});
