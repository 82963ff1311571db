/**
 * Live control and audit (SPEC §13) on the docker backend, end to end: every decision of the
 * bundle in `logs` (and after teardown), `-f` following, `approve`/`deny` applied to a running
 * bottle without a restart and without dropping a download in flight, approvals kept for
 * resume, `ask` mode holding a request until approved, denied or timed out, the audit log's
 * rotation, `exec` with and without a terminal, and `verify` passing on a healthy bottle and
 * failing the right checks when the test puts the agent on a routable network.
 *
 * Every upstream is a container this test starts on a network it created (and attaches to
 * the bottle's egress network once that exists); verify's direct target and "host address"
 * are that network's probe target and gateway.
 */
import assert from "node:assert/strict";
import { type Cli, PERMISSION_FLAGS } from "../_harness/cli.ts";
import { docker, networkIpam, removeLabelled, waitForNetwork } from "../_harness/docker.ts";
import { fixtureImage } from "../_harness/images.ts";
import { manifestToml } from "../_harness/manifests.ts";
import { MAIN } from "../_harness/paths.ts";
import { Sandbox } from "../_harness/sandbox.ts";
import { startWebUpstream } from "../_harness/upstreams.ts";
import { shellQuote } from "../../lib/plan/render_plan.ts";
import type { AuditRecord } from "../../lib/audit/audit_records.ts";

const IDLE = `echo "READY"; exec sleep 600`;

type Rec = AuditRecord;

