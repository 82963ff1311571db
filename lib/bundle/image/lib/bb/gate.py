"""The egress proxy's decisions, shared by its two front ends (SPEC §12): the mitmproxy addon
(bb.egress: plain http and tunnels the bundle does not intercept) and bot-bottle's own TLS
interceptor (bb.intercept: CONNECT tunnels it does). Imports nothing of mitmproxy.

A `Gate` decides a destination (scheme, IP literal, allowlist, ask-mode hold, checked
resolution), checks the head of a request the bundle can read (`egress.rules`, placeholders
swapped in for the host's injected secrets, a secret's value to any other host refused), and
writes every decision as one audit record (fields through `Secrets.scrub`) and one stdout line
(bb.audit.say).
A refusal is a `Refusal`: a 403 (or 413, 502, 503) whose status line, header and body name the
host and the reason; each front end sends it in its own way.
"""
import asyncio
import ipaddress
import re
import socket
import uuid
from typing import Any, Dict, List, Optional, Set, Tuple

from .addresses import own_addresses, parse_address, refusal
from .audit import AuditLog, now, say
from .credentials import Secret, Secrets, swap_in_header, swap_in_path
from .policy import Policy, matches_pattern
from .rules import Rules

RELOAD_SECONDS = 0.5
HOLD_POLL_SECONDS = 0.2
# A request body the bundle must look into (for a secret's value) is buffered up to this size.
MAX_INSPECTED_BODY = 64 << 20
UPSTREAM_TLS_PREFIX = "upstream TLS to "

Headers = List[Tuple[str, str]]


