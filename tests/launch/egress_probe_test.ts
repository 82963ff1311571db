import assert from "node:assert/strict";
import { parseProbeTarget, PROBE_SCRIPT } from "../../lib/launch/egress_probe.ts";
import { UserError } from "../../lib/errors.ts";

Deno.test("parseProbeTarget: IPv4:port only; the default is 1.1.1.1:443", () => {
  assert.deepEqual(parseProbeTarget(undefined), { host: "1.1.1.1", port: 443 });
  assert.deepEqual(parseProbeTarget("  "), { host: "1.1.1.1", port: 443 });
  assert.deepEqual(parseProbeTarget("127.0.0.1:9"), { host: "127.0.0.1", port: 9 });
  for (
    const bad of [
      // A host name never resolves in the bottle (its DNS is the bundle's sink), so the
      // lookup failure would pass for a refusal: refused up front.
      "example.invalid:443",
      "localhost:443",
      "999.1.1.1:443",
      "1.1.1:443",
      "1.1.1.1:0",
      "1.1.1.1:65536",
      "1.1.1.1",
      "-x:443",
    ]
  ) {
    assert.throws(() => parseProbeTarget(bad), UserError, bad);
  }
});

/** A fake bundle proxy on a loopback address that refuses every request with 403. */
function fakeProxy(hostname: string): Deno.Listener {
  const listener = Deno.listen({ hostname, port: 8888 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          // Read the whole request (it may arrive in pieces) before answering, as squid does.
          let seen = "";
          const buf = new Uint8Array(1024);
          while (!seen.includes("\r\n\r\n")) {
            const n = await conn.read(buf);
            if (n === null) break;
            seen += new TextDecoder().decode(buf.subarray(0, n));
          }
          await conn.write(new TextEncoder().encode("HTTP/1.1 403 Forbidden\r\n\r\n"));
        } catch { /* the probe may hang up first */ }
        try {
          conn.close();
        } catch { /* already closed */ }
      })();
    }
  })().catch(() => {});
  return listener;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function runProbe(
  proxyIp: string,
  target: string,
  port: number,
  path?: string,
): Promise<{ code: number; out: string }> {
  const env: Record<string, string> = {};
  if (path !== undefined) env.PATH = path;
  const out = await new Deno.Command("bash", {
    args: ["-c", PROBE_SCRIPT, "probe", proxyIp, target, String(port)],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

// Loopback only (network rule): the fake proxy listens on 127.0.0.2, targets are on 127.0.0.1.
Deno.test("PROBE_SCRIPT: refused passes, a connection is a leak, a non-refusal is no pass", async () => {
  const proxyIp = "127.0.0.2";
  let proxy: Deno.Listener;
  try {
    proxy = fakeProxy(proxyIp);
  } catch (error) {
    console.log(`skipped: cannot listen on ${proxyIp}:8888 (${(error as Error).message})`);
    return;
  }
  const open = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tmp = await Deno.makeTempDir({ prefix: "bbtest-probe-" });
  try {
    // A closed port: connect(2) is refused at once.
    const refused = await runProbe(proxyIp, "127.0.0.1", freePort());
    assert.equal(refused.code, 0, refused.out);
    assert.match(refused.out, /^probe ok: .*refused in \d+ ms \(Connection refused\)/m);

    // A port that accepts: a leak.
    const leak = await runProbe(proxyIp, "127.0.0.1", (open.addr as Deno.NetAddr).port);
    assert.equal(leak.code, 12, leak.out);
    assert.match(leak.out, /LEAK/);

    // `timeout` missing in the image: the direct connection was never tried. This used to
    // count as "refused quickly" (any non-zero exit under 3 s passed).
    await Deno.writeTextFile(
      `${tmp}/timeout`,
      "#!/bin/sh\necho 'timeout: not found' >&2\nexit 127\n",
    );
    await Deno.chmod(`${tmp}/timeout`, 0o755);
    const noTimeout = await runProbe(
      proxyIp,
      "127.0.0.1",
      freePort(),
      `${tmp}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    );
    assert.equal(noTimeout.code, 14, noTimeout.out);
    assert.match(noTimeout.out, /without being refused by the network \(exit 127: /);
    assert.doesNotMatch(noTimeout.out, /probe ok/);
  } finally {
    proxy.close();
    open.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