async function records(sb: Sandbox, slug: string): Promise<Rec[]> {
  const r = await sb.run(["logs", slug, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim() === "" ? [] : r.stdout.trim().split("\n").map((l) => JSON.parse(l));
}

/** `exec <slug> -- curl ...`: "<status> <body>". */
async function curl(sb: Sandbox, slug: string, url: string): Promise<string> {
  const r = await sb.run([
    "exec",
    slug,
    "--",
    "curl",
    "-s",
    "-w",
    " %{http_code}",
    "--max-time",
    "20",
    url,
  ]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const text = r.stdout.trim();
  const status = text.slice(text.lastIndexOf(" ") + 1);
  return `${status} ${text.slice(0, text.lastIndexOf(" ")).trim()}`;
}

/** The CLI with stdin piped or on a terminal (`script`), for exec -i / -t. */
async function runWithStdin(
  sb: Sandbox,
  args: string[],
  opts: { input?: string; tty?: boolean },
): Promise<{ code: number; stdout: string }> {
  const argv = [Deno.execPath(), "run", ...PERMISSION_FLAGS, MAIN, ...args];
  const cmd = opts.tty
    ? new Deno.Command("script", {
      args: ["-qec", argv.map(shellQuote).join(" "), "/dev/null"],
      env: sb.env,
      clearEnv: true,
      cwd: sb.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    })
    : new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: sb.env,
      clearEnv: true,
      cwd: sb.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
  const child = cmd.spawn();
  const writer = child.stdin.getWriter();
  if (opts.input) await writer.write(new TextEncoder().encode(opts.input));
  await writer.close();
  const out = await child.output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test("docker: logs, approve/deny live, exec, verify, approvals kept for resume", async () => {
  const fixture = await fixtureImage();
  const sb = await Sandbox.create({ network: true });
  const upstream = `${sb.prefix}-web`;
  let cli: Cli | undefined;
  let follow: Cli | undefined;
  let slug = "";
  try {
    sb.containers.push(upstream);
    await startWebUpstream(upstream, sb.network, fixture);
    const manifest = await sb.writeManifest(manifestToml({
      egressAllow: ["allowed.test"],
      agents: { idle: IDLE },
    }));
    cli = sb.start("idle", { backend: "docker", manifest });
    slug = await cli.slug();
    await waitForNetwork(`bot-bottle-${slug}`);
    await docker([
      "network",
      "connect",
      "--alias",
      "allowed.test",
      "--alias",
      "later.test",
      `bot-bottle-${slug}`,
      upstream,
    ]);
    await cli.waitFor("stdout", /^READY$/m, 120_000);

    // 1. An unlisted request: refused, and in the log as a deny with its reason.
    assert.match(
      await curl(sb, slug, "http://later.test/x"),
      /^403 bot-bottle egress: refused GET later\.test:80/,
    );
    const deny = (await records(sb, slug)).find((r) => r.host === "later.test");
    assert.ok(deny, "no record of later.test");
    assert.deepEqual(
      [deny.source, deny.decision, deny.method, deny.port, deny.reason, deny.path],
      ["proxy", "deny", "GET", 80, "not_allowed", "/x"],
    );

    // 2. -f delivers a new decision within a second of the bundle writing it.
    follow = sb.spawn(["logs", slug, "-f", "--json"]);
    await follow.waitFor("stdout", /"later\.test"/, 20_000);
    const marker = `/follow-${crypto.randomUUID()}`;
    assert.match(
      await curl(sb, slug, `http://allowed.test${marker}`),
      /^200 hello from allowed\.test/,
    );
    await follow.waitFor("stdout", new RegExp(marker), 10_000);
    const seenAt = Date.now();
    const line = follow.stdout.split("\n").find((l) => l.includes(marker))!;
    const written = Date.parse(JSON.parse(line).time);
    assert.ok(
      seenAt - written < 1000,
      `-f showed a decision ${seenAt - written} ms after it was written`,
    );

    // 3. A DNS query is a record too.
    const dns = await sb.run(["exec", slug, "--", "getent", "hosts", "example.com"]);
    assert.equal(dns.code, 2, "example.com must not resolve in the bottle");
    assert.ok(
      (await records(sb, slug)).some((r) =>
        r.source === "dns" && r.host === "example.com" && r.decision === "deny"
      ),
      "no DNS record",
    );

    // 4. approve while a long download runs through the proxy: the next request goes through,
    // the download is not dropped.
    const slow = sb.spawn([
      "exec",
      slug,
      "--",
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{size_download}",
      "http://allowed.test/slow",
    ]);
    await follow.waitFor("stdout", /"path":"\/slow"/, 20_000);
    const approve = await sb.run(["approve", slug, "later.test"]);
    assert.equal(approve.code, 0, approve.stderr);
    assert.match(
      approve.stderr,
      /approved later\.test for bottle .*: the bundle applied it in \d\.\d s, without a restart/,
    );
    assert.equal(
      approve.stdout,
      'egress.allow = ["allowed.test", "later.test"]  # in [bottles.shell] of your user manifest\n',
    );
    assert.equal(slow.exited, false, "the download should still be running");
    assert.equal(await curl(sb, slug, "http://later.test/"), "200 hello from later.test");
    const slowDone = await slow.wait(60_000);
    assert.equal(slowDone.stdout.trim(), `200 ${20 * 65536}`, slowDone.stderr);

    // 5. deny blocks it again; both changes are in the log.
    const denied = await sb.run(["deny", slug, "later.test"]);
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(await curl(sb, slug, "http://later.test/"), /^403 /);
    const control = (await records(sb, slug)).filter((r) => r.source === "control");
    assert.deepEqual(control.map((r) => [r.decision, r.host]), [["approve", "later.test"], [
      "revoke",
      "later.test",
    ]]);
    const listed = (await sb.list()).bottles.find((b) => b.slug === slug) as unknown as {
      approvals: { approved: string[]; denied: string[] };
    };
    assert.deepEqual(listed.approvals, { approved: [], denied: ["later.test"] });

    // 6. exec: exit code passed through; stdin with -i; a terminal with -t.
    assert.equal((await sb.run(["exec", slug, "--", "sh", "-c", "exit 7"])).code, 7);
    const piped = await runWithStdin(sb, ["exec", "-i", slug, "--", "sh", "-c", "cat; exit 3"], {
      input: "through stdin\n",
    });
    assert.deepEqual([piped.code, piped.stdout], [3, "through stdin\n"]);
    const tty = await runWithStdin(sb, [
      "exec",
      "-it",
      slug,
      "--",
      "sh",
      "-c",
      "test -t 0 && test -t 1 && echo ON-A-TTY; id -un; exit 5",
    ], { tty: true });
    assert.equal(tty.code, 5, tty.stdout);
    assert.match(tty.stdout, /ON-A-TTY/);
    // (Both the pty of `script` and docker's may turn "\n" into "\r\n", and the pty echoes the
    // end of `script`'s own stdin, "^@", wherever it lands.)
    assert.match(
      tty.stdout.replaceAll("^@", ""),
      /^agent\r*$/m,
      `exec runs as the agent's user: ${JSON.stringify(tty.stdout)}`,
    );

    // 7. verify: all passed on the healthy bottle.
    // The test network's gateway: the host's own address on it (Docker gives the bridge .1).
    const ipam = await networkIpam(sb.network);
    const gateway = ipam.gateway || ipam.subnet.replace(/\.0\/24$/, ".1");
    const verifyEnv = {
      BOT_BOTTLE_VERIFY_TARGET: sb.probeTarget,
      BOT_BOTTLE_VERIFY_HOSTS: gateway,
    };
    const healthy = await sb.run(["verify", slug, "--json"], verifyEnv);
    const report = JSON.parse(healthy.stdout);
    assert.equal(healthy.code, 0, healthy.stdout);
    assert.equal(report.schema, 1);
    assert.equal(report.slug, slug);
    for (const c of report.checks) {
      assert.equal(c.status, "pass", `${c.id}: ${c.detail}`);
      assert.ok(c.ms < 5000, `${c.id} took ${c.ms} ms`);
    }
    assert.ok(report.checks.length >= 14);

    // ... and fails the right checks when the agent is put on a routable network.
    await docker(["network", "connect", sb.network, `bot-bottle-${slug}-agent`]);
    const weak = await sb.run(["verify", slug, "--json"], verifyEnv);
    await docker(["network", "disconnect", "--force", sb.network, `bot-bottle-${slug}-agent`]);
    assert.equal(weak.code, 1, weak.stdout);
    const weakChecks = Object.fromEntries(
      JSON.parse(weak.stdout).checks.map((c: { id: string; status: string }) => [c.id, c.status]),
    );
    assert.equal(weakChecks["direct-tcp"], "fail");
    assert.equal(weakChecks["host-gateway"], "fail");
    assert.equal(weakChecks["unlisted-host"], "pass", "the proxy checks still pass");
    assert.equal(weakChecks.capabilities, "pass");

    // 8. Teardown: the log stays; exec is refused; resume keeps the denial.
    const before = (await records(sb, slug)).length;
    // (The upstream leaves the bottle's network first: teardown removes only what is its own.)
    await docker(["network", "disconnect", "--force", `bot-bottle-${slug}`, upstream]);
    cli.kill("SIGINT");
    await cli.done;
    const followed = await follow.wait(20_000);
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stderr, /stopped; its log stays/);
    assert.ok((await records(sb, slug)).length >= before, "the log survives teardown");
    const stopped = await sb.run(["exec", slug, "--", "true"]);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /is not running, so there is nothing to exec in/);
    const plan = await sb.run(["resume", slug, "--dry-run", "--json", "--manifest", manifest]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual(JSON.parse(plan.stdout).approvals, { approved: [], denied: ["later.test"] });
  } finally {
    for (const c of [cli, follow]) {
      try {
        c?.kill("SIGINT");
      } catch { /* exited */ }
      await c?.done;
    }
    if (slug) await removeLabelled(slug);
    await sb.cleanup();
  }
});

Deno.test("docker: ask mode holds a request until approve, deny or timeout; the log rotates", async () => {
  const fixture = await fixtureImage();
  const sb = await Sandbox.create({ network: true, env: { BOT_BOTTLE_AUDIT_MAX_BYTES: "4096" } });
  const upstream = `${sb.prefix}-web`;
  let cli: Cli | undefined;
  let slug = "";
  try {
    sb.containers.push(upstream);
    await startWebUpstream(upstream, sb.network, fixture);
    const manifest = await sb.writeManifest(manifestToml({
      egressAllow: ["allowed.test"],
      onBlock: "ask",
      askTimeout: 3,
      agents: { idle: IDLE },
    }));
    cli = sb.start("idle", { backend: "docker", manifest });
    slug = await cli.slug();
    await waitForNetwork(`bot-bottle-${slug}`);
    const aliases = ["allowed.test", "held1.test", "held2.test", "held3.test"];
    await docker([
      "network",
      "connect",
      ...aliases.flatMap((a) => ["--alias", a]),
      `bot-bottle-${slug}`,
      upstream,
    ]);
    await cli.waitFor("stdout", /^READY$/m, 120_000);

    const held = (host: string) =>
      sb.spawn([
        "exec",
        slug,
        "--",
        "curl",
        "-s",
        "-w",
        " %{http_code}",
        "--max-time",
        "20",
        `http://${host}/`,
      ]);

    // Approved: the request that was held goes through.
    const one = held("held1.test");
    await cli.waitFor(
      "stderr",
      /is holding GET held1\.test:80 .*for up to 3 s:\n.*bot-bottle approve \S+ held1\.test/,
      15_000,
    );
    assert.equal((await sb.run(["approve", slug, "held1.test"])).code, 0);
    assert.equal((await one.wait(20_000)).stdout, "hello from held1.test\n 200");
    await cli.waitFor("stderr", /held GET held1\.test:80: approved, let through/, 10_000);

    // Denied: refused at once, well before the hold would time out.
    const two = held("held2.test");
    await cli.waitFor("stderr", /is holding GET held2\.test:80/, 15_000);
    const t0 = performance.now();
    assert.equal((await sb.run(["deny", slug, "held2.test"])).code, 0);
    const twoDone = await two.wait(20_000);
    assert.match(twoDone.stdout, /reason: not_approved\n 403$/);
    assert.ok(performance.now() - t0 < 3000, "a denial answers the held request at once");
    await cli.waitFor(
      "stderr",
      /held GET held2\.test:80: refused: denied by bot-bottle deny/,
      10_000,
    );

    // Nobody answers: refused when the hold runs out.
    const three = await held("held3.test").wait(30_000);
    assert.match(three.stdout, /\(no answer within 3 s\)\nreason: not_approved\n 403$/);
    await cli.waitFor("stderr", /held GET held3\.test:80: refused: no answer within 3 s/, 10_000);

    const recs = await records(sb, slug);
    const pending = recs.filter((r) => r.decision === "pending");
    assert.deepEqual(pending.map((r) => r.host), ["held1.test", "held2.test", "held3.test"]);
    const outcome = (host: string) =>
      recs.filter((r) => r.host === host && r.source === "proxy" && r.decision !== "pending")
        .map((r) => `${r.decision}:${r.reason}`);
    assert.deepEqual(outcome("held1.test"), ["allow:approved"]);
    assert.deepEqual(outcome("held2.test"), ["deny:not_approved"]);
    assert.deepEqual(outcome("held3.test"), ["deny:not_approved"]);
    for (const p of pending) {
      assert.ok(
        recs.some((r) => r !== p && r.id === p.id),
        `the outcome of ${p.host} carries its id`,
      );
    }

    // Rotation: an agent flooding requests cannot grow the log past (keep + 1) x max bytes.
    const flood = await sb.run([
      "exec",
      slug,
      "--",
      "bash",
      "-c",
      "for i in $(seq 150); do curl -s -o /dev/null http://allowed.test/flood-$i; done",
    ]);
    assert.equal(flood.code, 0, flood.stderr);
    const auditDir = `${sb.stateDir(slug)}/audit`;
    const files = [];
    for await (const e of Deno.readDir(auditDir)) files.push(e.name);
    assert.deepEqual(files.sort(), [
      "audit.jsonl",
      "audit.jsonl.1",
      "audit.jsonl.2",
      "audit.jsonl.3",
    ]);
    for (const f of files) {
      const size = (await Deno.stat(`${auditDir}/${f}`)).size;
      assert.ok(size <= 4096, `${f} is ${size} bytes`);
    }
    const kept = await records(sb, slug);
    assert.ok(kept.some((r) => r.path === "/flood-150"), "the newest records are kept");
    assert.ok(!kept.some((r) => r.host === "held1.test"), "the oldest were rotated away");
  } finally {
    try {
      cli?.kill("SIGINT");
    } catch { /* exited */ }
    await cli?.done;
    if (slug) await removeLabelled(slug);
    await sb.cleanup();
  }
});