class Refused(OSError):
    """A destination the policy refuses, raised from the checked resolver."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Ask:
    """One request being decided (a CONNECT, or a request the bundle reads): what its records
    say about it (method, client) and what the decision learned on the way (`meta`)."""

    __slots__ = ("method", "client", "meta")

    def __init__(self, method: str, client: Optional[str]):
        self.method = method
        self.client = client
        self.meta: Dict[str, Any] = {}


class Refusal:
    """A refusal to send: status, reason phrase, headers and body (text/plain)."""

    __slots__ = ("status", "phrase", "headers", "body", "code")

    def __init__(self, status: int, phrase: str, headers: Dict[str, str], body: str, code: str):
        self.status = status
        self.phrase = phrase
        self.headers = headers
        self.body = body
        self.code = code


class Checked:
    """A request head that passed `Gate.check_head`: what goes upstream."""

    __slots__ = ("target", "headers", "swapped", "others", "read_body")

    def __init__(self, target: str, headers: Headers, swapped: List[str], others: List[Secret],
                 read_body: bool):
        self.target = target
        self.headers = headers
        self.swapped = swapped
        # Secrets whose values must not be in the body: the body is read (buffered) and checked.
        self.others = others
        self.read_body = read_body


def client_text(peer) -> Optional[str]:
    return f"{peer[0]}:{peer[1]}" if peer else None


class Gate:
    def __init__(self, policy: Policy, log: AuditLog, reasons: Dict[str, Dict[str, str]],
                 secrets: Optional[Secrets] = None):
        self.policy = policy
        self.log = log
        self.reasons = reasons
        self.secrets = secrets or Secrets(policy.settings.get("secrets", []))
        self.rules = Rules(policy.settings.get("rules", []))
        self.own = own_addresses()
        self._resolver_installed = False

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.install_resolver()
        asyncio.get_running_loop().create_task(self._watch_policy())

    async def _watch_policy(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            self.reload_now()

    def reload_now(self) -> None:
        said = self.policy.reload()
        if said:
            say(f"bundle: {said}")
            self._record_changes(said)

    def _record_changes(self, said: str) -> None:
        """One audit record per approval or revocation the reload took in (plus the reload)."""
        for decision, entry in self.policy.changes:
            host, _, port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
            self.log.write({"source": "control", "decision": decision, "host": host,
                            "port": int(port) if port else None, "reason": "bot-bottle " + (
                                "approve" if decision == "approve" else "deny"),
                            "entry": entry})
            say(f"bundle: {decision} {entry} (live, no restart)")
        self.policy.changes = []
        self.log.write({"source": "policy", "decision": "reload", "reason": said})

    def install_resolver(self) -> None:
        """Every lookup on the loop (mitmproxy's included) refuses local or own addresses."""
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

    # ---- records and refusals ----------------------------------------------------------------
    def intercepts(self, host: str) -> bool:
        """Whether the bundle terminates TLS for a tunnel to `host` (SPEC §12)."""
        tls = self.policy.settings.get("tls", {})
        if tls.get("inspect") == "all":
            return True
        return any(matches_pattern(p, host) for p in tls.get("intercept", []))

    @staticmethod
    def allowed_by(ask: Ask, how: str) -> Tuple[str, Dict[str, Any]]:
        """The allow record's reason: how it went through, or `approved` after a hold."""
        held = ask.meta.get("approved")
        return ("approved", {"id": held, "via": how}) if held else (how, {})

    def record(self, ask: Ask, decision: str, host: str, port: int, reason: str,
               more: Optional[Dict[str, Any]] = None, path: Optional[str] = None,
               **extra: Any) -> None:
        record = {
            "time": now(), "source": "proxy", "decision": decision, "host": host, "port": port,
            "method": ask.method, "reason": reason, "path": path, "client": ask.client,
            **(more or {}), **extra,
        }
        summary = self.reasons.get(reason, {}).get("summary", reason)
        tail = f" ({summary})" if decision not in ("allow", "redact") else f" ({reason})"
        line = f"egress {decision} {ask.method} {host}:{port}{tail}"
        # Usually no field holds a value: one search says so; else each field is scrubbed.
        if self.secrets.found_in([line] + [v for v in record.values() if isinstance(v, str)]):
            scrub = self.secrets.scrub
            record = {k: scrub(v) for k, v in record.items()}
            line = scrub(line)
        self.log.write(record)
        say(line)

    def error(self, ask: Ask, host: str, port: int, detail: str, path: Optional[str],
              code: Optional[str] = None) -> None:
        """An upstream failure (or a client's refusal of the bundle's certificate)."""
        self.log.write({k: self.secrets.scrub(v) for k, v in {
            "time": now(), "source": "proxy", "decision": "error", "host": host, "port": port,
            "method": ask.method, "reason": code or error_code(detail), "path": path,
            "detail": detail or None,
        }.items()})

    def refuse(self, ask: Ask, host: str, port: int, code: str, detail: str = "",
               status: int = 403, path: Optional[str] = None, **extra: Any) -> Refusal:
        """The refusal (recorded): its page names the method, host, port and reason."""
        reason = self.reasons.get(code, {"summary": code, "page": code})
        detail = self.secrets.scrub(detail)
        page = reason["page"].replace("{method}", ask.method).replace(
            "{host}", host).replace("{port}", str(port)).replace(
            "{slug}", str(self.policy.settings.get("slug", "<slug>")))
        body = (f"bot-bottle egress: refused {ask.method} {host}:{port}: {page}\n"
                + (f"({detail})\n" if detail else "") + f"reason: {code}\n")
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Bot-Bottle-Refusal": f"{code}: {host}:{port}: {reason['summary']}"[:400],
        }
        if ask.method == "CONNECT" or ask.meta.get("close"):
            headers["Connection"] = "close"  # no tunnel (or body) follows: the client need not wait
        ask.meta["refused"] = code
        # Clients that never show a CONNECT body (curl) still print the status line.
        phrase = (("Forbidden" if status == 403 else "Refused")
                  + f" by bot-bottle: {reason['summary']}")[:200]
        self.record(ask, "deny", host, port, code, path=path, detail=detail or None,
                    id=ask.meta.get("hold"), **extra)
        return Refusal(status, phrase, headers, body, code)

    # ---- destinations --------------------------------------------------------------------------
    async def _resolve(self, host: str, port: int):
        """(None, addresses) when every address of `host` may be reached; else ((code, detail),
        None). The connection then goes to exactly these addresses."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM)
        except Refused as refused:
            return (refused.code, refused.detail), None
        except OSError as error:
            return ("unresolvable", f"{host} does not resolve: {error}"), None
        addresses: List[str] = []
        # Every address was checked; IPv4 first (bottles have no IPv6).
        for info in sorted(infos, key=lambda i: i[0] != socket.AF_INET):
            if info[4][0] not in addresses:
                addresses.append(info[4][0])
        if not addresses:
            return ("unresolvable", f"{host} does not resolve"), None
        return None, addresses

    async def _hold(self, ask: Ask, host: str, port: int, connect: bool) -> Optional[str]:
        """ask mode: hold the request until approved (None) or denied / timed out (the detail
        of the not_approved refusal, which is recorded once, with the same id)."""
        ident = uuid.uuid4().hex[:12]
        ask.meta["hold"] = ident
        self.record(ask, "pending", host, port, "not_allowed", id=ident,
                    timeout_seconds=self.policy.ask_timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.ask_timeout
        while loop.time() < deadline:
            self.reload_now()
            if self.policy.check(host, port, connect, False) is None:
                ask.meta["approved"] = ident  # the allow record says so
                return None
            if self.policy.is_denied(host, port, connect, False):
                return "denied by bot-bottle deny"
            await asyncio.sleep(HOLD_POLL_SECONDS)
        return f"no answer within {self.policy.ask_timeout:g} s"

    async def decide(self, ask: Ask, host: str, port: int, connect: bool):
        """(None, addresses to connect to) to let it through; else ((reason code, detail), None).
        `host` is lowercase without a trailing dot."""
        address = parse_address(host)
        if address is not None:
            why = refusal(address, self.own)
            if why is not None:
                return why, None
            if isinstance(address, ipaddress.IPv6Address):
                return ("ip_literal", "IPv6 is off in bottles"), None
        code = self.policy.check(host, port, connect, address is not None)
        # A name under .invalid (RFC 6761) can never resolve: holding it would only make the
        # asker wait (bot-bottle's own probes use such names).
        if code == "not_allowed" and self.policy.on_block == "ask" and not host.endswith(".invalid"):
            held = await self._hold(ask, host, port, connect)
            if held is None:
                code = None
            else:
                return ("not_approved", held), None
        if code is not None:
            return (code, ""), None
        if address is None:
            return await self._resolve(host, port)
        return None, [str(address)]

    # ---- requests the bundle reads -----------------------------------------------------------
    def check_head(self, ask: Ask, host: str, port: int, tls: bool, target: str,
                   headers: Headers):
        """The checks of a request the bundle can read (intercepted, or plain http), before its
        body leaves: egress.rules, then injected secrets. A `Refusal` (recorded), or `Checked`:
        the target and headers to send (placeholders swapped in) and whether the body must be
        read for a value. `ask.meta["path"]` is what is recorded: never a swapped-in value."""
        ask.meta["path"] = target
        why = self.rules.check(host, ask.method, target)
        if why is not None:
            ask.meta["close"] = True
            return self.refuse(ask, host, port, "egress_rule", why, path=target)
        if not self.secrets.expected:
            # Nothing to look for: bodies pass through as they come.
            return Checked(target, headers, [], [], False)
        if not self.secrets.ready:
            return self.refuse(ask, host, port, "secrets_pending", status=503, path=target)
        here, others = self.secrets.for_host(host, tls)
        head = target + "\n" + "\n".join(f"{k}: {v}" for k, v in headers)
        leaked = self.secrets.carried(head.encode("utf-8", "surrogateescape"), others)
        if leaked is not None:
            return self.refuse(ask, host, port, "secret_exfiltration",
                               f"the request's URL or headers carry the value of {leaked}, "
                               f"which is injected only for {hosts_of(self.secrets, leaked)}",
                               path=target, secret=leaked)
        swapped: Set[str] = set()
        if here:
            target, names = swap_in_path(target, here)
            swapped |= names
            new = []
            for k, v in headers:
                v2, names = swap_in_header(k, v, here)
                swapped |= names
                new.append((k, v2))
            headers = new
        # Uncompressed responses can be redacted as they stream.
        headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"]
        headers.append(("accept-encoding", "identity"))
        if others:
            length = next((v for k, v in headers if k.lower() == "content-length"), "").strip()
            if length.isdigit() and int(length) > MAX_INSPECTED_BODY:
                ask.meta["close"] = True
                return self.refuse(ask, host, port, "body_too_large",
                                   f"{length} bytes; the bundle reads a body to {host} for the "
                                   f"values of injected secrets, up to "
                                   f"{MAX_INSPECTED_BODY >> 20} MiB", status=413, path=target)
        # With no other secret, every secret may go here: nothing to look for in the body.
        return Checked(target, headers, sorted(swapped), others, bool(others))

    def check_body(self, ask: Ask, host: str, port: int, body: bytes,
                   others: List[Secret]) -> Optional[Refusal]:
        leaked = self.secrets.carried(body, others)
        if leaked is None:
            return None
        return self.refuse(ask, host, port, "secret_exfiltration",
                           f"the request body carries the value of {leaked}, which is "
                           f"injected only for {hosts_of(self.secrets, leaked)}",
                           path=ask.meta.get("path"), secret=leaked)

    def redact_headers(self, headers: Headers) -> Tuple[Headers, Set[str]]:
        """Headers with every value form replaced by its placeholder, in values and in names (a
        server can echo into either; a placeholder is a valid name)."""
        redacted: Set[str] = set()
        if not self.secrets.found_in(t for kv in headers for t in kv):
            return headers, redacted
        out = []
        for k, v in headers:
            k2, names = self.secrets.redact_text(k)
            redacted |= names
            v2, names = self.secrets.redact_text(v)
            redacted |= names
            out.append((k2, v2))
        return out, redacted

    def redacted(self, ask: Ask, host: str, port: int, names: Set[str], where: str) -> None:
        """One record per part of a response (and per new set of names) with a value replaced."""
        key = f"redacted_{where}"
        if ask.meta.get(key) == sorted(names):
            return
        ask.meta[key] = sorted(names)
        self.record(ask, "redact", host, port, "redacted", path=ask.meta.get("path"),
                    secret=",".join(sorted(names)), where=where)


# ---- authorities ---------------------------------------------------------------------------------
_AUTHORITY = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]/@\s]+)(?::(?P<port>\d{1,5}))?$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def parse_authority(value: str) -> Tuple[str, Optional[int]]:
    """(host, port or None) of `host[:port]`; ValueError when it is not a host name or IP."""
    m = _AUTHORITY.match(value)
    if not m:
        raise ValueError(value)
    host = m.group("host")
    if host.startswith("["):
        host = host[1:-1]
        ipaddress.IPv6Address(host)
    elif parse_address(host) is None:
        name = host[:-1] if host.endswith(".") else host
        if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
            raise ValueError(value)
    port = m.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(value)
    return host, int(port) if port is not None else None


def authority_problem(hosts: List[str], authority: str, host: str, port: int,
                      default_port: int = 443) -> Optional[str]:
    """Why a request to host:port (inside the tunnel to it; or, with default_port 80, a
    plain-http request whose target names it) names another destination in its Host headers or
    the authority of an absolute-form target, or None."""
    if len(hosts) > 1:
        return "the request has more than one Host header"
    for what, value in (("Host header", hosts[0] if hosts else ""),
                        ("request target", authority)):
        if not value:
            continue
        try:
            named, named_port = parse_authority(value)
        except ValueError:
            return f"the {what} {value[:100]!r} is not a host name"
        if named.lower().rstrip(".") != host or (named_port or default_port) != port:
            where = "the tunnel goes" if default_port == 443 else "the request goes"
            return (f"the {what} names {value[:100]!r}, but {where} to {host}:{port}; "
                    "a request names the one host it goes to")
    return None


# ---- errors --------------------------------------------------------------------------------------
def error_code(message: str) -> str:
    if message.startswith(UPSTREAM_TLS_PREFIX):
        return "upstream_tls"
    if "body_size_limit" in message:
        return "body_too_large"
    return "upstream_error"


def error_page(status: int, message: str) -> Tuple[Dict[str, str], str]:
    """The headers and body of an error the bundle answers itself (the upstream failed)."""
    code = error_code(message)
    hint = {
        "upstream_tls": " (the upstream's certificate is checked against the system store and "
                        "the bottle's ca_certs)",
        "body_too_large": " (the bundle buffers a body it must inspect, up to 64 MiB)",
    }.get(code, "")
    body = f"bot-bottle egress: {status}: {message}{hint}\nreason: {code}\n"
    return {
        "Connection": "close",
        "Content-Type": "text/plain; charset=utf-8",
        "X-Bot-Bottle-Refusal": f"{code}: {message}"[:400],
    }, body


def hosts_of(secrets: Secrets, name: str) -> str:
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
