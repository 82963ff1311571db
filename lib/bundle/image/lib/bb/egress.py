"""The egress proxy's mitmproxy (Debian bookworm 8.1.1) addon: plain-http proxying and the
CONNECT tunnels the bundle does not intercept. The decisions are bb.gate's, shared with
bot-bottle's TLS interceptor (bb.intercept), which serves every connection that opens with a
CONNECT to an intercepted host and hands all others, unread bytes included, to mitmproxy.

Every request here is decided in this order:
1. plain-http requests must be http:// (no other scheme is proxied);
2. IP literals: never to the bundle itself or a local address, and only when listed;
3. names: on the allowlist (manifest + live approvals, minus live denials), on an allowed port
   (443 for CONNECT and 80 for http unless the entry names a port); with `on_block = "ask"` an
   unlisted host is held until `bot-bottle approve|deny` answers or the hold times out;
4. the name's addresses: resolved here, and refused when any is local or the bundle's own; the
   loop's getaddrinfo is wrapped, so mitmproxy's own lookup cannot hand back such an address.

A CONNECT tunnel here is relayed byte for byte (nothing inside is parsed). A CONNECT to a host
the bundle intercepts (SPEC §12) can only reach this addon when it is not the first request on
its proxy connection: it is refused (the agent opens a new connection, as clients do for a
tunnel). Plain-http requests get the interceptor's checks of a request (`egress.rules`, a
secret's value refused; never an injection: that would send the value in clear), and their
responses are redacted.

Every decision is one audit record and one line on stdout. A refusal is a 403 whose status line,
header and body name the host and the reason.
"""
import json
from http import HTTPStatus
from typing import Dict

from mitmproxy import http
from mitmproxy.proxy import layers

from .addresses import Address, parse_address, refusal
from .gate import (MAX_INSPECTED_BODY, Ask, Checked, Gate, Refusal, Refused, authority_problem,
                   client_text)
from .patches import error_code


