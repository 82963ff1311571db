/**
 * The CLI under exactly the compiled binary's permissions (the `bot-bottle`
 * permission set in deno.json, the one `deno task compile` uses): it may spawn
 * docker and smolvm and nothing else, and needs no other permission for
 * `start --dry-run`, `agents` and `doctor`.
 */
import assert from "node:assert/strict";
import { type CliResult, runWithPermissions } from "../_harness/cli.ts";
import { FAKE_BIN, hostDenoDir, ROOT } from "../_harness/paths.ts";

/** `deno run <the bot-bottle task's flags> <args>` from the root, the fake smolvm first on PATH. */
function runWithProductPermissions(
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return runWithPermissions(args, {
    cwd: ROOT,
    clearEnv: false,
    env: { PATH: `${FAKE_BIN}:${Deno.env.get("PATH")}`, ...env },
  });
}

Deno.test("the bot-bottle task runs main.ts with exactly this permission set", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.equal(config.tasks["bot-bottle"].command, "deno run -q --no-prompt -P=bot-bottle main.ts");
  const set = config.permissions["bot-bottle"];
  assert.deepEqual(set.run, ["docker", "smolvm"]);
  assert.equal(set.net, false);
  assert.equal(set.ffi, false);
});

Deno.test("spawning anything but docker or smolvm is refused", async () => {
  const evil = await Deno.makeTempDir();
  try {
    const fake = "#!/bin/sh\necho EVIL\n";
    await Deno.writeTextFile(`${evil}/docker`, fake);
    await Deno.chmod(`${evil}/docker`, 0o755);
    const programs = [
      "docker",
      "smolvm",
      "git",
      "sh",
      "/bin/sh",
      "curl",
      "env",
      "deno",
      "bash",
      "true",
    ];
    const r = await runWithProductPermissions([
      `${ROOT}tests/fixtures/spawn_probe.ts`,
      evil,
      ...programs,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    const results = JSON.parse(lines[lines.length - 1]);
    assert.equal(results["main version"], "0");
    assert.match(results.docker, /^ran:0:Docker version/);
    assert.equal(results.smolvm, "ran:0:smolvm 1.9.3");
    for (const refused of ["git", "sh", "/bin/sh", "curl", "env", "deno", "bash", "true"]) {
      assert.equal(
        results[refused],
        "NotCapable",
        `${refused} must be refused, got ${results[refused]}`,
      );
    }
    assert.equal(results["evil docker by path"], "NotCapable");
    assert.ok(
      results["docker with evil PATH"] === "NotCapable" ||
        /^ran:0:Docker version/.test(results["docker with evil PATH"]),
      `a child PATH must not redirect docker: ${results["docker with evil PATH"]}`,
    );
  } finally {
    await Deno.remove(evil, { recursive: true });
  }
});

Deno.test("start --dry-run, agents and doctor need no other permission", async () => {
  const home = await Deno.makeTempDir();
  try {
    // The fake smolvm is itself a Deno program: keep its module cache where it was.
    const denoDir = await hostDenoDir();
    const env = { HOME: home, XDG_DATA_HOME: `${home}/data`, DENO_DIR: denoDir };
    const manifest = `${ROOT}examples/bot-bottle.toml`;
    const dry = await runWithProductPermissions(
      ["main.ts", "start", "demo", "--dry-run", "--json", "--manifest", manifest],
      env,
    );
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.equal(plan.agent, "demo");
    assert.equal(
      plan.preflight.find((c: { id: string }) => c.id === "smolvm-version").status,
      "ok",
    );
    const agents = await runWithProductPermissions([
      "main.ts",
      "agents",
      "--json",
      "--manifest",
      manifest,
    ], env);
    assert.equal(agents.code, 0, agents.stderr);
    assert.ok(JSON.parse(agents.stdout).agents.some((a: { name: string }) => a.name === "demo"));
    const doctor = await runWithProductPermissions(["main.ts", "doctor", "--json"], env);
    assert.ok(doctor.code === 0 || doctor.code === 1, doctor.stderr);
    const report = JSON.parse(doctor.stdout);
    assert.equal(report.checks.find((c: { id: string }) => c.id === "smolvm-version").status, "ok");
    for (const r of [dry, agents, doctor]) {
      assert.ok(!/NotCapable|Requires .* access|internal error/.test(r.stderr), r.stderr);
    }
    // Nothing was written by any of them.
    assert.deepEqual([...Deno.readDirSync(home)], []);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
