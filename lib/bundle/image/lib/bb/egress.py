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
CONNECT tunnels are relayed byte for byte (nothing inside is parsed); every decision is one
audit record and one line on stdout. A refusal is a 403 whose status line, header and body name
the host and the reason.
"""
import asyncio
import ipaddress
import json
import socket
import uuid
from typing import Any, Dict, Optional, Tuple

from mitmproxy import http
from mitmproxy.proxy import layers

from .addresses import Address, own_addresses, parse_address, refusal
from .audit import AuditLog, now
from .policy import Policy

RELOAD_SECONDS = 0.5
HOLD_POLL_SECONDS = 0.2


class Refused(OSError):
    """A destination the policy refuses, raised from the checked resolver."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Egress:
    def __init__(self, policy: Policy, log: AuditLog, reasons: Dict[str, Dict[str, str]]):
        self.policy = policy
        self.log = log
        self.reasons = reasons
        self.own = own_addresses()
        self.tunnels: Dict[str, Tuple[str, int]] = {}
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
        self.log.write({
            "time": now(), "source": "proxy", "decision": decision, "host": host, "port": port,
            "method": method, "reason": reason, "path": path,
            "client": f"{peer[0]}:{peer[1]}" if peer else None, **(more or {}), **extra,
        })
        summary = self.reasons.get(reason, {}).get("summary", reason)
        tail = f" ({summary})" if decision != "allow" else f" ({reason})"
        print(f"egress {decision} {method} {host}:{port}{tail}", flush=True)

    def _refuse(self, flow: http.HTTPFlow, host: str, port: int, code: str, detail: str = "",
                status: int = 403) -> None:
        reason = self.reasons.get(code, {"summary": code, "page": code})
        page = reason["page"].replace("{method}", flow.request.method).replace(
            "{host}", host).replace("{port}", str(port)).replace(
            "{slug}", str(self.policy.settings.get("slug", "<slug>")))
        body = (f"bot-bottle egress: refused {flow.request.method} {host}:{port}: {page}\n"
                + (f"({detail})\n" if detail else "") + f"reason: {code}\n")
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Bot-Bottle-Refusal": f"{code}: {host}:{port}: {reason['summary']}"[:400],
        }
        if flow.request.method == "CONNECT":
            headers["Connection"] = "close"  # no tunnel follows: the client need not wait
        flow.response = http.Response.make(status, body, headers)
        # Clients that never show a CONNECT body (curl) still print the status line.
        flow.response.reason = f"Forbidden by bot-bottle: {reason['summary']}"[:200]
        path = None if flow.request.method == "CONNECT" else flow.request.path
        self._record(flow, "deny", host, port, code, path=path, detail=detail or None,
                     id=flow.metadata.get("bb_hold"))

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

    # ---- mitmproxy hooks -----------------------------------------------------------------------
    async def http_connect(self, flow: http.HTTPFlow) -> None:
        host, port = flow.request.host.lower().rstrip("."), flow.request.port
        why = await self._decide(flow, host, port, connect=True)
        if why is not None:
            return self._refuse(flow, host, port, why[0], why[1],
                                status=502 if why[0] == "unresolvable" else 403)
        self.tunnels[flow.client_conn.id] = (host, port)
        self._record(flow, "allow", host, port, *self._allowed_by(flow, "tunnel"))

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
            why = refusal(address, self.own)
            if why is not None:
                data.server.error = f"refused by bot-bottle: {why[1]}"

    def client_disconnected(self, client) -> None:
        self.tunnels.pop(client.id, None)

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.client_conn.id in self.tunnels:
            return
        host, port = flow.request.host.lower().rstrip("."), flow.request.port
        if flow.request.scheme != "http":
            return self._refuse(flow, host, port, "protocol", f"scheme {flow.request.scheme}")
        why = await self._decide(flow, host, port, connect=False)
        if why is not None:
            return self._refuse(flow, host, port, why[0], why[1],
                                status=502 if why[0] == "unresolvable" else 403)
        reason, extra = self._allowed_by(flow, "http")
        self._record(flow, "allow", host, port, reason, extra, path=flow.request.path)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.request is None:
            return
        self.log.write({
            "time": now(), "source": "proxy", "decision": "error", "host": flow.request.host,
            "port": flow.request.port, "method": flow.request.method, "reason": "upstream_error",
            "path": None if flow.request.method == "CONNECT" else flow.request.path,
            "detail": str(flow.error) if flow.error else None,
        })


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit()


def load_reasons(path: str) -> Dict[str, Dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


__all__ = ["Egress", "Refused", "load_reasons", "Address"]
