"""The bottle's audit log: one JSON line per decision, in a file the host keeps.

Every part of the bundle reports here: the egress proxy and the DNS sink in-process, the git
gate's hooks over a datagram socket (bb-audit). The file is rotated by size, so an agent
that floods requests cannot fill the host's disk: at most `keep + 1` files of `max_bytes`.

Each decision is also one line on stdout (`docker logs`), through `say`: lines are written in
order, batched for at most SAY_SECONDS (a write to the log pipe per request would cost more CPU
than the proxying itself); the audit file is written at once.
"""
import asyncio
import atexit
import json
import os
import socket
import sys
import time
from typing import Any, Dict, List, Optional

FIELDS = ("time", "source", "decision", "host", "port", "method", "reason", "path")
MAX_FIELD = 2048
# One encoder for every record (json.dumps with options makes a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
SAY_SECONDS = 0.1
SAY_MAX_BYTES = 64 << 10

_said: List[str] = []
_said_bytes = 0
_say_timer: Optional[asyncio.TimerHandle] = None


def say(line: str) -> None:
    """One line on stdout: written within SAY_SECONDS (at once with no event loop running)."""
    global _said_bytes, _say_timer
    _said.append(line + "\n")
    _said_bytes += len(line) + 1
    if _said_bytes >= SAY_MAX_BYTES:
        flush_said()
        return
    if _say_timer is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            flush_said()
            return
        _say_timer = loop.call_later(SAY_SECONDS, flush_said)


def flush_said() -> None:
    global _said_bytes, _say_timer
    if _say_timer is not None:
        _say_timer.cancel()
        _say_timer = None
    if _said:
        text = "".join(_said)
        _said.clear()
        _said_bytes = 0
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


atexit.register(flush_said)


_second = [-1, ""]  # the last whole second formatted, and its text


def now() -> str:
    t = time.time()
    whole = int(t)
    if whole != _second[0]:
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int(t * 1000) % 1000:03d}Z"


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD:
        return value[:MAX_FIELD] + "..."
    return value


class AuditLog:
    """Appends records to `<dir>/audit.jsonl`, rotating at `max_bytes` (keeps `keep` old files)."""

    def __init__(self, directory: str, max_bytes: int = 4 << 20, keep: int = 3):
        self.path = os.path.join(directory, "audit.jsonl")
        self.max_bytes = max_bytes
        self.keep = keep
        self._file = None
        self._size = 0

    def _open(self) -> None:
        self._file = open(self.path, "ab", buffering=0)
        os.chmod(self.path, 0o644)
        self._size = self._file.tell()

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for n in range(self.keep, 0, -1):
            older = f"{self.path}.{n}"
            newer = self.path if n == 1 else f"{self.path}.{n - 1}"
            if os.path.exists(newer):
                os.replace(newer, older)

    def write(self, record: Dict[str, Any]) -> None:
        line = {key: _clip(record.get(key)) for key in FIELDS}
        line["time"] = line["time"] or now()
        for key, value in record.items():
            if key not in line and value is not None:
                line[key] = _clip(value)
        data = (_ENCODER.encode(line) + "\n").encode()
        try:
            if self._file is None:
                self._open()
            if self._size + len(data) > self.max_bytes and self._size > 0:
                self._rotate()
                self._open()
            self._file.write(data)
            self._size += len(data)
        except OSError as error:
            say(f"bundle: audit log not written: {error}")


class AuditReceiver:
    """A datagram socket other processes of the bundle send one JSON record per datagram to."""

    def __init__(self, path: str, log: AuditLog):
        self.path = path
        self.log = log
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.setblocking(False)

    def on_readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            try:
                record = json.loads(data)
            except ValueError:
                continue
            if isinstance(record, dict):
                self.log.write(record)


def send(path: str, record: Dict[str, Any]) -> Optional[str]:
    """Send one record to a running receiver; returns why not, or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(json.dumps(record).encode(), path)
        return None
    except OSError as error:
        return str(error)
