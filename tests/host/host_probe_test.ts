import assert from "node:assert/strict";
import { probeDevice, whichIn } from "../../lib/host/host_probe.ts";
import { PERMISSION_FLAGS } from "../_harness/cli.ts";

Deno.test("whichIn finds executables only, in PATH order", async () => {
  const a = await Deno.makeTempDir();
  const b = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${a}/tool`, "not executable");
    await Deno.writeTextFile(`${b}/tool`, "#!/bin/sh\n");
    await Deno.chmod(`${b}/tool`, 0o755);
    assert.equal(await whichIn("tool", `${a}:${b}`), `${b}/tool`);
    assert.equal(await whichIn("absent", `${a}:${b}`), null);
    assert.equal(await whichIn("tool", ""), null);
    assert.equal(await whichIn("../tool", `${a}:${b}`), null);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

Deno.test("probeDevice: missing path and an openable file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await probeDevice(`${dir}/kvm`), { state: "missing" });
    await Deno.writeTextFile(`${dir}/kvm`, "");
    assert.deepEqual(await probeDevice(`${dir}/kvm`), { state: "ok" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probeDevice: no access for an unprivileged user", async () => {
  if (Deno.uid() !== 0) {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/kvm`, "");
      await Deno.chmod(`${dir}/kvm`, 0o000);
      assert.deepEqual(await probeDevice(`${dir}/kvm`), { state: "no-access" });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    return;
  }
  // As root every file opens; run the probe as `nobody` (uid 65534) instead.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.chmod(dir, 0o755);
    await Deno.writeTextFile(`${dir}/kvm`, "");
    await Deno.chmod(`${dir}/kvm`, 0o600);
    const script = `${dir}/probe.ts`;
    const module = new URL("../../lib/host/host_probe.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { probeDevice } from "${module}";\nconsole.log(JSON.stringify(await probeDevice("${dir}/kvm")));\n`,
    );
    const denoDir = `${dir}/deno-dir`;
    await Deno.mkdir(denoDir, { mode: 0o777 });
    await Deno.chmod(denoDir, 0o777);
    const out = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "run",
        "-A",
        "--no-config",
        script,
      ],
      env: { DENO_DIR: denoDir, HOME: dir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout).trim();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(stdout), { state: "no-access" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probeDevice under the product's permissions: /dev is unverifiable, not a crash", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const module = new URL("../../lib/host/host_probe.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { probeDevice } from "${module}";\nconsole.log(JSON.stringify(await probeDevice("/dev/kvm")));\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSION_FLAGS, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(result.state, "unverifiable");
    assert.match(result.reason, /--allow-all/);
  } finally {
    await Deno.remove(script);
  }
});
