"""Injected secrets (SPEC §12): the values the bundle alone holds, and what it does with them.

The guest's variable holds a random placeholder. For a request to one of a secret's `inject`
hosts (over TLS the bundle terminates) the placeholder is replaced by the value in the URL and
the headers; anywhere else, a request that carries the value in any of its usual encodings is
refused. Every response the bundle can see has the value (in those encodings) replaced by the
placeholder, so an upstream that echoes it back cannot hand it to the agent.

Values arrive once, at launch, over a Unix socket only root in the bundle can open (bb-secrets
reads them from `docker exec -i` stdin): they are never written to a file, an argument, the
environment or a log. This module imports nothing of mitmproxy, so it is tested on its own.
"""
import asyncio
import base64
import binascii
import json
import os
import re
import urllib.parse
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from .policy import matches_pattern

# Shorter values would make redaction rewrite ordinary text; bot-bottle refuses them at launch.
MIN_VALUE_LENGTH = 8
MAX_VALUE_LENGTH = 16384


def value_forms(value: str) -> List[bytes]:
    """The encodings of `value` that are looked for: raw, base64 (padded, unpadded, URL-safe),
    percent-encoded (`%20` and `+` for spaces) and JSON-escaped, longest first."""
    raw = value.encode()
    b64 = base64.b64encode(raw)
    url = base64.urlsafe_b64encode(raw)
    forms = {
        raw,
        b64,
        b64.rstrip(b"="),
        url,
        url.rstrip(b"="),
        urllib.parse.quote(value, safe="").encode(),
        urllib.parse.quote_plus(value).encode(),
        json.dumps(value)[1:-1].encode(),
    }
    return sorted((f for f in forms if len(f) >= MIN_VALUE_LENGTH), key=len, reverse=True)


class Secret:
    def __init__(self, name: str, placeholder: str, inject: Sequence[dict], value: str):
        self.name = name
        self.placeholder = placeholder
        self.inject = list(inject)
        self.value = value
        self.forms = value_forms(value)
        self.placeholder_bytes = placeholder.encode()

    def injected_for(self, host: str) -> bool:
        return any(matches_pattern(p, host) for p in self.inject)


