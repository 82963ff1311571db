/**
 * Test upstreams, all containers of the fixture image on a network the test created: a probe
 * target (something listening that a bottle must NOT reach) and an SSH git server.
 */
import assert from "node:assert/strict";
import { containerIp, docker, exec } from "./docker.ts";

/** Waits (bounded, ~10 s) until something in `container` listens on 127.0.0.1:`port`. */
export async function waitListening(container: string, port: number): Promise<boolean> {
  const r = await exec(
    container,
    `for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && exit 0; sleep 0.1; done; exit 1`,
  );
  return r.code === 0;
}

/**
 * Starts `name` on `network` listening on 443 (python's http.server): the egress probe's
 * direct target. Returns `<ip>:443`.
 */
export async function startProbeTarget(
  name: string,
  network: string,
  fixture: string,
): Promise<string> {
  await docker([
    "run",
    "-d",
    "--name",
    name,
    "--network",
    network,
    fixture,
    "python3",
    "-m",
    "http.server",
    "443",
  ]);
  const ip = await containerIp(name, network);
  assert.ok(await waitListening(name, 443), "the probe target did not start listening on 443");
  return `${ip}:443`;
}

/** The SSH git upstream's setup: user `git`, bare repo /srv/git/app.git seeded on `main`. */
const SSH_UPSTREAM_SETUP = `set -e
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
useradd -m -s /bin/bash git && usermod -p '*' git
install -d -o git -g git -m 0700 /home/git/.ssh
printf '%s\\n' "$CLIENT_PUB" > /home/git/.ssh/authorized_keys
chown git:git /home/git/.ssh/authorized_keys && chmod 0600 /home/git/.ssh/authorized_keys
mkdir -p /srv/git && git init -q --bare -b main /srv/git/app.git
git init -q -b main /tmp/seed && cd /tmp/seed
git -c user.name=seed -c user.email=seed@test commit -q --allow-empty -m seed
git push -q /srv/git/app.git main
chown -R git:git /srv/git
exec /usr/sbin/sshd -D -e`;

/**
 * Starts an SSH git server container (`git@<alias>:/srv/git/app.git`, one empty commit "seed" on
 * main) with a throwaway ed25519 key pair generated for the test; the private key is written to
 * `identity` (mode 0600). Returns the public key and the server's pinned host key.
 */
