"""The egress proxy's policy, as a mitmproxy (Debian bookworm 8.1.1) addon.

Every request is decided here, in this order:
1. plain-http requests must be http:// (no other scheme is proxied);
2. IP literals: never to the bundle itself or a local address, and only when listed;
3. names: on the allowlist (manifest + live approvals, minus live denials), on an allowed port
   (443 for CONNECT and 80 for http unless the entry names a port); with `on_block = "ask"` an
   unlisted host is held until `bot-bottle approve|deny` answers or the hold times out;
4. the name's addresses: resolved once, here, and refused when any is local or the bundle's own;
   the connection then goes to exactly those addresses (the loop's getaddrinfo is wrapped, so
   a second lookup cannot hand back something else).

A CONNECT tunnel is relayed byte for byte (nothing inside is parsed), unless the bundle
intercepts its host (SPEC §12: a host of an injected secret or of an `egress.rules` entry, or
every allowed host with `egress.inspect = "all"`): then TLS is terminated with the bottle's own
CA, every request inside is checked again (its Host header must name the tunnel's host, the
allowlist may have changed, `egress.rules` apply before the body leaves), placeholders of the
host's injected secrets are replaced by their values, a request carrying any secret's value to a
host it is not injected for is refused, and every response has the values replaced by their
placeholders. Upstream TLS is verified against the system store plus the bottle's ca_certs, for
the tunnel's host (the agent's SNI is not used). Plain-http requests get the same checks (never
an injection: that would send the value in clear).

Every decision is one audit record and one line on stdout. A refusal is a 403 whose status line,
header and body name the host and the reason.
"""
import asyncio
import ipaddress
import json
import socket
import uuid
from typing import Any, Dict, Optional, Set, Tuple

from mitmproxy import http
from mitmproxy.net.http import url as mitm_url
from mitmproxy.proxy import layers

from .addresses import Address, own_addresses, parse_address, refusal
from .audit import AuditLog, now
from .credentials import Secrets, swap_in_header, swap_in_path
from .patches import error_code
from .policy import Policy, matches_pattern
from .rules import Rules

RELOAD_SECONDS = 0.5
HOLD_POLL_SECONDS = 0.2
# A request body the bundle must look into (for a secret's value) is buffered up to this size.
MAX_INSPECTED_BODY = 64 << 20


