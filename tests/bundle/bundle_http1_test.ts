/**
 * The interceptor's HTTP/1.1 reader and writer (lib/bundle/image/lib/bb/http1.py), run with the
 * host's python3: what it accepts, what it refuses, how it frames bodies, and that a message
 * split at every byte reads the same as whole (a TLS record can end anywhere).
 */
import assert from "node:assert/strict";
import { runBundlePython } from "../_harness/bundle_python.ts";

const SCRIPT = String.raw`
import asyncio, json, sys
from bb import http1

class Stream:
    """An asyncio StreamReader stand-in handing out the given pieces, then EOF."""
    def __init__(self, pieces):
        self.pieces = list(pieces)
    async def read(self, n):
        return self.pieces.pop(0) if self.pieces else b""

async def read_all(pieces, kind, method=b"GET"):
    r = http1.Reader(Stream(pieces), 4096, 65536)
    out = []
    try:
        while True:
            head = await (r.request() if kind == "request" else r.response(method))
            if head is None:
                break
            body = b""
            if head.framing != "invalid":
                while True:
                    piece = await r.body()
                    if piece is None:
                        break
                    body += piece
            out.append({"method": head.method.decode(), "target": head.target.decode(),
                        "status": head.status, "version": head.version.decode(),
                        "headers": [[k.decode(), v.decode("latin-1")] for k, v in head.headers],
                        "framing": head.framing, "problem": head.problem, "close": head.close,
                        "body": body.decode("latin-1")})
            if head.framing in ("invalid", "close") or kind == "response":
                break
    except http1.ProtocolError as error:
        out.append({"error": str(error)})
    return out

def split_every(data):
    """Every way of cutting the message in two, plus one byte at a time."""
    yield [data]
    step = max(1, len(data) // 256)  # a long message: 256 cuts, evenly spread
    for i in range(1, len(data), step):
        yield [data[:i], data[i:]]
    yield [data[i:i + 1] for i in range(len(data))]

cases = json.loads(sys.stdin.read())
results = {}
for name, (kind, text) in cases.items():
    data = text.encode("latin-1")
    whole = asyncio.run(read_all([data], kind))
    same = all(asyncio.run(read_all(p, kind)) == whole for p in split_every(data))
    results[name] = {"result": whole, "split_same": same}
class Stalled(Stream):
    """Half a head, then nothing more (never EOF)."""
    async def read(self, n):
        if self.pieces:
            return self.pieces.pop(0)
        await asyncio.sleep(3600)

async def stalled():
    r = http1.Reader(Stalled([b"GET / HTTP/1.1\r\nHost: h\r\n"]), 4096, 65536, head_timeout=0.2)
    try:
        await r.request()
    except http1.ProtocolError as error:
        return str(error)

results["stalled"] = asyncio.run(stalled())
results["written"] = [
    http1.request_head(b"POST", b"/p", [(b"Host", b"api.test"), (b"X-A", b"1")]).decode(),
    http1.response_head(200, b"OK", [(b"Content-Length", b"2")]).decode(),
    (http1.chunk(b"hello") + http1.chunk(b"") + http1.LAST_CHUNK).decode(),
]
print(json.dumps(results))
`;