class Secrets:
    """The bottle's injected secrets: declared in policy.json (names, placeholders, hosts), their
    values loaded once over the intake socket."""

    def __init__(self, declared: Sequence[dict]):
        self.declared = list(declared)
        self.loaded: List[Secret] = []
        self._regex = None
        self._by_form: Dict[bytes, Secret] = {}

    @property
    def expected(self) -> bool:
        return bool(self.declared)

    @property
    def ready(self) -> bool:
        return not self.declared or bool(self.loaded)

    def load(self, values: Dict[str, object]) -> str:
        """Take in the values (once); returns what happened, or raises ValueError saying why not."""
        if self.loaded:
            raise ValueError("the secrets are already loaded (they are taken once, at launch)")
        names = [d["name"] for d in self.declared]
        if not isinstance(values, dict):
            raise ValueError("expected a JSON object of NAME: value")
        missing = [n for n in names if n not in values]
        extra = sorted(k for k in values if k not in names)
        if missing or extra:
            raise ValueError(
                "the names do not match the bottle's injected secrets"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; not declared {', '.join(extra)}" if extra else ""))
        loaded = []
        for d in self.declared:
            value = values[d["name"]]
            if not isinstance(value, str):
                raise ValueError(f"{d['name']}: the value is not a string")
            if not MIN_VALUE_LENGTH <= len(value) <= MAX_VALUE_LENGTH:
                raise ValueError(f"{d['name']}: the value has {len(value)} characters (expected "
                                 f"{MIN_VALUE_LENGTH} to {MAX_VALUE_LENGTH})")
            if any(c in value for c in "\r\n\0"):
                raise ValueError(f"{d['name']}: the value has a line break or NUL, which no "
                                 "header may carry")
            if d["placeholder"] in value or value in d["placeholder"]:
                raise ValueError(f"{d['name']}: the value and its placeholder overlap")
            loaded.append(Secret(d["name"], d["placeholder"], d.get("inject", []), value))
        self.loaded = loaded
        self._regex = None
        return f"loaded {len(loaded)} injected secret(s): {', '.join(names)}"

    # ---- requests -----------------------------------------------------------------------------
    def for_host(self, host: str, tls: bool) -> Tuple[List[Secret], List[Secret]]:
        """(secrets swapped in for this request, secrets whose value must not be in it)."""
        here = [s for s in self.loaded if tls and s.injected_for(host)]
        others = [s for s in self.loaded if s not in here]
        return here, others

    @staticmethod
    def carried(data: bytes, secrets: Iterable[Secret]) -> Optional[str]:
        """The name of the first secret whose value (in any form) is in `data`, or None."""
        for s in secrets:
            if any(f in data for f in s.forms):
                return s.name
        return None

    def _pattern(self):
        if self._regex is None:
            by_form = {}
            for sec in self.loaded:
                for f in sec.forms:
                    by_form.setdefault(f, sec)
            forms = sorted(by_form, key=len, reverse=True)
            self._regex = re.compile(b"|".join(re.escape(f) for f in forms))
            self._by_form = by_form
        return self._regex, self._by_form

    def redact_part(self, data: bytes, final: bool, hold: int) -> Tuple[bytes, bytes, Set[str]]:
        """(redacted bytes safe to send, bytes to hold back, names replaced). A match that starts
        more than `hold` bytes before the end is decided (every form starting there fits); the
        rest waits for more data, unless `final`."""
        names: Set[str] = set()
        if not self.loaded:
            return data, b"", names
        regex, by_form = self._pattern()
        limit = len(data) if final else len(data) - hold
        out = []
        pos = 0
        for m in regex.finditer(data):
            if m.start() >= limit:
                break
            secret = by_form[m.group(0)]
            out.append(data[pos:m.start()])
            out.append(secret.placeholder_bytes)
            names.add(secret.name)
            pos = m.end()
        cut = max(pos, limit, 0)
        out.append(data[pos:cut])
        return b"".join(out), data[cut:], names

    def redact(self, data: bytes) -> Tuple[bytes, Set[str]]:
        """`data` with every value form replaced by its placeholder, and the names replaced."""
        done, _, names = self.redact_part(data, True, 0)
        return done, names

    def redact_text(self, text: str) -> Tuple[str, Set[str]]:
        data, names = self.redact(text.encode("utf-8", "surrogateescape"))
        return data.decode("utf-8", "surrogateescape"), names

    def found_in(self, texts: Iterable[str]) -> bool:
        """Whether any value form is in any of `texts`, in one search over them all (joined by
        NUL: no form holds a NUL, so no match spans two texts)."""
        if not self.loaded:
            return False
        regex, _ = self._pattern()
        return regex.search("\0".join(texts).encode("utf-8", "surrogateescape")) is not None

    def scrub(self, value):
        """An audit field with any value replaced by its placeholder (never logged raw)."""
        # Every form is MIN_VALUE_LENGTH or longer: a shorter field cannot hold one.
        if isinstance(value, str) and self.loaded and len(value) >= MIN_VALUE_LENGTH:
            return self.redact_text(value)[0]
        return value

    def longest_form(self) -> int:
        return max((len(f) for s in self.loaded for f in s.forms), default=0)

    def stream_redactor(self, on_redact: Callable[[Set[str]], None]) -> "StreamRedactor":
        return StreamRedactor(self, on_redact)


def swap_in_path(path: str, secrets: Iterable[Secret]) -> Tuple[str, Set[str]]:
    """Placeholders in a request target replaced by the URL-encoded values."""
    names = set()
    for s in secrets:
        if s.placeholder in path:
            path = path.replace(s.placeholder, urllib.parse.quote(s.value, safe=""))
            names.add(s.name)
    return path, names


def swap_in_header(name: str, value: str, secrets: Iterable[Secret]) -> Tuple[str, Set[str]]:
    """Placeholders in a header value replaced by the values; in `Authorization: Basic` the
    credentials are decoded first (git and other clients send `user:token` base64-encoded)."""
    names = set()
    secrets = list(secrets)
    for s in secrets:
        if s.placeholder in value:
            value = value.replace(s.placeholder, s.value)
            names.add(s.name)
    if name.lower() in ("authorization", "proxy-authorization"):
        scheme, _, cred = value.partition(" ")
        if scheme.lower() == "basic" and cred:
            try:
                plain = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return value, names
            swapped = plain
            for s in secrets:
                if s.placeholder in swapped:
                    swapped = swapped.replace(s.placeholder, s.value)
                    names.add(s.name)
            if swapped != plain:
                value = f"{scheme} {base64.b64encode(swapped.encode()).decode()}"
    return value, names


class StreamRedactor:
    """A response body's redactor, chunk by chunk (bb.intercept's, and a mitmproxy
    `response.stream` callable for plain http): holds back the last (longest form - 1) bytes so
    a value split across chunks is still found; b"" flushes."""

    def __init__(self, secrets: Secrets, on_redact: Callable[[Set[str]], None]):
        self.secrets = secrets
        self.hold = max(secrets.longest_form() - 1, 0)
        self.tail = b""
        self.on_redact = on_redact
        self.names: Set[str] = set()

    def __call__(self, chunk: bytes):
        done, self.tail, names = self.secrets.redact_part(self.tail + chunk, chunk == b"",
                                                          self.hold)
        if names - self.names:
            self.names |= names
            self.on_redact(set(self.names))
        # Nothing to send yet is an empty list: an empty bytes chunk would be sent as a chunk of
        # length 0, which ends a chunked body.
        return done if done else []


class Intake:
    """The Unix socket the values arrive on, once (bb-secrets, run by `docker exec -i`)."""

    def __init__(self, path: str, secrets: Secrets, said: Callable[[str], None]):
        self.path = path
        self.secrets = secrets
        self.said = said

    async def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        old = os.umask(0o077)
        try:
            server = await asyncio.start_unix_server(self._handle, path=self.path, limit=1 << 20)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        return server

    async def _handle(self, reader, writer):
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
            try:
                reply = "ok " + self.secrets.load(json.loads(line))
            except ValueError as error:
                reply = f"error {error}"
            self.said(reply)
            writer.write((reply + "\n").encode())
            await writer.drain()
        except (asyncio.TimeoutError, OSError):
            pass
        finally:
            writer.close()
