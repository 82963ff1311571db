/**
 * The docker backend leaves nothing behind (real CLI, real Docker): after a
 * normal exit (the agent's code passed through), a bundle that fails its
 * health check, SIGINT while the bundle is coming up, and SIGINT while the
 * agent runs, no container and no network labelled with the bottle's slug
 * remains, and the CLI's exit code says what happened. Eight bottles started
 * at once all run on distinct /24s and tear down cleanly.
 */
import assert from "node:assert/strict";
import { type Cli, tagged } from "../_harness/cli.ts";
import { assertNothingLeft, removeLabelled, waitForRole } from "../_harness/docker.ts";
import { ensureImages } from "../_harness/images.ts";
import { manifestToml, tomlString } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";

const AGENTS = {
  exits: `echo "HELLO from $(hostname)"; exit 7`,
  sleeper: `echo STARTED; sleep 30; echo "NOT INTERRUPTED"`,
  proxy: `echo "PROXY $HTTPS_PROXY"`,
};

/** Runs `body` with a sandbox and a manifest; cleans up whatever the slugs left on failure. */
async function withBottles(
  name: string,
  body: (sandbox: Sandbox, manifest: string, slugs: string[], clis: Cli[]) => Promise<void>,
  manifestText = manifestToml({ agents: AGENTS }),
): Promise<void> {
  const t0 = performance.now();
  await ensureImages();
  const sandbox = await Sandbox.create({ network: true });
  const slugs: string[] = [];
  const clis: Cli[] = [];
  try {
    await body(sandbox, await sandbox.writeManifest(manifestText), slugs, clis);
  } finally {
    for (const cli of clis) {
      try {
        cli.kill("SIGINT");
      } catch { /* already exited */ }
      await cli.done;
    }
    for (const slug of slugs) await removeLabelled(slug);
    await sandbox.cleanup();
    console.log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
}

Deno.test("docker backend: a normal exit passes the agent's code through and removes everything", async () => {
  await withBottles("normal exit", async (sandbox, manifest, slugs, clis) => {
    const cli = sandbox.start("exits", { backend: "docker", manifest });
    clis.push(cli);
    slugs.push(await cli.slug());
    const { code } = await cli.done;
    assert.equal(code, 7, cli.transcript);
    assert.deepEqual(tagged(cli.stdout, "HELLO"), [`from bot-bottle-${slugs[0]}-agent`]);
    assert.match(cli.stderr, /tearing down bottle/);
    await assertNothingLeft(slugs[0]);
  });
});

Deno.test("docker backend: a bundle that fails its health check stops the launch, leaving nothing", async () => {
  // The bundle refuses to run with an SSH identity it cannot read (fail closed, before any
  // network traffic), so it exits instead of ever becoming healthy.
  await withBottles("failed health", async (sb, _manifest, slugs, clis) => {
    const garbage = `${sb.dir}/home/not-a-key`;
    await Deno.writeTextFile(garbage, "this is not an ssh private key\n", { mode: 0o600 });
    const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0Ym90dGxldGVzdGtleWZvcnRoZWdpdGdhdGUx";
    const manifest = await sb.writeManifest(
      manifestToml({
        agents: AGENTS,
        git: `[{ name = "app", upstream = "ssh://git@nowhere.test/app.git", ` +
          `identity = ${tomlString(garbage)}, host_key = ${tomlString(hostKey)} }]`,
      }),
      "broken.toml",
    );
    const cli = sb.start("exits", { backend: "docker", manifest });
    clis.push(cli);
    slugs.push(await cli.slug());
    const { code, ms } = await cli.done;
    assert.equal(code, 1, cli.transcript);
    assert.match(cli.stderr, /did not become healthy/, cli.transcript);
    assert.match(cli.stderr, /cannot read the SSH identity of git remote app/);
    assert.doesNotMatch(cli.stderr, /running bash/);
    assert.doesNotMatch(cli.stdout, /HELLO/);
    assert.ok(ms < 60_000, `the failure took ${ms} ms`);
    await assertNothingLeft(slugs[0]);
    // With a workspace: its helper, started beside the bundle and waiting to be read, goes too.
    await Deno.writeTextFile(`${sb.cwd}/work.txt`, "work\n");
    const ws = sb.start("exits", { backend: "docker", manifest, args: ["--cwd"] });
    clis.push(ws);
    slugs.push(await ws.slug());
    assert.equal((await ws.done).code, 1, ws.transcript);
    assert.match(ws.stderr, /did not become healthy/, ws.transcript);
    assert.doesNotMatch(ws.stderr, /copying .* into \/workspace/);
    await assertNothingLeft(slugs[1]);
  });
});

Deno.test("docker backend: SIGINT while the bundle comes up exits 130 and removes everything", async () => {
  await withBottles("SIGINT during start", async (sandbox, manifest, slugs, clis) => {
    const cli = sandbox.start("sleeper", { backend: "docker", manifest });
    clis.push(cli);
    const slug = await cli.slug();
    slugs.push(slug);
    await waitForRole(slug, "bundle");
    cli.kill("SIGINT");
    const { code } = await cli.done;
    assert.equal(code, 130, cli.transcript);
    assert.match(
      cli.stderr,
      /error: interrupted by SIGINT: stopped the launch before the agent ran; (removed (container|network) bot-bottle-|nothing had been created yet)/,
    );
    console.log(cli.stderr.split("\n").filter((l) => l.startsWith("bot-bottle:")).join("\n"));
    assert.doesNotMatch(cli.stderr, /running bash/, "the agent must not have started");
    assert.doesNotMatch(cli.stdout, /STARTED/);
    await assertNothingLeft(slug);
  });
});

Deno.test("docker backend: SIGINT while the agent runs exits 130 and removes everything", async () => {
  await withBottles("SIGINT while running", async (sandbox, manifest, slugs, clis) => {
    const cli = sandbox.start("sleeper", { backend: "docker", manifest });
    clis.push(cli);
    slugs.push(await cli.slug());
    await cli.waitFor("stdout", /^STARTED$/m, 90_000);
    const t0 = performance.now();
    cli.kill("SIGINT");
    const { code } = await cli.done;
    const ms = performance.now() - t0;
    assert.equal(code, 130, cli.transcript);
    assert.match(
      cli.stderr,
      new RegExp(
        `error: interrupted by SIGINT: stopped the agent; removed container bot-bottle-${
          slugs[0]
        }-agent, container bot-bottle-${slugs[0]}-bundle, network bot-bottle-${slugs[0]}, ` +
          `network bot-bottle-${slugs[0]}-internal\n`,
      ),
    );
    assert.doesNotMatch(cli.stdout, /NOT INTERRUPTED/);
    assert.ok(ms < 15_000, `teardown after SIGINT took ${ms.toFixed(0)} ms`);
    console.log(`SIGINT to exit (teardown included): ${ms.toFixed(0)} ms`);
    await assertNothingLeft(slugs[0]);
  });
});

Deno.test("docker backend: start --rm leaves no state; rm takes several slugs, twice", async () => {
  await withBottles("--rm and rm of several", async (sandbox, manifest, slugs, clis) => {
    // --rm: the agent's code, and no record afterwards.
    const once = sandbox.spawn([
      ...sandbox.startArgs("exits", { backend: "docker", manifest }),
      "--rm",
    ]);
    clis.push(once);
    slugs.push(await once.slug());
    assert.equal((await once.done).code, 7, once.transcript);
    assert.match(once.stderr, /agent exited with 7; its state was deleted/);
    assert.equal(await sandbox.recordedSlug(), null);
    await assertNothingLeft(slugs[0]);

    // Two running bottles, removed by one rm.
    const two = [0, 1].map((i) =>
      sandbox.start("sleeper", { backend: "docker", manifest, label: `${sandbox.prefix}-r${i}` })
    );
    clis.push(...two);
    const pair = await Promise.all(two.map((c) => c.slug()));
    slugs.push(...pair);
    await Promise.all(two.map((c) => c.waitFor("stdout", /^STARTED$/m, 90_000)));
    const rm = await sandbox.run(["rm", ...pair]);
    assert.equal(rm.code, 0, rm.stderr);
    for (const slug of pair) {
      assert.match(rm.stderr, new RegExp(`${slug} removed, state deleted; removed container `));
      await assert.rejects(Deno.stat(sandbox.stateDir(slug)), Deno.errors.NotFound);
    }
    await Promise.all(two.map((c) => c.wait(60_000)));
    for (const slug of pair) await assertNothingLeft(slug);
    // Truly idempotent: a second rm says so and exits 0.
    const again = await sandbox.run(["rm", ...pair]);
    assert.equal(again.code, 0, again.stderr);
    for (const slug of pair) {
      assert.match(again.stderr, new RegExp(`${slug}: no such bottle on this machine`));
    }
  });
});

Deno.test("docker backend: resume without --manifest reads the one the bottle was started from", async () => {
  await withBottles("resume remembers the manifest", async (sandbox, manifest, slugs, clis) => {
    const first = sandbox.start("exits", { backend: "docker", manifest });
    clis.push(first);
    const slug = await first.slug();
    slugs.push(slug);
    assert.equal((await first.done).code, 7, first.transcript);
    // From the sandbox's empty working dir, with no user manifest there: only the record knows.
    const again = await sandbox.run(["resume", slug, "--yes", "--", "extra"]);
    assert.equal(again.code, 7, again.stderr);
    assert.deepEqual(tagged(again.stdout, "HELLO"), [`from bot-bottle-${slug}-agent`]);
    assert.match(again.stderr, new RegExp(`^ {2}command {4}bash -c .* extra$`, "m"));
    await assertNothingLeft(slug);
    assert.equal((await sandbox.run(["rm", slug])).code, 0);
  });
});

Deno.test("docker backend: eight bottles at once run on distinct /24s and all tear down", async () => {
  await withBottles("eight at once", async (sandbox, manifest, slugs, clis) => {
    const t0 = performance.now();
    for (let i = 0; i < 8; i++) {
      clis.push(
        sandbox.start("proxy", { backend: "docker", manifest, label: `${sandbox.prefix}-p${i}` }),
      );
    }
    for (const cli of clis) slugs.push(await cli.slug());
    const results = await Promise.all(clis.map((cli) => cli.done));
    console.log(`8 bottles, start to all exited: ${(performance.now() - t0).toFixed(0)} ms`);
    const subnets = new Set<string>();
    clis.forEach((cli, i) => {
      assert.equal(results[i].code, 0, cli.transcript);
      const [proxy] = tagged(cli.stdout, "PROXY");
      const m = /^http:\/\/(\d+\.\d+\.\d+)\.2:8888$/.exec(proxy ?? "");
      assert.ok(m, `bottle ${i}: ${proxy}\n${cli.transcript}`);
      // The proxy address is the bundle on the /24 the launch actually used.
      assert.match(
        cli.stderr,
        new RegExp(`is healthy at ${m[1].replaceAll(".", "\\.")}\\.2$`, "m"),
      );
      subnets.add(m[1]);
    });
    assert.equal(subnets.size, 8, `subnets: ${[...subnets].join(" ")}`);
    assert.equal(new Set(slugs).size, 8);
    for (const slug of slugs) await assertNothingLeft(slug);
  });
});
