/**
 * logs, approve, deny, exec and verify in-process through main(), against a recorded runner
 * and a real temp state root (the live parts run against Docker in
 * tests/integration/live_control_test.ts).
 */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { auditLogPath } from "../../lib/audit/audit_records.ts";
import { writeMetadata, writeStatus } from "../../lib/state/metadata_store.ts";
import { takeOwnerLock } from "../../lib/state/owner_lock.ts";
import { approvalTexts, readApprovals } from "../../lib/state/approvals.ts";
import { fakeMetadata, writeFakeBottle } from "../fixtures/bottle_state.ts";
import { ok, on } from "../fixtures/recording_runner.ts";
import { testContext, type TestContextOptions } from "../fixtures/test_context.ts";

async function withState(fn: (xdg: string, root: string) => Promise<void>): Promise<void> {
  const xdg = await Deno.makeTempDir({ prefix: "bbtest-live-cli-" });
  try {
    await fn(xdg, `${xdg}/bot-bottle`);
  } finally {
    await Deno.remove(xdg, { recursive: true });
  }
}

function ctx(xdg: string, opts: TestContextOptions = {}) {
  return testContext({ ...opts, env: { XDG_STATE_HOME: xdg, ...opts.env } });
}

Deno.test("approve: only what egress.allow accepts; a usage error says why (exit 2)", async () => {
  await withState(async (xdg, root) => {
    await writeFakeBottle(root, { slug: "demo-abcde" });
    for (
      const [host, why] of [
        ["*", /would allow every host/],
        ["*.com", /too broad/],
        ["https://api.example.com", /has a scheme/],
        ["[2001:db8::1]:443", /IPv6 is off/],
        ["API.example.com", /uppercase/],
        ["a.example.com:0", /not a number from 1 to 65535/],
        ["a..b", /not a valid host name/],
      ] as const
    ) {
      const c = ctx(xdg);
      assert.equal(await main(["approve", "demo-abcde", host], c), 2, host);
      assert.match(c.stderrText, why, c.stderrText);
      assert.match(c.stderrText, /takes what egress\.allow takes/);
    }
    assert.deepEqual(approvalTexts(await readApprovals(`${root}/bottles/demo-abcde`)), {
      approved: [],
      denied: [],
    });
  });
});

