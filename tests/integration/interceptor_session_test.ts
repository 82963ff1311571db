/**
 * The interceptor's request/response handling (bb.intercept.Session), driven over loopback in
 * the bundle image (`--network none`: the agent side and a scripted upstream are both in the
 * one python process; TLS is not involved here, the other bundle tests cover it). Each case is
 * an attack an upstream or an agent can make on what the bundle forwards:
 * - an upstream echoing a value into its reason phrase or a header name;
 * - an agent smuggling a request in a GET's body past a server that ignores it (CL.0);
 * - a request with no Host, an empty one, or HTTP/1.0 (the bundle writes Host itself);
 * - framing and hop-by-hop headers (the bundle writes its own);
 * - a malformed pipelined request, Connection: close, and 1xx towards HTTP/1.0 clients.
 */
import assert from "node:assert/strict";
import { docker } from "../_harness/docker.ts";
import { BUNDLE_LIB } from "../_harness/bundle_python.ts";
import { bundleImage } from "../_harness/images.ts";

const SCRIPT = String.raw`
import asyncio, json, os, sys, tempfile
from bb import intercept
from bb.audit import AuditLog
from bb.credentials import Secrets
from bb.gate import Gate
from bb.policy import Policy

SECRET = "REAL-SECRET-VALUE-0123456789"
PH = "bot-bottle-placeholder-0123456789abcdef0123456789abcdef"
d = tempfile.mkdtemp()
exact = lambda h: {"kind": "exact", "host": h}
with open(f"{d}/policy.json", "w") as f:
    json.dump({"slug": "s", "allow": [exact("api.test")],
               "secrets": [{"name": "TOK", "placeholder": PH, "inject": [exact("api.test")]}]}, f)
policy = Policy(f"{d}/policy.json", f"{d}/none.json")
policy.reload()
secrets = Secrets(policy.settings["secrets"])
secrets.load({"TOK": SECRET})
gate = Gate(policy, AuditLog(d), {}, secrets)

class Icp:
    def __init__(self, port):
        self.gate, self.port, self.opened = gate, port, 0
    async def open_upstream(self, host, port, addresses):
        self.opened += 1
        return await asyncio.open_connection("127.0.0.1", self.port, limit=intercept.READ)

async def heads(r, log, cl0=False):
    """An upstream's requests: each head logged; a body by Content-Length unless cl0 (a server
    that ignores it: the body is read as the next request)."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            data = await r.read(65536)
            if not data:
                return
            buf += data
        end = buf.index(b"\r\n\r\n") + 4
        head, buf = buf[:end], buf[end:]
        log.append(head.decode("latin-1"))
        yield head
        if not cl0:
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
                    while len(buf) < n:
                        buf += await r.read(65536)
                    buf = buf[n:]

def echo_of(head, name):
    return [l.split(b": ", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(name)][0]

async def ok(r, w, log):
    async for head in heads(r, log):
        w.write(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()

async def cl0(r, w, log):
    async for head in heads(r, log, cl0=True):
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()

async def echo_reason(r, w, log):
    async for head in heads(r, log):
        v = echo_of(head, b"x-echo:")
        w.write(b"HTTP/1.1 103 " + v + b"\r\n\r\nHTTP/1.1 200 " + v + b"\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()

async def echo_name(r, w, log):
    async for head in heads(r, log):
        w.write(b"HTTP/1.1 200 OK\r\n" + echo_of(head, b"x-echo:") + b": 1\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()

async def case(agent_bytes, upstream):
    log = []
    async def up_handler(r, w):
        try:
            await upstream(r, w, log)
        finally:
            w.close()
    up = await asyncio.start_server(up_handler, "127.0.0.1", 0)
    icp = Icp(up.sockets[0].getsockname()[1])
    async def agent_handler(r, w):
        await intercept.Session(icp, "api.test", 443, ["127.0.0.1"], r, w, "agent").run()
    front = await asyncio.start_server(agent_handler, "127.0.0.1", 0, limit=intercept.MAX_HEAD)
    r, w = await asyncio.open_connection("127.0.0.1", front.sockets[0].getsockname()[1])
    w.write(agent_bytes.replace(b"PH", PH.encode()))
    await w.drain()
    got = b""
    for _ in range(100):  # bounded: 100 reads of at most 0.5 s
        try:
            data = await asyncio.wait_for(r.read(65536), 0.5)
        except asyncio.TimeoutError:
            break
        if not data:
            break
        got += data
    w.close()
    front.close()
    up.close()
    return {"agent": got.decode("latin-1"), "upstream": log, "connections": icp.opened}

CASES = {
    "reason": (b"GET / HTTP/1.1\r\nHost: api.test\r\nX-Echo: PH\r\n\r\n", echo_reason),
    "name": (b"GET / HTTP/1.1\r\nHost: api.test\r\nX-Echo: PH\r\n\r\n", echo_name),
    "cl0": (b"GET /a HTTP/1.1\r\nHost: api.test\r\nContent-Length: 43\r\n\r\n"
            b"DELETE /admin HTTP/1.1\r\nHost: api.test\r\nX: "
            b"GET /b HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer PH\r\n\r\n", cl0),
    "post_reuses": (b"POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Length: 2\r\n\r\nhi"
                    b"GET /b HTTP/1.1\r\nHost: api.test\r\n\r\n", ok),
    "no_host": (b"GET /x HTTP/1.1\r\nAuthorization: Bearer PH\r\n\r\n", ok),
    "empty_host": (b"GET /x HTTP/1.1\r\nHost:\r\nAuthorization: Bearer PH\r\n\r\n", ok),
    "http10": (b"GET /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", ok),
    "framing": (b"POST / HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: CHUNKED\r\n"
                b"Connection: Content-Length, x-drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\n"
                b"Content_Length: 9\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n", ok),
    "dup_cl": (b"POST / HTTP/1.1\r\nHost: api.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", ok),
    "pipelined_bad": (b"GET /1 HTTP/1.1\r\nHost: api.test\r\n\r\n"
                      b"GET /2 HTTP/1.1\r\nHost: api.test\r\nBad Header: x\r\n\r\n", ok),
    "close": (b"GET / HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n", ok),
}
out = {name: asyncio.run(case(*c)) for name, c in CASES.items()}
out["secret"] = SECRET
from bb.audit import flush_said
flush_said()
print(json.dumps(out))
`;

