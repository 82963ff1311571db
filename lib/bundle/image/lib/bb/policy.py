"""The bottle's egress policy: the manifest's allowlist (policy.json, rendered by bot-bottle and
mounted read-only) plus the live approvals and denials `bot-bottle approve/deny` writes
(control/approvals.json, also read-only here), reloaded whenever either file changes.

Entries arrive already parsed by bot-bottle's one grammar: {"kind": "exact"|"suffix"|"ipv4",
"host"|"suffix"|"address": ..., "port": null|N}. An entry without a port allows CONNECT to 443
and plain http to 80; with a port, both on that port only.
"""
import json
import os
from typing import Any, Dict, List, Optional, Tuple

DEFAULT_PORTS = {"connect": 443, "http": 80}


def _entry_host(entry: Dict[str, Any]) -> str:
    kind = entry.get("kind")
    if kind == "exact":
        return entry["host"]
    if kind == "suffix":
        return "*." + entry["suffix"]
    return entry["address"]


def format_entry(entry: Dict[str, Any]) -> str:
    port = entry.get("port")
    return _entry_host(entry) + (f":{port}" if port else "")


def _matches_host(entry: Dict[str, Any], host: str, is_literal: bool) -> bool:
    kind = entry.get("kind")
    if kind == "exact":
        return not is_literal and entry.get("host") == host
    if kind == "suffix":
        return not is_literal and host.endswith("." + entry.get("suffix", "\0"))
    if kind == "ipv4":
        return is_literal and entry.get("address") == host
    return False


def _changes(old_approved, new_approved, old_denied, new_denied) -> List[Tuple[str, str]]:
    """What `bot-bottle approve/deny` changed between two control files, entry by entry."""
    def texts(entries):
        return [format_entry(e) for e in entries]
    before_a, after_a = texts(old_approved), texts(new_approved)
    before_d, after_d = texts(old_denied), texts(new_denied)
    out: List[Tuple[str, str]] = []
    out += [("approve", t) for t in after_a if t not in before_a]
    out += [("revoke", t) for t in after_d if t not in before_d]
    return out


class Policy:
    """What is allowed right now; `reload()` picks up changes to either file."""

    def __init__(self, policy_path: str, control_path: str):
        self.policy_path = policy_path
        self.control_path = control_path
        self.settings: Dict[str, Any] = {}
        self.allow: List[Dict[str, Any]] = []
        self.approved: List[Dict[str, Any]] = []
        self.denied: List[Dict[str, Any]] = []
        self._stamps: Tuple[Any, Any] = (None, None)
        self._bad_stamps: Optional[Tuple[Any, Any]] = None
        # What the last reload changed, entry by entry: ("approve"|"revoke", entry as written).
        self.changes: List[Tuple[str, str]] = []

    @staticmethod
    def _stamp(path: str):
        try:
            st = os.stat(path)
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return None

    def reload(self) -> Optional[str]:
        """Re-read what changed; returns a line saying what happened, or None."""
        stamps = (self._stamp(self.policy_path), self._stamp(self.control_path))
        if stamps == self._stamps or stamps == self._bad_stamps:
            return None
        try:
            with open(self.policy_path, encoding="utf-8") as f:
                settings = json.load(f)
            control: Dict[str, Any] = {}
            if stamps[1] is not None:
                with open(self.control_path, encoding="utf-8") as f:
                    control = json.load(f)
        except (OSError, ValueError) as error:
            if self._stamps == (None, None):
                raise
            self._bad_stamps = stamps  # said once, until the file changes again
            return f"policy not reloaded (kept the last one): {error}"
        first = self._stamps == (None, None)
        approved = [e for e in control.get("approved", []) if isinstance(e, dict)]
        denied = [e for e in control.get("denied", []) if isinstance(e, dict)]
        self.changes = [] if first else _changes(self.approved, approved, self.denied, denied)
        self._stamps = stamps
        self.settings = settings
        self.allow = list(settings.get("allow", []))
        self.approved = approved
        self.denied = denied
        what = "loaded" if first else "reloaded"
        return (f"policy {what}: {len(self.allow)} allowed, {len(self.approved)} approved, "
                f"{len(self.denied)} denied")

    @property
    def on_block(self) -> str:
        return self.settings.get("on_block", "refuse")

    @property
    def ask_timeout(self) -> float:
        return float(self.settings.get("ask_timeout_seconds", 60))

    def _entries(self) -> List[Dict[str, Any]]:
        denied = {format_entry(e) for e in self.denied}
        return [e for e in self.allow + self.approved if format_entry(e) not in denied]

    def check(self, host: str, port: int, connect: bool, is_literal: bool) -> Optional[str]:
        """None when listed; else the reason code: not_allowed, ip_literal or port."""
        default = DEFAULT_PORTS["connect" if connect else "http"]
        host_listed = False
        for entry in self._entries():
            if not _matches_host(entry, host, is_literal):
                continue
            host_listed = True
            if (entry.get("port") or default) == port:
                return None
        if host_listed:
            return "port"
        return "ip_literal" if is_literal else "not_allowed"

    def is_denied(self, host: str, port: int, connect: bool, is_literal: bool) -> bool:
        """Whether a live denial covers this destination (it refuses a held request at once)."""
        default = DEFAULT_PORTS["connect" if connect else "http"]
        return any(
            _matches_host(e, host, is_literal) and (e.get("port") or default) == port
            for e in self.denied
        )


def matches_pattern(pattern: Dict[str, Any], host: str) -> bool:
    """Whether `host` (lowercase, no trailing dot) matches a host pattern of `inject`,
    `egress.rules` or `tls.intercept` (an allowlist entry without a port)."""
    kind = pattern.get("kind")
    if kind == "exact":
        return pattern.get("host") == host
    if kind == "suffix":
        return host.endswith("." + pattern.get("suffix", "\0"))
    if kind == "ipv4":
        return pattern.get("address") == host
    return False