Deno.test("approve/deny a stopped bottle: recorded for resume, the manifest line printed", async () => {
  await withState(async (xdg, root) => {
    const dir = await writeFakeBottle(root, { slug: "demo-abcde" });
    await Deno.mkdir(`${dir}/bundle`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/bundle/policy.json`,
      JSON.stringify({ allow: [{ kind: "exact", host: "deb.debian.org", port: null }] }),
    );
    let c = ctx(xdg);
    assert.equal(await main(["approve", "demo-abcde", "*.npmjs.org"], c), 0, c.stderrText);
    assert.match(
      c.stderrText,
      /approved \*\.npmjs\.org for bottle demo-abcde, which is stopped: `bot-bottle resume demo-abcde` starts it with this/,
    );
    assert.equal(
      c.stdoutText,
      'egress.allow = ["deb.debian.org", "*.npmjs.org"]  # in [bottles.shell] of your user manifest\n',
    );
    c = ctx(xdg);
    assert.equal(await main(["approve", "demo-abcde", "*.npmjs.org"], c), 0);
    assert.match(c.stderrText, /was already approved for bottle demo-abcde; nothing changed/);
    c = ctx(xdg);
    assert.equal(await main(["deny", "demo-abcde", "deb.debian.org", "--json"], c), 0);
    const doc = JSON.parse(c.stdoutText);
    assert.equal(doc.action, "deny");
    assert.equal(doc.changed, true);
    assert.equal(doc.running, false);
    assert.match(
      doc.manifest_line,
      /^egress\.allow = \[\] {2}# in \[bottles\.shell\]: deb\.debian\.org is listed/,
    );
    assert.deepEqual(approvalTexts(await readApprovals(dir)), {
      approved: ["*.npmjs.org"],
      denied: ["deb.debian.org"],
    });
    // list shows them.
    c = ctx(xdg, {
      handlers: [on(["docker"], ok("")), on(["smolvm"], ok("[]\n"))],
    });
    assert.equal(await main(["list", "--json"], c), 0, c.stderrText);
    const entry = JSON.parse(c.stdoutText).bottles.find((b: { slug: string }) =>
      b.slug === "demo-abcde"
    );
    assert.deepEqual(entry.approvals, { approved: ["*.npmjs.org"], denied: ["deb.debian.org"] });
  });
});

Deno.test("approve, deny, logs, exec, verify of an unknown bottle: refused, naming where it looked", async () => {
  await withState(async (xdg, root) => {
    for (
      const argv of [
        ["approve", "nope-abcde", "a.example.com"],
        ["deny", "nope-abcde", "a.example.com"],
        ["logs", "nope-abcde"],
        ["exec", "nope-abcde", "--", "true"],
        ["verify", "nope-abcde"],
      ]
    ) {
      const c = ctx(xdg);
      assert.equal(await main(argv, c), 1, argv.join(" "));
      assert.ok(
        c.stderrText.includes(
          `no bottle "nope-abcde": nothing is recorded in ${root}/bottles/nope-abcde`,
        ),
        c.stderrText,
      );
      assert.ok(c.stderrText.includes("bot-bottle list"), c.stderrText);
      assert.ok(!c.stderrText.includes("    at "), "no stack trace");
    }
  });
});

Deno.test("logs: a table on stdout, --json the records, from rotated files too", async () => {
  await withState(async (xdg, root) => {
    const dir = await writeFakeBottle(root, { slug: "demo-abcde" });
    await Deno.mkdir(`${dir}/audit`, { recursive: true });
    const rec = (o: Record<string, unknown>) =>
      JSON.stringify({ time: "2026-12-01T10:00:00.000Z", method: null, port: null, ...o });
    await Deno.writeTextFile(
      `${auditLogPath(dir)}.1`,
      `${
        rec({
          source: "dns",
          decision: "deny",
          host: "example.com",
          port: 53,
          method: "A",
          reason: "dns_sink",
        })
      }\n`,
    );
    await Deno.writeTextFile(
      auditLogPath(dir),
      [
        rec({
          source: "proxy",
          decision: "deny",
          host: "x.test",
          port: 443,
          method: "CONNECT",
          reason: "not_allowed",
        }),
        rec({
          source: "git",
          decision: "allow",
          host: "github.com",
          method: "push",
          reason: "forwarded",
          refs: "refs/heads/main",
          findings: 0,
        }),
      ].join("\n") + "\n",
    );
    let c = ctx(xdg);
    assert.equal(await main(["logs", "demo-abcde"], c), 0, c.stderrText);
    const lines = c.stdoutText.trimEnd().split("\n");
    assert.match(lines[0], /^TIME +SOURCE +DECISION +METHOD +HOST:PORT +REASON$/);
    assert.match(lines[1], / dns +deny +A +example\.com:53 +dns_sink$/);
    assert.match(lines[2], / proxy +deny +CONNECT +x\.test:443 +not_allowed$/);
    assert.match(
      lines[3],
      / git +allow +push +github\.com +forwarded refs=refs\/heads\/main findings=0$/,
    );
    c = ctx(xdg);
    assert.equal(await main(["logs", "demo-abcde", "--json", "-f"], c), 0);
    const records = c.stdoutText.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.source), ["dns", "proxy", "git"]);
    assert.match(c.stderrText, /is not running; nothing more to follow/);
  });
});

Deno.test("exec: refused plainly for a stopped bottle, without a command, or -t without a terminal", async () => {
  await withState(async (xdg, root) => {
    await writeFakeBottle(root, { slug: "demo-abcde" });
    let c = ctx(xdg);
    assert.equal(await main(["exec", "demo-abcde", "--", "true"], c), 1);
    assert.match(c.stderrText, /bottle demo-abcde is not running, so there is nothing to exec in/);
    assert.match(c.stderrText, /bot-bottle resume demo-abcde/);
    c = ctx(xdg);
    assert.equal(await main(["exec", "demo-abcde"], c), 2);
    assert.match(c.stderrText, /exec: no command given/);
    c = ctx(xdg);
    assert.equal(await main(["exec", "-t", "demo-abcde", "--", "bash"], c), 2);
    assert.match(c.stderrText, /-t needs a terminal on stdin/);
    c = ctx(xdg);
    assert.equal(await main(["verify", "demo-abcde"], c), 1);
    assert.match(c.stderrText, /is not running; verify tests a live bottle/);
    assert.equal(c.runner.calls.length, 0, "nothing ran");
  });
});

Deno.test("exec in a running bottle: the backend's exec as the agent, secrets by name, exit code passed", async () => {
  await withState(async (xdg, root) => {
    const dir = await writeFakeBottle(root, { slug: "demo-abcde", status: "running" });
    await writeMetadata(dir, {
      ...fakeMetadata({ slug: "demo-abcde" }),
      secrets: [{ guest: "API_TOKEN", host_var: "MY_TOKEN" }, {
        guest: "OTHER",
        host_var: "UNSET_VAR",
      }],
    });
    await writeStatus(dir, "running");
    const lock = (await takeOwnerLock(dir))!;
    try {
      const c = ctx(xdg, {
        env: { MY_TOKEN: "s3cret-value" },
        handlers: [on(["docker", "exec"], { code: 7, stdout: "", stderr: "" })],
        stdinIsTerminal: true,
      });
      assert.equal(await main(["exec", "-it", "demo-abcde", "--", "sh", "-c", "exit 7"], c), 7);
      const call = c.runner.calls[0];
      assert.deepEqual(call.argv, [
        "docker",
        "exec",
        "--interactive",
        "--tty",
        "--env",
        "API_TOKEN",
        "bot-bottle-demo-abcde-agent",
        "sh",
        "-c",
        "exit 7",
      ]);
      assert.equal(call.options.env?.API_TOKEN, "s3cret-value");
      assert.ok(!call.argv.join(" ").includes("s3cret"), "the value is never in argv");
      assert.match(c.stderrText, /runs without: OTHER \(host variable UNSET_VAR\)/);
    } finally {
      lock.release();
    }
  });
});

Deno.test("resume of a running bottle names exec", async () => {
  await withState(async (xdg, root) => {
    const dir = await writeFakeBottle(root, { slug: "demo-abcde", status: "running" });
    const lock = (await takeOwnerLock(dir))!;
    try {
      const c = ctx(xdg, { handlers: [on(["docker"], ok("")), on(["smolvm"], ok("[]\n"))] });
      assert.equal(await main(["resume", "demo-abcde"], c), 1);
      assert.match(c.stderrText, /is running; only a stopped bottle can be resumed/);
      assert.match(c.stderrText, /bot-bottle exec demo-abcde -it -- bash/);
    } finally {
      lock.release();
    }
  });
});

Deno.test("the agent's bytes reach a terminal escaped: diff lines, logs --json", async () => {
  const { patchForTerminal } = await import("../../lib/cli/diff.ts");
  const { jsonForTerminal } = await import("../../lib/cli/logs.ts");
  const patch = "+curl x | sh\r\x1b[2K# tidy\n+\tindented\x07\n";
  const shown = patchForTerminal(patch);
  assert.equal(shown, "+curl x | sh\\r\\e[2K# tidy\n+\tindented\\x07\n");
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(shown), "no raw control character left");
  const record = JSON.stringify({ path: "/a\u009b31m\u202eb\u2028c\u{e0041}" });
  const json = jsonForTerminal(record);
  assert.ok(!/[\u0080-\u009f\u202e\u2028]/u.test(json), json);
  assert.deepEqual(JSON.parse(json), JSON.parse(record), "the same JSON value");
});