Deno.test({
  name: "interceptor session: what an upstream or an agent can make the bundle forward",
  sanitizeResources: false,
  fn: async () => {
    const image = await bundleImage();
    const run = await docker([
      "run",
      "--rm",
      "--network",
      "none",
      "--mount",
      `type=bind,source=${BUNDLE_LIB},target=/lib-under-test,readonly`,
      "-e",
      "PYTHONPATH=/lib-under-test",
      "-e",
      "PYTHONDONTWRITEBYTECODE=1",
      "--entrypoint",
      "python3",
      image,
      "-c",
      SCRIPT,
    ]);
    // deno-lint-ignore no-explicit-any
    const r: Record<string, any> = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    const secret: string = r.secret;
    const agent = (name: string) => r[name].agent as string;
    const upstream = (name: string) => (r[name].upstream as string[]).join("");

    // Reason phrases are the bundle's, never the upstream's; names are redacted like values.
    assert.ok(!agent("reason").includes(secret), agent("reason"));
    assert.match(agent("reason"), /^HTTP\/1\.1 103 Early Hints\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.ok(!agent("name").includes(secret), agent("name"));
    assert.match(agent("name"), /\r\nbot-bottle-placeholder-[0-9a-f]{32}: 1\r\n/);

    // A GET's body never becomes the upstream's next request: that connection is not used
    // again, so the checked GET /b (with the value swapped in) goes on a new one.
    assert.equal(r.cl0.connections, 2);
    assert.ok(
      r.cl0.upstream.every((h: string) => !h.startsWith("DELETE")),
      JSON.stringify(r.cl0.upstream),
    );
    assert.match(agent("cl0"), /200 OK[\s\S]*200 OK/);
    assert.equal(r.post_reuses.connections, 1, "a POST's body is read: the connection is kept");

    // Host is the tunnel's, written by the bundle.
    for (const name of ["no_host", "empty_host", "http10"]) {
      assert.match(upstream(name), /^GET \/x HTTP\/1\.1\r\nHost: api\.test\r\n/, name);
      assert.equal(upstream(name).match(/^host:/gim)?.length, 1, name);
    }
    assert.ok(upstream("no_host").includes(`Authorization: Bearer ${secret}`));
    assert.ok(!agent("http10").includes("100 Continue"), "no 1xx to an HTTP/1.0 client");
    assert.match(agent("http10"), /^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n/);

    // Framing and hop-by-hop headers are the bundle's own.
    const framing = upstream("framing");
    assert.match(framing, /\r\nTransfer-Encoding: chunked\r\n/);
    assert.equal(framing.match(/transfer-encoding/gi)?.length, 1);
    for (const gone of [/^connection:/im, /^x-drop:/im, /^keep-alive:/im, /^content_length:/im]) {
      assert.doesNotMatch(framing, gone);
    }
    assert.equal(upstream("dup_cl").match(/^content-length: 3\r$/gim)?.length, 1);

    // A malformed request after a good one is answered 400, not just closed.
    assert.match(agent("pipelined_bad"), /^HTTP\/1\.1 200 OK[\s\S]*HTTP\/1\.1 400 Bad Request/);
    // Connection: close asked: the answer says so, whatever the upstream said.
    assert.match(agent("close"), /\r\nConnection: close\r\n/);
    assert.doesNotMatch(agent("close"), /keep-alive/i);
  },
});