const CASES: Record<string, [string, string]> = {
  get: ["request", "GET /a?b=c HTTP/1.1\r\nHost: api.test\r\nX-Key:  v a l  \r\n\r\n"],
  pipelined: [
    "request",
    "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
    "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
  ],
  chunked: [
    "request",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
  ],
  http10: ["request", "GET / HTTP/1.0\r\nHost: h\r\n\r\n"],
  cl_and_te: [
    "request",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  te_gzip: ["request", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"],
  te_in_10: ["request", "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"],
  two_lengths: ["request", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"],
  same_lengths: ["request", "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"],
  signed_length: ["request", "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nab"],
  bare_lf: ["request", "GET / HTTP/1.1\nHost: h\n\n"],
  bare_cr_in_value: ["request", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"],
  folded: ["request", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"],
  space_before_colon: ["request", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"],
  nul_in_value: ["request", "GET / HTTP/1.1\r\nX: a\u0000b\r\n\r\n"],
  leading_blank: ["request", "\r\nGET / HTTP/1.1\r\n\r\n"],
  lowercase_version: ["request", "GET / http/1.1\r\n\r\n"],
  http2_version: ["request", "GET / HTTP/2.0\r\n\r\n"],
  target_space: ["request", "GET /a b HTTP/1.1\r\n\r\n"],
  chunk_size_long: [
    "request",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
  ],
  chunk_no_crlf: [
    "request",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
  ],
  trailers_too_big: [
    "request",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" +
    "X-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(200) + "\r\n",
  ],
  closed_in_body: ["request", "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"],
  head_too_big: ["request", `GET / HTTP/1.1\r\nX: ${"a".repeat(5000)}\r\n\r\n`],
  response_length: [
    "response",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
  ],
  response_until_close: ["response", "HTTP/1.1 200 OK\r\n\r\nall of the rest"],
  response_no_reason: ["response", "HTTP/1.1 204\r\nContent-Length: 9\r\n\r\n"],
  response_chunked: [
    "response",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  ],
  response_10: ["response", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  response_bad_status: ["response", "HTTP/1.1 20 OK\r\n\r\n"],
  response_reflected: ["response", "HTTP/1.1 200 OK\r\nX-Echo sk-secret-value\r\n\r\n"],
};

Deno.test("bb.http1: strict HTTP/1.1 reading, framing and writing (host python3)", async () => {
  const r = await runBundlePython(SCRIPT, { stdin: JSON.stringify(CASES) });

  for (const name of Object.keys(CASES)) {
    assert.ok(r[name].split_same, `${name}: read differently when split`);
  }
  const one = (name: string) => r[name].result;
  const error = (name: string) => one(name).at(-1).error as string | undefined;

  // Accepted, as sent: names keep their case, values lose surrounding whitespace only.
  assert.deepEqual(one("get"), [{
    method: "GET",
    target: "/a?b=c",
    status: 0,
    version: "1.1",
    headers: [["Host", "api.test"], ["X-Key", "v a l"]],
    framing: "length",
    problem: "",
    close: false,
    body: "",
  }]);
  assert.deepEqual(
    one("pipelined").map((m: { target: string; body: string; close: boolean }) => [
      m.target,
      m.body,
      m.close,
    ]),
    [["/1", "", false], ["/2", "abc", false], ["/3", "", true]],
  );
  assert.equal(one("chunked")[0].framing, "chunked");
  assert.equal(one("chunked")[0].body, "hello0123456789", "extensions and trailers are dropped");
  assert.equal(one("http10")[0].close, true, "no keep-alive with HTTP/1.0");
  assert.equal(one("same_lengths")[0].body, "ab");

  // A request framed two ways (or with a coding the bundle does not read) is not read on: the
  // interceptor refuses it by name and closes.
  for (const name of ["cl_and_te", "te_gzip", "te_in_10", "two_lengths", "signed_length"]) {
    assert.equal(one(name)[0].framing, "invalid", name);
    assert.equal(one(name)[0].body, "", `${name}: its body is never read`);
  }
  assert.match(one("cl_and_te")[0].problem, /both Transfer-Encoding and Content-Length/);
  assert.match(one("te_gzip")[0].problem, /chunked, alone/);
  assert.match(one("te_in_10")[0].problem, /HTTP\/1\.0/);
  assert.match(one("two_lengths")[0].problem, /differing Content-Length/);
  assert.match(one("signed_length")[0].problem, /not a number/);

  // Refused outright.
  assert.match(error("bare_lf")!, /CRLF/);
  for (
    const name of [
      "bare_cr_in_value",
      "folded",
      "space_before_colon",
      "nul_in_value",
      "leading_blank",
      "lowercase_version",
      "http2_version",
      "target_space",
    ]
  ) {
    assert.ok(error(name), `${name} is refused: ${JSON.stringify(one(name))}`);
  }
  assert.match(error("chunk_size_long")!, /chunk size/);
  assert.match(error("chunk_no_crlf")!, /CRLF/);
  assert.match(error("closed_in_body")!, /closed inside a body/);
  assert.match(error("trailers_too_big")!, /trailers are over 4096 bytes/);
  assert.match(r.stalled, /did not arrive whole within 0\.2 s/);
  assert.match(error("head_too_big")!, /over 4096 bytes/);

  // Responses.
  assert.equal(one("response_length")[0].body, "hello");
  assert.equal(one("response_until_close")[0].framing, "close");
  assert.equal(one("response_until_close")[0].body, "all of the rest");
  assert.equal(one("response_no_reason")[0].status, 204);
  assert.equal(one("response_no_reason")[0].body, "", "a 204 has no body, whatever it says");
  assert.equal(one("response_chunked")[0].body, "abc");
  assert.equal(one("response_10")[0].close, true);
  assert.match(error("response_bad_status")!, /status line/);
  // An error never quotes the peer's bytes (an upstream could reflect a value into a line).
  assert.match(error("response_reflected")!, /illegal header line/);
  assert.doesNotMatch(error("response_reflected")!, /sk-secret/);

  assert.deepEqual(r.written, [
    "POST /p HTTP/1.1\r\nHost: api.test\r\nX-A: 1\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
    "5\r\nhello\r\n0\r\n\r\n",
  ]);
});