class Refused(OSError):
    """A destination the policy refuses, raised from the checked resolver."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Tunnel:
    """An allowed CONNECT: its target, and whether the bundle terminates its TLS."""

    __slots__ = ("host", "port", "intercept")

    def __init__(self, host: str, port: int, intercept: bool):
        self.host = host
        self.port = port
        self.intercept = intercept


class Egress:
    def __init__(self, policy: Policy, log: AuditLog, reasons: Dict[str, Dict[str, str]],
                 secrets: Optional[Secrets] = None):
        self.policy = policy
        self.log = log
        self.reasons = reasons
        self.secrets = secrets or Secrets(policy.settings.get("secrets", []))
        self.rules = Rules(policy.settings.get("rules", []))
        self.own = own_addresses()
        self.tunnels: Dict[str, Tunnel] = {}
        self._resolver_installed = False

    # ---- lifecycle -----------------------------------------------------------------------
    def running(self) -> None:
        self._install_resolver()
        asyncio.get_running_loop().create_task(self._watch_policy())

    async def _watch_policy(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            self._reload_now()

    def _record_changes(self, said: str) -> None:
        """One audit record per approval or revocation the reload took in (plus the reload)."""
        for decision, entry in self.policy.changes:
            host, _, port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
            self.log.write({"source": "control", "decision": decision, "host": host,
                            "port": int(port) if port else None, "reason": "bot-bottle " + (
                                "approve" if decision == "approve" else "deny"),
                            "entry": entry})
            print(f"bundle: {decision} {entry} (live, no restart)", flush=True)
        self.policy.changes = []
        self.log.write({"source": "policy", "decision": "reload", "reason": said})

    def _install_resolver(self) -> None:
        if self._resolver_installed:
            return
        loop = asyncio.get_running_loop()
        original = loop.getaddrinfo
        own = self.own

        async def checked_getaddrinfo(host, port, *args, **kwargs):
            infos = await original(host, port, *args, **kwargs)
            for info in infos:
                address = parse_address(info[4][0])
                why = refusal(address, own) if address is not None else None
                if why is not None:
                    raise Refused(why[0], f"{host} resolves to {why[1]}")
            return infos

        loop.getaddrinfo = checked_getaddrinfo
        self._resolver_installed = True

    # ---- decisions ---------------------------------------------------------------------------
    def intercepts(self, host: str) -> bool:
        """Whether the bundle terminates TLS for a tunnel to `host` (SPEC §12)."""
        tls = self.policy.settings.get("tls", {})
        if tls.get("inspect") == "all":
            return True
        return any(matches_pattern(p, host) for p in tls.get("intercept", []))

    @staticmethod
    def _allowed_by(flow: http.HTTPFlow, how: str) -> Tuple[str, Dict[str, Any]]:
        """The allow record's reason: how it went through, or `approved` after a hold."""
        held = flow.metadata.get("bb_approved")
        return ("approved", {"id": held, "via": how}) if held else (how, {})

    def _record(self, flow: http.HTTPFlow, decision: str, host: str, port: int, reason: str,
                more: Optional[Dict[str, Any]] = None, path: Optional[str] = None,
                **extra: Any) -> None:
        peer = flow.client_conn.peername
        method = flow.request.method
        scrub = self.secrets.scrub
        record = {
            "time": now(), "source": "proxy", "decision": decision, "host": host, "port": port,
            "method": method, "reason": reason, "path": path,
            "client": f"{peer[0]}:{peer[1]}" if peer else None, **(more or {}), **extra,
        }
        self.log.write({k: scrub(v) for k, v in record.items()})
        summary = self.reasons.get(reason, {}).get("summary", reason)
        tail = f" ({summary})" if decision not in ("allow", "redact") else f" ({reason})"
        print(scrub(f"egress {decision} {method} {host}:{port}{tail}"), flush=True)

    def _refuse(self, flow: http.HTTPFlow, host: str, port: int, code: str, detail: str = "",
                status: int = 403, **extra: Any) -> None:
        reason = self.reasons.get(code, {"summary": code, "page": code})
        detail = self.secrets.scrub(detail)
        page = reason["page"].replace("{method}", flow.request.method).replace(
            "{host}", host).replace("{port}", str(port)).replace(
            "{slug}", str(self.policy.settings.get("slug", "<slug>")))
        body = (f"bot-bottle egress: refused {flow.request.method} {host}:{port}: {page}\n"
                + (f"({detail})\n" if detail else "") + f"reason: {code}\n")
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Bot-Bottle-Refusal": f"{code}: {host}:{port}: {reason['summary']}"[:400],
        }
        if flow.request.method == "CONNECT" or flow.metadata.get("bb_close"):
            headers["Connection"] = "close"  # no tunnel (or body) follows: the client need not wait
        flow.response = http.Response.make(status, body, headers)
        flow.metadata["bb_refused"] = code
        # Clients that never show a CONNECT body (curl) still print the status line.
        flow.response.reason = (("Forbidden" if status == 403 else "Refused")
                                + f" by bot-bottle: {reason['summary']}")[:200]
        path = None if flow.request.method == "CONNECT" else flow.metadata.get(
            "bb_path", flow.request.path)
        self._record(flow, "deny", host, port, code, path=path, detail=detail or None,
                     id=flow.metadata.get("bb_hold"), **extra)

    async def _resolves_safely(self, host: str, port: int) -> Optional[Tuple[str, str]]:
        try:
            await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except Refused as refused:
            return (refused.code, refused.detail)
        except OSError as error:
            return ("unresolvable", f"{host} does not resolve: {error}")
        return None

    def _reload_now(self) -> None:
        said = self.policy.reload()
        if said:
            print(f"bundle: {said}", flush=True)
            self._record_changes(said)

    async def _hold(self, flow: http.HTTPFlow, host: str, port: int, connect: bool,
                    literal: bool) -> Optional[str]:
        """ask mode: hold the request until approved (None) or denied / timed out (the detail
        of the not_approved refusal, which is recorded once, with the same id)."""
        ident = uuid.uuid4().hex[:12]
        flow.metadata["bb_hold"] = ident
        self._record(flow, "pending", host, port, "not_allowed", id=ident,
                     timeout_seconds=self.policy.ask_timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.ask_timeout
        while loop.time() < deadline:
            self._reload_now()
            if self.policy.check(host, port, connect, literal) is None:
                flow.metadata["bb_approved"] = ident  # the allow record says so
                return None
            if self.policy.is_denied(host, port, connect, literal):
                return "denied by bot-bottle deny"
            await asyncio.sleep(HOLD_POLL_SECONDS)
        return f"no answer within {self.policy.ask_timeout:g} s"

    async def _decide(self, flow: http.HTTPFlow, host: str, port: int,
                      connect: bool) -> Optional[Tuple[str, str]]:
        """None to let it through; else (reason code, detail)."""
        host = host.lower().rstrip(".")
        address = parse_address(host)
        if address is not None:
            why = refusal(address, self.own)
            if why is not None:
                return why
            if isinstance(address, ipaddress.IPv6Address):
                return ("ip_literal", "IPv6 is off in bottles")
        code = self.policy.check(host, port, connect, address is not None)
        # A name under .invalid (RFC 6761) can never resolve: holding it would only make the
        # asker wait (bot-bottle's own probes use such names).
        if code == "not_allowed" and self.policy.on_block == "ask" and not host.endswith(".invalid"):
            held = await self._hold(flow, host, port, connect, False)
            if held is None:
                code = None
            else:
                return ("not_approved", held)
        if code is not None:
            return (code, "")
        if address is None:
            return await self._resolves_safely(host, port)
        return None

    def _inspect(self, flow: http.HTTPFlow, host: str, port: int, tls: bool) -> bool:
        """The checks of a request the bundle can read (intercepted, or plain http), before its
        body leaves: egress.rules, then injected secrets. False when it was refused."""
        request = flow.request
        flow.metadata["bb_path"] = request.path  # what is recorded: never a swapped-in value
        why = self.rules.check(host, request.method, request.path)
        if why is not None:
            flow.metadata["bb_close"] = True
            self._refuse(flow, host, port, "egress_rule", why)
            return False
        if not self.secrets.expected:
            # Nothing to look for: bodies pass through as they come.
            request.stream = True
            flow.metadata["bb_stream_response"] = True
            return True
        if not self.secrets.ready:
            self._refuse(flow, host, port, "secrets_pending", status=503)
            return False
        here, others = self.secrets.for_host(host, tls)
        head = request.path + "\n" + "\n".join(f"{k}: {v}" for k, v in request.headers.items(True))
        leaked = self.secrets.carried(head.encode("utf-8", "surrogateescape"), others)
        if leaked is not None:
            self._refuse(flow, host, port, "secret_exfiltration",
                         f"the request's URL or headers carry the value of {leaked}, which is "
                         f"injected only for {_hosts_of(self.secrets, leaked)}", secret=leaked)
            return False
        swapped: Set[str] = set()
        if here:
            request.path, names = swap_in_path(request.path, here)
            swapped |= names
            for name in list(request.headers.keys()):
                values = request.headers.get_all(name)
                new = []
                for v in values:
                    v2, names = swap_in_header(name, v, here)
                    swapped |= names
                    new.append(v2)
                if new != values:
                    request.headers.set_all(name, new)
        flow.metadata["bb_swapped"] = sorted(swapped)
        # Uncompressed responses can be redacted as they stream.
        request.headers["accept-encoding"] = "identity"
        if others:
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_INSPECTED_BODY:
                flow.metadata["bb_close"] = True
                self._refuse(flow, host, port, "body_too_large",
                             f"{length} bytes; the bundle reads a body to {host} for the values "
                             f"of injected secrets, up to {MAX_INSPECTED_BODY >> 20} MiB", status=413)
                return False
        else:
            request.stream = True  # every secret may go here: nothing to look for in the body
        return True

    # ---- mitmproxy hooks -----------------------------------------------------------------------
    async def http_connect(self, flow: http.HTTPFlow) -> None:
        host, port = flow.request.host.lower().rstrip("."), flow.request.port
        why = await self._decide(flow, host, port, connect=True)
        if why is not None:
            return self._refuse(flow, host, port, why[0], why[1],
                                status=502 if why[0] == "unresolvable" else 403)
        intercept = self.intercepts(host)
        self.tunnels[flow.client_conn.id] = Tunnel(host, port, intercept)
        self._record(flow, "allow", host, port,
                     *self._allowed_by(flow, "intercept" if intercept else "tunnel"))

    def next_layer(self, nextlayer) -> None:
        # Runs after mitmproxy's own NextLayer: an allowed tunnel the bundle does not intercept
        # is relayed as raw TCP whatever it carries, decided on the CONNECT target only (never on
        # the SNI inside). An intercepted one is left to mitmproxy: TLS, then HTTP (raw TCP is
        # off, so nothing inside is relayed unparsed).
        context = nextlayer.context
        tunnel = self.tunnels.get(context.client.id)
        if tunnel is not None and context.server.address and not tunnel.intercept:
            if not isinstance(nextlayer.layer, layers.TCPLayer):
                nextlayer.layer = layers.TCPLayer(context, ignore=True)

    def server_connect(self, data) -> None:
        # Names go through the checked resolver; IP literals skip it, so they are checked here.
        host = data.server.address[0] if data.server.address else ""
        address = parse_address(host)
        if address is not None:
            why = refusal(address, self.own)
            if why is not None:
                data.server.error = f"refused by bot-bottle: {why[1]}"
                return
        # Inside an intercepted tunnel, upstream TLS names the tunnel's host, whatever SNI the
        # agent sent (a CDN routes by SNI: another name could reach another tenant).
        tunnel = self.tunnels.get(data.client.id)
        if tunnel is not None and tunnel.intercept and data.server.sni is not None:
            data.server.sni = tunnel.host

    def tls_failed_client(self, data) -> None:
        tunnel = self.tunnels.get(data.context.client.id)
        if tunnel is None:
            return
        self.log.write({
            "time": now(), "source": "proxy", "decision": "error", "host": tunnel.host,
            "port": tunnel.port, "method": None, "reason": "client_tls",
            "detail": f"the agent's TLS client did not accept the bundle's certificate for "
                      f"{tunnel.host} (it does not trust the bottle's CA, or pins the host's own "
                      f"certificate): {data.conn.error or 'handshake failed'}",
        })

    def client_disconnected(self, client) -> None:
        self.tunnels.pop(client.id, None)

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        tunnel = self.tunnels.get(flow.client_conn.id)
        request = flow.request
        if tunnel is not None:
            host, port = tunnel.host, tunnel.port
            if request.scheme != "https":
                return self._refuse(flow, host, port, "protocol",
                                    "the tunnel is intercepted: it must carry TLS")
            problem = _authority_problem(request, host, port)
            if problem:
                return self._refuse(flow, host, port, "host_mismatch", problem)
            code = self.policy.check(host, port, True, parse_address(host) is not None)
            if code is not None:  # a live denial since the tunnel opened
                return self._refuse(flow, host, port, code, "")
            if self._inspect(flow, host, port, tls=True):
                reason, extra = "intercept", {}
                if flow.metadata.get("bb_swapped"):
                    reason, extra = "injected", {"secret": ",".join(flow.metadata["bb_swapped"])}
                flow.metadata["bb_allow"] = (host, port, reason, extra)
            return
        host, port = request.host.lower().rstrip("."), request.port
        if request.scheme != "http":
            return self._refuse(flow, host, port, "protocol", f"scheme {request.scheme}")
        why = await self._decide(flow, host, port, connect=False)
        if why is not None:
            return self._refuse(flow, host, port, why[0], why[1],
                                status=502 if why[0] == "unresolvable" else 403)
        if self._inspect(flow, host, port, tls=False):
            flow.metadata["bb_allow"] = (host, port, *self._allowed_by(flow, "http"))

    def request(self, flow: http.HTTPFlow) -> None:
        allow = flow.metadata.pop("bb_allow", None)
        if allow is None or flow.response is not None:
            return
        host, port, reason, extra = allow
        if not flow.request.stream and self.secrets.loaded:
            _, others = self.secrets.for_host(host, flow.request.scheme == "https")
            leaked = self.secrets.carried(flow.request.raw_content or b"", others)
            if leaked is not None:
                return self._refuse(flow, host, port, "secret_exfiltration",
                                    f"the request body carries the value of {leaked}, which is "
                                    f"injected only for {_hosts_of(self.secrets, leaked)}",
                                    secret=leaked)
        self._record(flow, "allow", host, port, reason, extra, path=flow.metadata.get("bb_path"))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or "bb_path" not in flow.metadata or "bb_refused" in flow.metadata:
            return  # a refusal of ours
        if not self.secrets.loaded:
            response.stream = True
            return
        redacted: Set[str] = set()
        for name in list(response.headers.keys()):
            values = response.headers.get_all(name)
            new = []
            for v in values:
                v2, names = self.secrets.redact_text(v)
                redacted |= names
                new.append(v2)
            if new != values:
                response.headers.set_all(name, new)
        if redacted:
            self._redacted(flow, redacted, "headers")
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
        if response is None or response.stream or "bb_path" not in flow.metadata or \
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

    def _redacted(self, flow: http.HTTPFlow, names: Set[str], where: str) -> None:
        key = f"bb_redacted_{where}"
        if flow.metadata.get(key) == sorted(names):
            return
        flow.metadata[key] = sorted(names)
        host, port = self._flow_target(flow)
        self._record(flow, "redact", host, port, "redacted", path=flow.metadata.get("bb_path"),
                     secret=",".join(sorted(names)), where=where)

    def _flow_target(self, flow: http.HTTPFlow) -> Tuple[str, int]:
        tunnel = self.tunnels.get(flow.client_conn.id)
        if tunnel is not None:
            return tunnel.host, tunnel.port
        return flow.request.host.lower().rstrip("."), flow.request.port

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None or not flow.websocket.messages:
            return
        message = flow.websocket.messages[-1]
        # mitmproxy keeps every message of a flow: only the last one is needed here.
        del flow.websocket.messages[:-1]
        if not self.secrets.loaded:
            return
        host, port = self._flow_target(flow)
        if message.from_client:
            _, others = self.secrets.for_host(host, flow.request.scheme == "https")
            leaked = self.secrets.carried(message.content, others)
            if leaked is not None:
                message.drop()
                flow.kill()
                self._record(flow, "deny", host, port, "secret_exfiltration",
                             path=flow.metadata.get("bb_path"), secret=leaked,
                             detail=f"a WebSocket message carried the value of {leaked}; the "
                                    "connection was closed")
            return
        content, names = self.secrets.redact(message.content)
        if names:
            message.content = content
            self._redacted(flow, names, "websocket")

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.request is None:
            return
        detail = str(flow.error) if flow.error else ""
        host, port = self._flow_target(flow)
        self.log.write({k: self.secrets.scrub(v) for k, v in {
            "time": now(), "source": "proxy", "decision": "error", "host": host,
            "port": port, "method": flow.request.method, "reason": error_code(detail),
            "path": None if flow.request.method == "CONNECT" else flow.metadata.get(
                "bb_path", flow.request.path),
            "detail": detail or None,
        }.items()})


def _authority_problem(request: http.Request, host: str, port: int) -> Optional[str]:
    """Why the request names another destination than its tunnel's (Host header or an
    absolute-form target), or None."""
    hosts = request.headers.get_all("host")
    if len(hosts) > 1:
        return "the request has more than one Host header"
    for what, value in (("Host header", hosts[0] if hosts else ""),
                        ("request target", request.authority)):
        if not value:
            continue
        try:
            named, named_port = mitm_url.parse_authority(value, check=True)
        except ValueError:
            return f"the {what} {value[:100]!r} is not a host name"
        if named.lower().rstrip(".") != host or (named_port or 443) != port:
            return (f"the {what} names {value[:100]!r}, but the tunnel goes to {host}:{port}; "
                    "a request inside a tunnel goes to the tunnel's host only")
    return None


def _hosts_of(secrets: Secrets, name: str) -> str:
    for s in secrets.loaded:
        if s.name == name:
            return ", ".join(_pattern_text(p) for p in s.inject) or "no host"
    return "no host"


def _pattern_text(p: Dict[str, Any]) -> str:
    kind = p.get("kind")
    if kind == "suffix":
        return "*." + p.get("suffix", "")
    return p.get("host") or p.get("address") or "?"


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit()


def load_reasons(path: str) -> Dict[str, Dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


__all__ = ["Egress", "Refused", "Tunnel", "load_reasons", "Address"]
