"""bot-bottle's TLS interceptor, and the front of the egress proxy on :8888 (SPEC §12).

Every connection to :8888 is read up to its first request line. One that opens with
`CONNECT host:port` to a host the bundle intercepts (a host of an injected secret or of an
`egress.rules` entry, or every host with `egress.inspect = "all"`) is served here, in-process:
1. the CONNECT is decided by bb.gate (allowlist, ask-mode hold, resolved once and checked: the
   upstream connection goes to exactly those addresses, never a local or the bundle's own);
2. the agent's TLS is terminated with a leaf certificate for the tunnel's host, signed by the
   bottle's CA (bb.certs; one SSLContext per host, cached);
3. HTTP/1.1 inside is read with bb.http1, request by request (keep-alive and pipelining: every
   request is one audit record). Each must name the tunnel's host (Host header, absolute-form
   target), is checked against the live allowlist and `egress.rules` before its body leaves,
   has the host's placeholders swapped in (URL and headers, Basic auth too), and is refused
   when it carries another secret's value (URL, headers, or the body, read first);
4. upstream TLS (one connection per agent connection, kept alive) is verified against the
   system store plus the bottle's ca_certs for the tunnel's host (the agent's SNI is not used);
   a failure is a 502 naming the host and the reason;
5. every response has the values (raw, base64, URL, JSON forms) replaced by their placeholders,
   in its headers and its body (a small one of known length at once, others streamed,
   chunk-boundary safe; a compressed body is decoded, redacted and re-encoded; trailers are
   dropped), WebSocket messages too (parsed frame by frame with wsproto; no extension is
   negotiated, so every payload is readable), and a message from the agent carrying another
   secret's value closes the connection.
Anything the interceptor cannot parse, or does not expect, closes the connection (or answers
a bot-bottle refusal): nothing inside an intercepted tunnel is relayed unparsed.

Every other connection (plain-http proxying, tunnels the bundle does not intercept) is handed,
with the bytes already read, to mitmproxy's connection handler (bb.egress decides there).
"""
import asyncio
import gzip
import http
import os
import re
import ssl
import tempfile
import zlib
from typing import Awaitable, Callable, Dict, List, Optional, Tuple

import h11
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode, ParseFailed

from . import http1
from .addresses import parse_address, refusal
from .audit import say
from .certs import leaf_certificate, load_ca, pem
from .gate import (MAX_INSPECTED_BODY, UPSTREAM_TLS_PREFIX, Ask, Gate, Headers, Refusal,
                   authority_problem, client_text, error_page, parse_authority)

READ = 65536
MAX_HEAD = 64 << 10
# A connection's request line must arrive within this, as must a TLS handshake.
HEAD_TIMEOUT = 60
HANDSHAKE_TIMEOUT = 30
CONNECT_TIMEOUT = 30
# After a refusal whose request body was not read, the rest is read and dropped for at most
# this long (closing at once could reset the connection before the agent reads the refusal).
LINGER_SECONDS = 5
MAX_CACHED_HOSTS = 256
# A response body of a known length up to this is read whole and redacted at once (sent with a
# Content-Length); a longer one, or one of no known length (a stream), is redacted as it comes.
SMALL_BODY = 64 << 10
# How long a response's first bytes may wait for the rest before they are sent anyway.
CORK_SECONDS = 0.002

# Methods whose servers read the body they are sent: after another method's body the upstream
# connection is not used again.
BODY_METHODS = (b"POST", b"PUT", b"PATCH")
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "te", "trailer",
                        "transfer-encoding", "upgrade", "proxy-authenticate",
                        "proxy-authorization"))