class Egress:
    def __init__(self, gate: Gate):
        self.gate = gate
        self.secrets = gate.secrets
        # The clients with an allowed tunnel: relayed as raw TCP.
        self.tunnels: Dict[str, tuple] = {}

    # ---- lifecycle -----------------------------------------------------------------------
    def running(self) -> None:
        self.gate.install_resolver()

    @staticmethod
    def _ask(flow: http.HTTPFlow) -> Ask:
        ask = flow.metadata.get("bb_ask")
        if ask is None:
            ask = Ask(flow.request.method, client_text(flow.client_conn.peername))
            flow.metadata["bb_ask"] = ask
        return ask

    def _send(self, flow: http.HTTPFlow, refused: Refusal) -> None:
        flow.response = http.Response.make(refused.status, refused.body, refused.headers)
        flow.response.reason = refused.phrase
        flow.metadata["bb_refused"] = refused.code

    def _refuse(self, flow: http.HTTPFlow, host: str, port: int, code: str, detail: str = "",
                status: int = 403, **extra) -> None:
        ask = self._ask(flow)
        path = None if ask.method == "CONNECT" else ask.meta.get("path", flow.request.path)
        self._send(flow, self.gate.refuse(ask, host, port, code, detail, status, path=path,
                                          **extra))

    # ---- mitmproxy hooks -----------------------------------------------------------------------
    async def http_connect(self, flow: http.HTTPFlow) -> None:
        host, port = _ascii_host(flow.request.host), flow.request.port
        ask = self._ask(flow)
        if host is None:
            return self._refuse(flow, flow.request.host[:100], port, "not_allowed",
                                "the name is not a valid host name")
        why, _ = await self.gate.decide(ask, host, port, connect=True)
        if why is not None:
            return self._refuse(flow, host, port, why[0], why[1],
                                status=502 if why[0] == "unresolvable" else 403)
        if self.gate.intercepts(host):
            return self._refuse(flow, host, port, "protocol",
                                f"{host} is intercepted: its CONNECT must be the first request "
                                "on a new proxy connection")
        self.tunnels[flow.client_conn.id] = (host, port)
        self.gate.record(ask, "allow", host, port, *self.gate.allowed_by(ask, "tunnel"))

    def next_layer(self, nextlayer) -> None:
        # Runs after mitmproxy's own NextLayer: an allowed tunnel is relayed as raw TCP whatever
        # it carries, decided on the CONNECT target only (never on the SNI inside).
        context = nextlayer.context
        if context.client.id in self.tunnels and context.server.address:
            if not isinstance(nextlayer.layer, layers.TCPLayer):
                nextlayer.layer = layers.TCPLayer(context, ignore=True)

    def server_connect(self, data) -> None:
        # Names go through the checked resolver; IP literals skip it, so they are checked here.
        host = data.server.address[0] if data.server.address else ""
        address = parse_address(host)
        if address is not None:
            why = refusal(address, self.gate.own)
            if why is not None:
                data.server.error = f"refused by bot-bottle: {why[1]}"

    def client_disconnected(self, client) -> None:
        self.tunnels.pop(client.id, None)

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        ask = self._ask(flow)
        host, port = _ascii_host(request.host), request.port
        if host is None:
            return self._refuse(flow, request.host[:100], port, "not_allowed",
                                "the name is not a valid host name")
        if flow.client_conn.id in self.tunnels:  # never: tunnels here are raw TCP
            return self._refuse(flow, host, port, "protocol", "a request inside a tunnel")
        if request.scheme != "http":
            return self._refuse(flow, host, port, "protocol", f"scheme {request.scheme}")
        # The target decides where it goes; a Host header naming another host would reach
        # another virtual host there (a CDN's other tenants).
        problem = authority_problem(request.headers.get_all("host"), "", host, port, 80)
        if problem:
            return self._refuse(flow, host, port, "host_mismatch", problem)
        why, _ = await self.gate.decide(ask, host, port, connect=False)
        if why is not None:
            return self._refuse(flow, host, port, why[0], why[1],
                                status=502 if why[0] == "unresolvable" else 403)
        checked = self.gate.check_head(ask, host, port, False, request.path,
                                       list(request.headers.items(True)))
        if isinstance(checked, Refusal):
            return self._send(flow, checked)
        assert isinstance(checked, Checked)
        if self.secrets.expected:
            # Uncompressed responses can be redacted as they stream (plain http: nothing is
            # swapped in, so that is the only header that changes).
            request.headers["accept-encoding"] = "identity"
        if not checked.read_body:
            request.stream = True
        else:
            flow.metadata["bb_others"] = checked.others
        flow.metadata["bb_allow"] = (host, port, *self.gate.allowed_by(ask, "http"))

    def request(self, flow: http.HTTPFlow) -> None:
        allow = flow.metadata.pop("bb_allow", None)
        if allow is None or flow.response is not None:
            return
        host, port, reason, extra = allow
        ask = self._ask(flow)
        others = flow.metadata.pop("bb_others", None)
        if others:
            refused = self.gate.check_body(ask, host, port, flow.request.raw_content or b"",
                                           others)
            if refused is not None:
                return self._send(flow, refused)
        self.gate.record(ask, "allow", host, port, reason, extra, path=ask.meta.get("path"))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or "bb_refused" in flow.metadata:
            return  # a refusal of ours
        ask = flow.metadata.get("bb_ask")
        if ask is None or "path" not in ask.meta:
            return
        if not self.secrets.loaded:
            response.stream = True
            return
        # The standard reason phrase, never the server's: it could carry a value.
        try:
            response.reason = HTTPStatus(response.status_code).phrase
        except ValueError:
            response.reason = ""
        headers, names = self.gate.redact_headers(list(response.headers.items(True)))
        if names:
            response.headers = http.Headers([(k.encode("utf-8", "surrogateescape"),
                                              v.encode("utf-8", "surrogateescape"))
                                             for k, v in headers])
            self._redacted(flow, names, "headers")
        no_body = flow.request.method == "HEAD" or response.status_code in (204, 304) or \
            100 <= response.status_code < 200
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if no_body:
            return
        if encoding in ("", "identity") and flow.request.http_version == "HTTP/1.1":
            # Redacted as it streams; the length may change, so the body goes chunked.
            response.headers.pop("content-length", None)
            response.headers["transfer-encoding"] = "chunked"
            response.stream = self.secrets.stream_redactor(
                lambda names: self._redacted(flow, names, "body"))
        # Otherwise the body is buffered (up to the body size limit) and redacted in `response`.

    def response(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        ask = flow.metadata.get("bb_ask")
        if response is None or response.stream or ask is None or "path" not in ask.meta or \
                "bb_refused" in flow.metadata:
            return
        if not self.secrets.loaded:
            return
        try:
            body = response.content or b""
        except ValueError:  # an encoding mitmproxy cannot decode: redact the raw bytes
            body = response.raw_content or b""
            redacted_body, names = self.secrets.redact(body)
            if names:
                response.raw_content = redacted_body
                self._redacted(flow, names, "body")
            return
        redacted_body, names = self.secrets.redact(body)
        if names:
            response.content = redacted_body
            self._redacted(flow, names, "body")

    def _redacted(self, flow: http.HTTPFlow, names, where: str) -> None:
        host, port = self._flow_target(flow)
        self.gate.redacted(self._ask(flow), host, port, names, where)

    def _flow_target(self, flow: http.HTTPFlow):
        tunnel = self.tunnels.get(flow.client_conn.id)
        if tunnel is not None:
            return tunnel
        return _ascii_host(flow.request.host) or "?", flow.request.port

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.request is None:
            return
        detail = str(flow.error) if flow.error else ""
        host, port = self._flow_target(flow)
        ask = self._ask(flow)
        self.gate.error(ask, host, port, detail, code=error_code(detail),
                        path=None if flow.request.method == "CONNECT" else ask.meta.get(
                            "path", flow.request.path))


def load_reasons(path: str) -> Dict[str, Dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


__all__ = ["Egress", "Refused", "load_reasons", "Address", "MAX_INSPECTED_BODY"]


def _ascii_host(host: str):
    """The host as the checks compare it: lowercase ASCII, no trailing dot. mitmproxy turns an
    IDNA name (xn--...) into Unicode, which would not match the ASCII patterns of
    tls.intercept or egress.rules: it goes back to its ASCII form. None: not a host name."""
    try:
        return host.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