export async function startSshUpstream(opts: {
  name: string;
  network: string;
  fixture: string;
  identity: string;
  aliases?: string[];
}): Promise<{ pub: string; hostKey: string }> {
  const keygen = await docker([
    "run",
    "--rm",
    "--network",
    "none",
    opts.fixture,
    "bash",
    "-c",
    "ssh-keygen -q -t ed25519 -N '' -C bbtest -f /tmp/k && cat /tmp/k.pub && cat /tmp/k",
  ]);
  const [pub, ...priv] = keygen.stdout.split("\n");
  await Deno.writeTextFile(opts.identity, priv.join("\n"), { mode: 0o600 });
  await docker([
    "run",
    "-d",
    "--name",
    opts.name,
    "--network",
    opts.network,
    ...(opts.aliases ?? []).flatMap((a) => ["--network-alias", a]),
    "-e",
    `CLIENT_PUB=${pub}`,
    opts.fixture,
    "bash",
    "-c",
    SSH_UPSTREAM_SETUP,
  ]);
  if (!await waitListening(opts.name, 22)) {
    throw new Error(`upstream sshd in ${opts.name} did not start`);
  }
  const hostKey = (await exec(opts.name, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub"))
    .stdout.trim();
  if (!/^ssh-ed25519 /.test(hostKey)) throw new Error(`no host key in ${opts.name}: ${hostKey}`);
  return { pub, hostKey };
}

/**
 * A plain-http upstream (python): `/slow` streams 20 x 64 KiB over ~6 s (a long download to
 * keep open through an approval); anything else answers `hello from <Host>`.
 */
const WEB_UPSTREAM = `
import http.server, socketserver, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow"):
            self.send_response(200)
            self.send_header("Content-Length", str(20 * 65536))
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"x" * 65536)
                self.wfile.flush()
                time.sleep(0.3)
            return
        body = ("hello from %s\\n" % self.headers.get("Host")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("0.0.0.0", 80), H).serve_forever()
`;

/** Starts {@link WEB_UPSTREAM} as `name` on `network` (port 80). */
export async function startWebUpstream(
  name: string,
  network: string,
  fixture: string,
): Promise<void> {
  await docker([
    "run",
    "-d",
    "--name",
    name,
    "--network",
    network,
    fixture,
    "python3",
    "-c",
    WEB_UPSTREAM,
  ]);
  assert.ok(await waitListening(name, 80), "the web upstream did not start listening on 80");
}

/**
 * An HTTPS upstream (python, :443) with a certificate from its own test CA for every name in
 * `names`, and, for the names in `badNames`, a self-signed certificate no one trusts. Every
 * request is logged (method, path, headers, body) to /tmp/requests.jsonl in the container, so
 * a test checks what the upstream really received. Endpoints:
 *
 * - `/b64`: the base64 of the request's `x-api-key` and `authorization` headers, one per line;
 * - `/gzip`: the echo, gzip-encoded whatever the request accepts;
 * - `/split?v=...`: streams `v` in 3-byte chunks (chunked), to split a value across reads;
 * - `/big?mib=N`: N MiB of `a` (Content-Length);
 * - `/ws`: a WebSocket (no extension) answering each text message `m` with the text
 *   `echo m key=<the request's x-api-key>`, and a close with a close;
 * - `/v1/messages`, `/v1/responses`: a fake Anthropic / OpenAI API, 401 unless the bearer token
 *   (or, for messages, `x-api-key`) hashes to `expectSha256`; then a POST gets a reply (the text
 *   `bbtest reply from the fake API`) as a message, or streamed as the API streams it (SSE) when
 *   the body asks for `stream`, and anything else a 404;
 * - anything else: a JSON echo `{method, path, headers, body}` with header `x-echo-auth` set to
 *   the request's authorization header.
 */
const HTTPS_UPSTREAM = String.raw`
import base64, gzip, hashlib, http.server, json, os, socketserver, ssl, struct, sys, threading, urllib.parse
lock = threading.Lock()
# What the fake APIs answer: the text a client prints when its request was authenticated.
REPLY = "bbtest reply from the fake API"
USAGE = {"input_tokens": 1, "output_tokens": 1}
MESSAGES_EVENTS = [  # Anthropic Messages API, streamed
    {"type": "message_start", "message": {"id": "msg_bbtest", "type": "message",
     "role": "assistant", "model": "fake", "content": [], "stop_reason": None,
     "stop_sequence": None, "usage": USAGE}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": REPLY}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
     "usage": {"output_tokens": 1}},
    {"type": "message_stop"},
]
RESPONSES_EVENTS = [  # OpenAI Responses API, streamed
    {"type": "response.created", "response": {"id": "resp_bbtest"}},
    {"type": "response.output_item.done", "output_index": 0, "item": {
        "type": "message", "role": "assistant", "id": "msg_bbtest",
        "content": [{"type": "output_text", "text": REPLY}]}},
    {"type": "response.completed", "response": {"id": "resp_bbtest", "usage": {
        "input_tokens": 1, "input_tokens_details": None, "output_tokens": 1,
        "output_tokens_details": None, "total_tokens": 2}}},
]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY every keep-alive response
    # waits out the client's delayed ACK (~40 ms), which would hide what a proxy costs.
    disable_nagle_algorithm = True
    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""
    def _log(self, body):
        rec = {"method": self.command, "path": self.path, "host": self.headers.get("Host"),
               "headers": [[k, v] for k, v in self.headers.items()],
               "body": body.decode("utf-8", "replace")}
        with lock, open("/tmp/requests.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
    def _send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def _handle(self):
        body = self._body()
        self._log(body)
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path in ("/v1/messages", "/v1/responses"):
            # A fake Anthropic / OpenAI API: 200 only with the expected credential (compared by
            # SHA-256, so the value itself is not in the container's config).
            want = os.environ.get("EXPECT_SHA256", "")
            sha = lambda v: hashlib.sha256(v.encode()).hexdigest()
            bearer = (self.headers.get("authorization") or "").removeprefix("Bearer ")
            given = [bearer] + ([self.headers.get("x-api-key") or ""]
                                if url.path == "/v1/messages" else [])
            if not (want and any(sha(g) == want for g in given if g)):
                return self._send(401, b'{"type":"error","error":{"type":"authentication_error"}}\n')
            if self.command != "POST":
                return self._send(404, b'{"error":"not here"}\n')  # e.g. Codex's WebSocket try
            try:
                streamed = bool(json.loads(body or b"{}").get("stream"))
            except ValueError:
                streamed = False
            if not streamed:
                return self._send(200, json.dumps({
                    "id": "msg_bbtest", "type": "message", "role": "assistant", "model": "fake",
                    "content": [{"type": "text", "text": REPLY}], "stop_reason": "end_turn",
                    "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
                }).encode() + b"\n")
            events = MESSAGES_EVENTS if url.path == "/v1/messages" else RESPONSES_EVENTS
            out = "".join("event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e)) for e in events)
            return self._send(200, out.encode(), "text/event-stream")
        if url.path == "/b64":
            out = "".join(base64.b64encode((self.headers.get(h) or "").encode()).decode() + "\n"
                          for h in ("x-api-key", "authorization"))
            return self._send(200, out.encode(), "text/plain")
        if url.path == "/split":
            v = q.get("v", [""])[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            data = b"before " + v + b" after\n"
            for i in range(0, len(data), 3):
                part = data[i:i + 3]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/ws":
            return self._websocket()
        if url.path == "/big":
            n = int(q.get("mib", ["1"])[0]) << 20
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"a" * 65536
            for _ in range(n // 65536):
                self.wfile.write(chunk)
            return
        echo = {"method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace")}
        out = json.dumps(echo).encode() + b"\n"
        auth = self.headers.get("authorization") or ""
        if url.path == "/gzip":
            return self._send(200, gzip.compress(out), extra=[("Content-Encoding", "gzip"),
                                                              ("x-echo-auth", auth)])
        self._send(200, out, extra=[("x-echo-auth", auth)])
    def _websocket(self):
        accept = base64.b64encode(hashlib.sha1(
            (self.headers.get("Sec-WebSocket-Key", "") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
            .encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        key = (self.headers.get("x-api-key") or "").encode()
        def frame(opcode, payload):
            n = len(payload)
            head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else b"\x7e" + struct.pack("!H", n))
            self.wfile.write(head + payload)
            self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            if opcode == 8:
                return frame(8, payload[:2])
            if opcode == 1:
                frame(1, b"echo " + payload + b" key=" + key)
    do_GET = do_POST = do_PUT = do_DELETE = _handle
    def log_message(self, *args):
        pass
good = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
good.load_cert_chain("/srv/tls/good.pem", "/srv/tls/good.key")
bad = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
bad.load_cert_chain("/srv/tls/bad.pem", "/srv/tls/bad.key")
bad_names = set(sys.argv[1].split(",")) if len(sys.argv) > 1 and sys.argv[1] else set()
def pick(sock, name, ctx):
    if name in bad_names:
        sock.context = bad
good.sni_callback = pick
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
srv = S(("0.0.0.0", 443), H)
srv.socket = good.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
`;

/** The upstream's certificates, made in a throwaway container (no network). */
function upstreamCertScript(names: string[], badNames: string[], ownIp = false): string {
  // With ownIp, the certificate also names the container's own address (for a client that can
  // only reach it by IP, such as a build on Docker's default bridge).
  const san = [...names.map((n) => `DNS:${n}`), ...(ownIp ? ["IP:$ip"] : [])].join(",");
  const badSan = badNames.map((n) => `DNS:${n}`).join(",") || "DNS:bad.invalid";
  return `set -e
ip=$(hostname -i | cut -d' ' -f1)
mkdir -p /srv/tls && cd /srv/tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout ca.key \
  -out ca.pem -subj "/CN=bbtest upstream CA $RANDOM$RANDOM" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout good.key -out good.csr \
  -subj "/CN=${names[0]}" 2>/dev/null
printf 'subjectAltName=%s\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' "${san}" >ext
openssl x509 -req -in good.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out good.pem \
  -extfile ext 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout bad.key \
  -out bad.pem -subj "/CN=bbtest untrusted" -addext "subjectAltName=${badSan}" 2>/dev/null
rm -f ca.key good.csr ext
`;
}

/**
 * Starts the {@link HTTPS_UPSTREAM} as `name` on `network` (aliases `names` and `badNames`) and
 * returns its CA certificate (PEM), which a bottle gets through `ca_certs`.
 */
export async function startHttpsUpstream(opts: {
  name: string;
  network: string;
  fixture: string;
  names: string[];
  badNames?: string[];
  /** SHA-256 (hex) of the credential the fake API endpoints accept. */
  expectSha256?: string;
  /**
   * On Docker's default `bridge` (no aliases there): the certificate names the container's own
   * address, which is returned.
   */
  defaultBridge?: boolean;
}): Promise<{ caPem: string; ip?: string }> {
  const bad = opts.badNames ?? [];
  const bridge = opts.defaultBridge ?? false;
  await docker([
    "run",
    "-d",
    "--name",
    opts.name,
    "--network",
    bridge ? "bridge" : opts.network,
    ...(bridge ? [] : [...opts.names, ...bad].flatMap((a) => ["--network-alias", a])),
    ...(opts.expectSha256 ? ["-e", `EXPECT_SHA256=${opts.expectSha256}`] : []),
    opts.fixture,
    "bash",
    "-c",
    `${upstreamCertScript(opts.names, bad, bridge)}\nexec python3 -c "$0" "$1"`,
    HTTPS_UPSTREAM,
    bad.join(","),
  ]);
  if (!await waitListening(opts.name, 443)) {
    const logs = await docker(["logs", opts.name], { allowFailure: true });
    throw new Error(`the HTTPS upstream ${opts.name} did not start: ${logs.stderr}`);
  }
  const ca = await exec(opts.name, "cat /srv/tls/ca.pem");
  assert.match(ca.stdout, /BEGIN CERTIFICATE/);
  if (!bridge) return { caPem: ca.stdout };
  return { caPem: ca.stdout, ip: await containerIp(opts.name, "bridge") };
}

/** What the {@link startHttpsUpstream} upstream received, one record per request. */
export async function upstreamRequests(name: string): Promise<
  { method: string; path: string; host: string; headers: [string, string][]; body: string }[]
> {
  const r = await exec(name, "cat /tmp/requests.jsonl 2>/dev/null || true");
  return r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