_CONNECT_LINE = re.compile(rb"^CONNECT ([^ ]+) HTTP/1\.[01]$")
_ABSOLUTE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([/?][^#]*)?$")

Handoff = Callable[[object, asyncio.StreamWriter], Awaitable[None]]


class Prefixed:
    """A StreamReader whose first read returns bytes already read (for mitmproxy's handler,
    which only calls read())."""

    def __init__(self, data: bytes, reader: asyncio.StreamReader):
        self._data = data
        self._reader = reader

    async def read(self, n: int = -1) -> bytes:
        if self._data:
            data, self._data = self._data, b""
            return data
        return await self._reader.read(n)

    def __getattr__(self, name):
        return getattr(self._reader, name)


class UpstreamError(Exception):
    pass


class Interceptor:
    def __init__(self, gate: Gate, ca_file: str, upstream_cas: str, handoff: Handoff):
        self.gate = gate
        self.handoff = handoff
        self.ca_file = ca_file
        self.ca_key, self.ca_cert = load_ca(ca_file)
        self.ca_pem = pem(self.ca_cert)
        self.work_dir = os.path.dirname(ca_file)
        self.contexts: Dict[str, ssl.SSLContext] = {}
        self.upstream = ssl.create_default_context(cafile=upstream_cas)
        self.upstream.set_alpn_protocols(["http/1.1"])

    async def serve(self, host: str, port: int):
        return await asyncio.start_server(self._accept, host, port, limit=MAX_HEAD, backlog=256,
                                          start_serving=False)

    # ---- the front ---------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = b""
            while b"\r\n" not in data and len(data) <= MAX_HEAD:
                chunk = await asyncio.wait_for(reader.read(READ), HEAD_TIMEOUT)
                if not chunk:
                    break
                data += chunk
            target = self._intercepted_connect(data)
            if target is None:
                if not data:
                    writer.close()
                    return
                await self.handoff(Prefixed(data, reader), writer)
                return
            await self._tunnel(reader, writer, data, *target)
        except (OSError, asyncio.TimeoutError, ssl.SSLError, h11.ProtocolError,
                UnicodeError, ValueError):
            writer.close()
        except Exception as error:  # anything unexpected closes the connection (fail closed)
            say(f"bundle: interceptor: closed a connection on an unexpected error: "
                f"{type(error).__name__}")
            writer.close()

    def _intercepted_connect(self, data: bytes) -> Optional[Tuple[str, int]]:
        """(host, port) when the connection opens with a CONNECT to an intercepted host."""
        m = _CONNECT_LINE.match(data.split(b"\r\n", 1)[0])
        if not m:
            return None
        try:
            host, port = parse_authority(m.group(1).decode("ascii"))
        except (ValueError, UnicodeError):
            return None
        host = host.lower().rstrip(".")
        if port is None or not self.gate.intercepts(host):
            return None
        return host, port

    async def _tunnel(self, reader, writer, data: bytes, host: str, port: int) -> None:
        while b"\r\n\r\n" not in data:
            if len(data) > MAX_HEAD:
                return self._close_with(writer, 431, "the CONNECT request's head is too large")
            chunk = await asyncio.wait_for(reader.read(READ), HEAD_TIMEOUT)
            if not chunk:
                writer.close()
                return
            data += chunk
        end = data.index(b"\r\n\r\n") + 4
        head, early = data[:end], data[end:]
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        parser.receive_data(head)
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError:
            return self._close_with(writer, 400, "the CONNECT request is malformed")
        if not isinstance(event, h11.Request) or event.method != b"CONNECT":
            return self._close_with(writer, 400, "the CONNECT request is malformed")
        gate = self.gate
        ask = Ask("CONNECT", client_text(writer.get_extra_info("peername")))
        why, addresses = await gate.decide(ask, host, port, connect=True)
        if why is not None:
            refused = gate.refuse(ask, host, port, why[0], why[1],
                                  status=502 if why[0] == "unresolvable" else 403)
            writer.write(_plain_response(refused.status, refused.phrase, refused.headers,
                                         refused.body))
            await writer.drain()
            writer.close()
            return
        gate.record(ask, "allow", host, port, *gate.allowed_by(ask, "intercept"))
        if early or getattr(reader, "_buffer", None):
            # TLS bytes sent before the tunnel was granted (read with the head, or since):
            # not supported (clients wait for the 200); the handshake would never see them.
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        try:
            await writer.start_tls(self._context(host), ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as error:
            gate.error(Ask(None, ask.client), host, port, code="client_tls", path=None,
                       detail=f"the agent's TLS client did not accept the bundle's certificate "
                              f"for {host} (it does not trust the bottle's CA, or pins the "
                              f"host's own certificate): {error or 'handshake failed'}")
            writer.close()
            return
        await Session(self, host, port, addresses, reader, writer, ask.client).run()

    @staticmethod
    def _close_with(writer, status: int, message: str) -> None:
        writer.write(_plain_response(status, "Bad Request", {
            "Connection": "close", "Content-Type": "text/plain; charset=utf-8"},
            f"bot-bottle egress: {status}: {message}\n"))
        writer.close()

    def _context(self, host: str) -> ssl.SSLContext:
        """The agent-side TLS context for `host`: a leaf signed by the bottle's CA (cached)."""
        ctx = self.contexts.get(host)
        if ctx is not None:
            return ctx
        cert = leaf_certificate(self.ca_key, self.ca_cert, host, [host])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        # ssl loads a chain only from a file: the leaf (public) goes to a private temporary
        # file, read at once and removed; the key is read from the CA file where it already is.
        fd, path = tempfile.mkstemp(dir=self.work_dir, prefix="leaf-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem(cert) + self.ca_pem)
            ctx.load_cert_chain(path, self.ca_file)
        finally:
            os.unlink(path)
        if len(self.contexts) >= MAX_CACHED_HOSTS:
            self.contexts.pop(next(iter(self.contexts)))
        self.contexts[host] = ctx
        return ctx

    async def open_upstream(self, host: str, port: int, addresses: List[str]):
        """A verified TLS connection to host:port at one of the checked addresses."""
        last: Optional[BaseException] = None
        for address in addresses:
            parsed = parse_address(address)
            if parsed is None or refusal(parsed, self.gate.own) is not None:
                continue  # checked when resolved; never a local or own address, whatever happens
            try:
                return await asyncio.wait_for(asyncio.open_connection(
                    address, port, ssl=self.upstream, server_hostname=host,
                    ssl_handshake_timeout=HANDSHAKE_TIMEOUT, limit=READ), CONNECT_TIMEOUT)
            except ssl.SSLCertVerificationError as error:
                raise UpstreamError(f"{UPSTREAM_TLS_PREFIX}{host}:{port} failed: Certificate "
                                    f"verify failed: {error.verify_message}")
            except ssl.SSLError as error:
                raise UpstreamError(f"{UPSTREAM_TLS_PREFIX}{host}:{port} failed: "
                                    f"{error.reason or error}")
            except (OSError, asyncio.TimeoutError) as error:
                last = error
        raise UpstreamError(f"server connection to {host}:{port} failed: "
                            f"{last or 'no address to connect to'}")


class Upstream:
    __slots__ = ("reader", "writer", "msgs", "idle")

    def __init__(self, reader, writer, before_read):
        self.reader = reader
        self.writer = writer
        self.msgs = http1.Reader(reader, MAX_HEAD, READ, before_read, HEAD_TIMEOUT)
        # No exchange is under way and the last response ended where its framing said.
        self.idle = True

    def usable(self) -> bool:
        return (self.idle and not self.msgs.at_eof and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class Closed(Exception):
    """The exchange cannot go on: the agent's connection is closed."""


class Session:
    """One intercepted tunnel: the agent's requests, one after the other."""

    def __init__(self, icp: Interceptor, host: str, port: int, addresses: List[str],
                 reader, writer, client: Optional[str]):
        self.icp = icp
        self.gate = icp.gate
        self.host = host
        self.port = port
        self.addresses = addresses
        self.reader = reader
        self.writer = writer
        self.client = client
        # The host's policy check is the same for every request (whether it is an address).
        self.host_is_address = parse_address(host) is not None
        self.msgs = http1.Reader(reader, MAX_HEAD, READ, self._drain, HEAD_TIMEOUT)
        self.up: Optional[Upstream] = None
        # Whether the current request has had its final response's head (or an answer).
        self.answered = False
        # Bytes for the agent, written at once when the session next waits for the agent (one
        # TLS record for a response's head and body, not one per part), or CORK_SECONDS after
        # it began waiting for more of the upstream's response.
        self.out: List[bytes] = []
        self.out_size = 0
        self.cork: Optional[asyncio.TimerHandle] = None
        self.later = asyncio.get_running_loop().call_soon

    # ---- I/O ---------------------------------------------------------------------------------
    async def _before_upstream_read(self) -> None:
        if self.out and self.cork is None:
            # The rest of a response is usually right behind its head: wait a moment for it
            # rather than send the head alone.
            self.cork = asyncio.get_running_loop().call_later(CORK_SECONDS, self._flush)
        if self.writer.transport.get_write_buffer_size():
            await self.writer.drain()  # the agent reads slower than upstream sends

    def _send(self, data: bytes) -> None:
        self.out.append(data)
        self.out_size += len(data)
        if self.out_size >= READ:
            self._flush()

    def _flush(self) -> None:
        if self.cork is not None:
            self.cork.cancel()
            self.cork = None
        if self.out:
            self.writer.write(b"".join(self.out))
            self.out.clear()
            self.out_size = 0

    async def _drain(self) -> None:
        self._flush()
        await self.writer.drain()

    def _close_upstream(self) -> None:
        if self.up is not None:
            self.up.close()
            self.up = None

    # ---- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                self.answered = False
                request = await self.msgs.request()
                if request is None:
                    break  # the agent closed between requests
                if not await self._exchange(request):
                    break
                if request.close or not self.msgs.body_done:
                    break
        except http1.ProtocolError as error:
            if not self.answered:
                self._answer_error(400, f"the request is malformed: {error}")
        except (Closed, OSError, ssl.SSLError, asyncio.TimeoutError, ParseFailed):
            pass
        except Exception as error:  # fail closed
            say(f"bundle: interceptor: closed a tunnel to {self.host}:{self.port} on an "
                f"unexpected error: {type(error).__name__}")
        finally:
            self._close_upstream()
            try:
                await asyncio.wait_for(self._drain(), 5)
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                pass
            self.writer.close()

    def _answer_error(self, status: int, message: str) -> None:
        # The message may name what the upstream sent: an upstream that reflects a value into
        # it must not hand it to the agent.
        if self.answered:
            return
        headers, body = error_page(status, self.gate.secrets.scrub(message))
        data = body.encode()
        self._send(http1.response_head(
            status, b"Bad Gateway" if status == 502 else b"Bad Request",
            _encode_headers(list(headers.items()) + [("Content-Length", str(len(data)))])) + data)
        self.answered = True

    async def _refuse(self, refused: Refusal) -> bool:
        """Send a refusal; whether the connection goes on."""
        data = refused.body.encode()
        headers = list(refused.headers.items()) + [("Content-Length", str(len(data)))]
        # The rest of the request, as far as it is already here (no body: its end is).
        self.msgs.buffered_body()
        pending = not self.msgs.body_done
        if pending:
            headers = [(k, v) for k, v in headers if k != "Connection"] + [("Connection", "close")]
        self._send(http1.response_head(refused.status, refused.phrase.encode(),
                                       _encode_headers(headers)) + data)
        self.answered = True
        if pending:
            # The body was not read: drop what follows for a while, then close.
            await self._drain()
            await self._linger()
            return False
        return not any(k.lower() == "connection" and v.strip().lower() == "close"
                       for k, v in headers)

    async def _linger(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        dropped = 0
        while dropped < MAX_INSPECTED_BODY:
            left = deadline - loop.time()
            if left <= 0:
                return
            try:
                chunk = await asyncio.wait_for(self.reader.read(READ), left)
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                return
            if not chunk:
                return
            dropped += len(chunk)

    async def _exchange(self, request: http1.Head) -> bool:
        """One request and its response; whether the connection goes on."""
        gate, host, port = self.gate, self.host, self.port
        method = request.method.decode("ascii")
        target = request.target.decode("ascii")
        headers = _decode_headers(request.headers)
        ask = Ask(method, self.client)
        authority = ""
        if target.startswith("/") or (target == "*" and method == "OPTIONS"):
            path = target
        else:
            m = _ABSOLUTE.match(target)
            if method == "CONNECT" or (m and m.group(1).lower() != "https"):
                return await self._refuse(gate.refuse(
                    ask, host, port, "protocol", "the tunnel is intercepted: it must carry "
                    "TLS, and the requests inside it go to its host", path=target))
            if not m:
                return await self._refuse(gate.refuse(
                    ask, host, port, "host_mismatch", f"the request target {target[:100]!r} "
                    "is neither a path nor an https:// URL", path=target))
            authority, path = m.group(2), m.group(3) or "/"
            if path.startswith("?"):
                path = "/" + path
        if request.framing == "invalid":
            # One framing only (http1 says which is wrong): an upstream that goes by another
            # reading would take the rest of the body as a second request no check saw.
            return await self._refuse(gate.refuse(
                ask, host, port, "protocol", f"{request.problem}: its framing is ambiguous",
                status=400, path=path))
        hosts = [v for k, v in headers if k.lower() == "host"]
        problem = authority_problem(hosts, authority, host, port)
        if problem:
            return await self._refuse(gate.refuse(ask, host, port, "host_mismatch", problem,
                                                  path=path))
        code = gate.policy.check(host, port, True, self.host_is_address)
        if code is not None:  # a live denial since the tunnel opened
            return await self._refuse(gate.refuse(ask, host, port, code, "", path=path))
        checked = gate.check_head(ask, host, port, True, path, headers)
        if isinstance(checked, Refusal):
            return await self._refuse(checked)
        out = checked.headers
        if any(k.lower() == "expect" and v.strip().lower() == "100-continue" for k, v in out):
            # Answered here, as mitmproxy did: the checks above have passed.
            out = [(k, v) for k, v in out if k.lower() != "expect"]
            if request.version == b"1.1":  # never a 1xx to an HTTP/1.0 client (RFC 9110 15.2)
                self._send(b"HTTP/1.1 100 Continue\r\n\r\n")
        websocket = any(k.lower() == "upgrade" and v.strip().lower() == "websocket"
                        for k, v in out)
        if websocket:
            # No extension (permessage-deflate): every message is read as it is.
            out = [(k, v) for k, v in out if k.lower() != "sec-websocket-extensions"]
        body: Optional[bytearray] = None
        if checked.read_body:
            body = bytearray()
            while True:
                piece = await self.msgs.body()
                if piece is None:
                    break
                body += piece
                if len(body) > MAX_INSPECTED_BODY:
                    return await self._refuse(gate.refuse(
                        ask, host, port, "body_too_large",
                        f"the bundle reads a body to {host} for the values of injected "
                        f"secrets, up to {MAX_INSPECTED_BODY >> 20} MiB", status=413,
                        path=path))
            refused = gate.check_body(ask, host, port, bytes(body), checked.others)
            if refused is not None:
                return await self._refuse(refused)
        reason, extra = "intercept", {}
        if checked.swapped:
            reason, extra = "injected", {"secret": ",".join(checked.swapped)}
        recorded = []

        def record() -> None:
            # Written once the request is on its way: the upstream works on it meanwhile.
            if not recorded:
                recorded.append(True)
                gate.record(ask, "allow", host, port, reason, extra, path=ask.meta.get("path"))

        try:
            await self._forward(request, checked.target, out, body, record)
        except UpstreamError as error:
            record()
            gate.error(ask, host, port, str(error), path=ask.meta.get("path"))
            self._close_upstream()
            self._answer_error(502, str(error))
            return False
        return await self._respond(ask, request, websocket)

    async def _forward(self, request: http1.Head, target: str, headers: Headers,
                       body: Optional[bytearray], record: Callable[[], None]) -> None:
        if self.up is not None and not self.up.usable():
            self._close_upstream()
        if self.up is None:
            self.up = Upstream(*await self.icp.open_upstream(self.host, self.port,
                                                             self.addresses),
                               self._before_upstream_read)
        up = self.up
        up.idle = False
        chunked = request.framing == "chunked"
        try:
            # Names and values as parsed, or swapped-in values (no line break or NUL, checked
            # when they were loaded); Host, framing and connection headers the bundle's own.
            head = http1.request_head(request.method,
                                      target.encode("utf-8", "surrogateescape"),
                                      _encode_headers(self._upstream_headers(headers, request)))
            if body is not None:
                data = bytes(body)
                up.writer.write(head + (http1.chunk(data) + http1.LAST_CHUNK if chunked
                                        else data))
                record()
                await up.writer.drain()
                return
            up.writer.write(head)
            record()
            while True:
                piece = await self.msgs.body()
                if piece is None:
                    if chunked:
                        up.writer.write(http1.LAST_CHUNK)
                    await up.writer.drain()
                    return
                up.writer.write(http1.chunk(piece) if chunked else piece)
                await up.writer.drain()
        except (OSError, ssl.SSLError) as error:
            raise UpstreamError(f"server connection to {self.host}:{self.port} failed: "
                                f"{error}")

    def _upstream_headers(self, headers: Headers, request: http1.Head) -> Headers:
        """What goes upstream: the tunnel's host as Host (the checks let only it, or none,
        through), no hop-by-hop header (nor any the agent's Connection names), and exactly the
        framing the bundle writes the body with. A WebSocket upgrade keeps its two headers."""
        websocket = any(k.lower() == "upgrade" and v.strip().lower() == "websocket"
                        for k, v in headers)
        out = [(k, v) for k, v in _end_to_end(headers)
               if _plain_name(k) not in ("host", "content-length", "transfer-encoding")]
        authority = self.host if self.port == 443 else f"{self.host}:{self.port}"
        if ":" in self.host:
            authority = f"[{self.host}]" + ("" if self.port == 443 else f":{self.port}")
        framing: Headers = []
        if request.framing == "chunked":
            framing = [("Transfer-Encoding", "chunked")]
        elif request.length or any(_plain_name(k) == "content-length" for k, _ in headers):
            framing = [("Content-Length", str(request.length))]
        upgrade = [("Connection", "Upgrade"), ("Upgrade", "websocket")] if websocket else []
        return [("Host", authority)] + out + framing + upgrade

    async def _respond(self, ask: Ask, request: http1.Head, websocket: bool) -> bool:
        gate, host, port, secrets = self.gate, self.host, self.port, self.gate.secrets
        up = self.up
        method = request.method
        try:
            while True:
                response = await up.msgs.response(method)
                if response.status >= 200:
                    break
                headers = _decode_headers(response.headers)
                if secrets.loaded:
                    headers, names = gate.redact_headers(headers)
                    if names:
                        self.later(gate.redacted, ask, host, port, names, "headers")
                if response.status == 101:
                    if not websocket or any(k.lower() == "sec-websocket-extensions"
                                            for k, _ in headers):
                        raise Closed()  # not a plain WebSocket: nothing to read it with
                    self._send(http1.response_head(101, _phrase(101), _encode_headers(
                        _end_to_end(headers) + [("Connection", "Upgrade"),
                                                ("Upgrade", "websocket")])))
                    self.answered = True
                    await self._drain()
                    await WebSocketRelay(self, ask).run()
                    return False
                if request.version == b"1.1":  # never a 1xx to an HTTP/1.0 client
                    self._send(http1.response_head(response.status, _phrase(response.status),
                                                   _encode_headers(_end_to_end(headers))))
        except (http1.ProtocolError, OSError, ssl.SSLError) as error:
            message = f"server connection to {host}:{port} failed: {error}"
            gate.error(ask, host, port, message, path=ask.meta.get("path"))
            self._close_upstream()
            self._answer_error(502, message)
            return False
        # The standard phrase, never the upstream's (it could carry a value, and is not redacted).
        status, phrase = response.status, _phrase(response.status)
        headers = _end_to_end(_decode_headers(response.headers))
        # The body's exact length when it goes out as it came (else framed by the bundle).
        length: Optional[int] = response.length if response.framing == "length" else None
        no_body = method == b"HEAD" or status in (204, 304)
        redactor = None
        buffered = False
        if secrets.loaded:
            headers, names = gate.redact_headers(headers)
            if names:
                # Recorded once the response is on its way (the next turn of the loop).
                self.later(gate.redacted, ask, host, port, names, "headers")
            # Every Content-Encoding header, as one list: several (or a stack) are refused.
            encoding = ",".join(v for k, v in headers if k.lower() == "content-encoding")
            encoding = encoding.strip().lower() or "identity"
            if not no_body:
                if encoding in ("", "identity") and (response.framing != "length"
                                                     or response.length > SMALL_BODY):
                    # Redacted as it streams; the length may change (framed again below).
                    length = None
                    redactor = secrets.stream_redactor(
                        lambda names: self.later(gate.redacted, ask, host, port, names, "body"))
                else:
                    # Compressed (decoded, redacted, encoded again), or a small body of a
                    # known length (redacted at once, sent with its new length).
                    buffered = True
        if buffered:
            data = bytearray()
            while True:
                piece = await self._upstream_body()
                if piece is None:
                    break
                data += piece
                if len(data) > MAX_INSPECTED_BODY:
                    message = (f"the response body of {host}:{port} is over the "
                               f"body_size_limit ({MAX_INSPECTED_BODY >> 20} MiB)")
                    gate.error(ask, host, port, message, path=ask.meta.get("path"))
                    self._close_upstream()
                    self._answer_error(502, message)
                    return False
            redacted = _redact_encoded(secrets, bytes(data), encoding)
            if redacted is None:
                message = (f"the response of {host}:{port} is encoded as {encoding!r}, which the "
                           "bundle cannot decode to check for secrets' values (it asks for "
                           "identity; gzip and deflate are read)")
                gate.error(ask, host, port, message, path=ask.meta.get("path"))
                self._close_upstream()
                self._answer_error(502, message)
                return False
            body, names = redacted
            if names:
                self.later(gate.redacted, ask, host, port, names, "body")
            headers, framing, goes_on = self._framing(headers, request, no_body, len(body))
            self._send(http1.response_head(status, phrase, _encode_headers(headers)) + body)
            self.answered = True
        else:
            # As parsed from upstream, with placeholders for values: not checked again.
            headers, framing, goes_on = self._framing(headers, request, no_body, length)
            self._send(http1.response_head(status, phrase, _encode_headers(headers)))
            self.answered = True
            chunked = framing == "chunked"
            while True:
                piece = await self._upstream_body()
                if piece is None:
                    break
                data = redactor(piece) if redactor is not None else piece
                if data:
                    self._send(http1.chunk(data) if chunked else data)
            if redactor is not None:
                data = redactor(b"")
                if data:
                    self._send(http1.chunk(data) if chunked else data)
            if chunked:
                self._send(http1.LAST_CHUNK)
        # The upstream connection is kept only when its response ended where it said, and not
        # after a body on a method whose servers may not read one: the rest of it would be
        # taken as the next request (one no check saw, finished by the next checked one).
        if (response.close or response.framing == "close" or up.msgs.buf
                or (request.framing != "length" or request.length) and method not in BODY_METHODS):
            self._close_upstream()
        else:
            up.idle = True
        return goes_on

    @staticmethod
    def _framing(headers: Headers, request: http1.Head, no_body: bool, length: Optional[int]):
        """The response's headers for the agent with the bundle's own framing and Connection
        headers, how its body goes ("length", "chunked", "close" or "none"), and whether the
        agent's connection goes on after it. `length`: the body's exact length, when known."""
        if no_body:
            # A HEAD's or a 304's Content-Length is about another response: kept.
            out, framing = headers, "none"
        else:
            out = [(k, v) for k, v in headers
                   if _plain_name(k) not in ("content-length", "transfer-encoding")]
            if length is not None:
                framing = "length"
                out.append(("Content-Length", str(length)))
            elif request.version == b"1.1":
                framing = "chunked"
                out.append(("Transfer-Encoding", "chunked"))
            else:  # an HTTP/1.0 agent: the body ends with the connection
                framing = "close"
        closing = framing == "close" or request.close
        if closing:
            out.append(("Connection", "close"))
        return out, framing, not closing

    async def _upstream_body(self) -> Optional[bytes]:
        """The next piece of a response body; a broken upstream ends the agent's connection
        (the response has begun: nothing else can be said)."""
        try:
            return await self.up.msgs.body()
        except (http1.ProtocolError, OSError, ssl.SSLError):
            raise Closed()


class WebSocketRelay:
    """Messages both ways after a 101: the agent's checked for other secrets' values (one
    closes the connection), the server's redacted. Control frames pass (pings checked too)."""

    def __init__(self, session: Session, ask: Ask):
        self.s = session
        self.ask = ask
        # Parsers of each side's frames; each also makes the frames sent to that side.
        self.agent = FrameProtocol(client=False, extensions=[])
        self.server = FrameProtocol(client=True, extensions=[])
        self.closing = False

    async def run(self) -> None:
        s = self.s
        agent_rest, server_rest = bytes(s.msgs.buf), bytes(s.up.msgs.buf)
        s.msgs.buf.clear()
        s.up.msgs.buf.clear()
        tasks = [asyncio.ensure_future(self._pump(True, agent_rest)),
                 asyncio.ensure_future(self._pump(False, server_rest))]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if not self.closing:
                for t in pending:
                    t.cancel()
            else:  # a close was forwarded: give the other side a moment to answer it
                await asyncio.wait(pending, timeout=5)
                for t in pending:
                    t.cancel()
        finally:
            for t in tasks:
                if t.done() and not t.cancelled():
                    t.exception()  # retrieved: errors close the connection, nothing more
            s._close_upstream()

    async def _pump(self, from_agent: bool, rest: bytes) -> None:
        s, gate = self.s, self.s.gate
        reader = s.reader if from_agent else s.up.reader
        parser = self.agent if from_agent else self.server
        sender = self.server if from_agent else self.agent
        writer = s.up.writer if from_agent else s.writer
        others = gate.secrets.for_host(s.host, True)[1] if gate.secrets.loaded else []
        parts: list = []
        size = 0
        data = rest
        while True:
            if data:
                parser.receive_bytes(data)
                for frame in parser.received_frames():
                    if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                        parts.append(frame.payload)
                        size += len(frame.payload)
                        if size > MAX_INSPECTED_BODY:
                            return
                        if not frame.message_finished:
                            continue
                        message = "".join(parts) if frame.opcode is Opcode.TEXT else b"".join(
                            parts)
                        parts, size = [], 0
                        out = self._checked(from_agent, message, others)
                        if out is None:
                            return
                        writer.write(sender.send_data(out, fin=True))
                    elif frame.opcode is Opcode.CLOSE:
                        code, reason = frame.payload
                        reason = self._checked(from_agent, reason, others)
                        if reason is None:
                            return
                        if code is CloseReason.NO_STATUS_RCVD:
                            code, reason = None, None
                        writer.write(sender.close(code, reason or None))
                        self.closing = True
                        return
                    elif frame.opcode in (Opcode.PING, Opcode.PONG):
                        payload = self._checked(from_agent, bytes(frame.payload), others)
                        if payload is None:
                            return
                        if from_agent is False and len(payload) > 125:
                            payload = b""
                        writer.write(sender.ping(payload) if frame.opcode is Opcode.PING
                                     else sender.pong(payload))
                await writer.drain()
            data = await reader.read(READ)
            if not data:
                return

    def _checked(self, from_agent: bool, message, others):
        """What to forward of a message (None: the connection is closed)."""
        s, gate = self.s, self.s.gate
        if not gate.secrets.loaded:
            return message
        text = isinstance(message, str)
        data = message.encode("utf-8") if text else message
        if from_agent:
            leaked = gate.secrets.carried(data, others)
            if leaked is not None:
                gate.record(self.ask, "deny", s.host, s.port, "secret_exfiltration",
                            path=self.ask.meta.get("path"), secret=leaked,
                            detail=f"a WebSocket message carried the value of {leaked}; the "
                                   "connection was closed")
                return None
            return message
        data, names = gate.secrets.redact(data)
        if names:
            gate.redacted(self.ask, s.host, s.port, names, "websocket")
        return data.decode("utf-8") if text else data


# ---- helpers -------------------------------------------------------------------------------------
def _decode_headers(headers: http1.RawHeaders) -> Headers:
    """Parsed headers (names as they were sent) as text."""
    return [(k.decode("ascii"), v.decode("utf-8", "surrogateescape")) for k, v in headers]


def _encode_headers(headers: Headers):
    return [(k.encode("ascii"), v.encode("utf-8", "surrogateescape")) for k, v in headers]


def _plain_name(name: str) -> str:
    """A header name as a server that folds `_` into `-` may read it."""
    name = name.lower()
    return name.replace("_", "-") if "_" in name else name


def _end_to_end(headers: Headers) -> Headers:
    """Without the hop-by-hop headers (RFC 9110 7.6.1) and any header Connection names: they
    are about one connection, and the bundle writes its own."""
    names = [_plain_name(k) for k, _ in headers]
    if "connection" not in names:
        return [kv for kv, n in zip(headers, names) if n not in HOP_BY_HOP]
    named = {_plain_name(t.strip()) for (_, v), n in zip(headers, names) if n == "connection"
             for t in v.split(",")}
    return [kv for kv, n in zip(headers, names) if n not in HOP_BY_HOP and n not in named]


def _phrase(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _plain_response(status: int, phrase: str, headers: Dict[str, str], body: str) -> bytes:
    data = body.encode()
    lines = [f"HTTP/1.1 {status} {phrase}"] + [f"{k}: {v}" for k, v in headers.items()] + [
        f"Content-Length: {len(data)}", "", ""]
    return "\r\n".join(lines).encode() + data


def _decoded(data: bytes, encoding: str) -> Optional[bytes]:
    """A gzip or deflate body decoded whole, to at most MAX_INSPECTED_BODY bytes (a bomb is
    refused, not inflated); None when it is anything else, truncated, or followed by more."""
    if encoding in ("gzip", "x-gzip"):
        modes = [31]
    elif encoding == "deflate":
        modes = [15, -15]  # zlib-wrapped, as RFC 9110 says, or raw as some servers send
    else:
        return None
    for wbits in modes:
        d = zlib.decompressobj(wbits)
        try:
            plain = d.decompress(data, MAX_INSPECTED_BODY + 1)
        except zlib.error:
            continue
        if len(plain) > MAX_INSPECTED_BODY or not d.eof or d.unused_data or d.unconsumed_tail:
            return None
        return plain
    return None


def _redact_encoded(secrets, data: bytes, encoding: str):
    """A compressed body decoded, redacted and encoded again; None when the bundle cannot
    decode it (the caller refuses it: an undecoded body could carry a value)."""
    if encoding in ("", "identity"):
        return secrets.redact(data)
    plain = _decoded(data, encoding)
    if plain is None:
        return None
    redacted, names = secrets.redact(plain)
    if not names:
        return data, names
    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(redacted), names
    return zlib.compress(redacted), names
