"""HTTP/1.1 messages inside an intercepted tunnel (RFC 9112), read strictly and written plainly.

The interceptor reads the agent's requests and the upstream's responses with this, and writes
what it forwards with it. It accepts less than the RFC allows and refuses the rest, so that no
two readers of one message can disagree about where it ends:
- every line ends in CRLF (a bare CR or LF anywhere in a head is refused), no line folding, no
  blank lines before a request, no space before a header's colon;
- a method and a header name are tokens; a target is visible ASCII; a value is visible text
  (tabs and spaces inside), its surrounding whitespace dropped;
- framing: `Transfer-Encoding: chunked` alone (any other coding, or chunked with a
  Content-Length, or in HTTP/1.0, is refused), or one Content-Length of digits (repeats must
  agree), or, in a response only, the rest of the connection;
- a chunk's size is at most 16 hex digits; trailers are read, checked and dropped.
Heads (and a body's trailers) are at most `max_head` bytes, and a head that has begun must be
whole within `head_timeout` seconds. Names keep the case they were sent in. The buffer is a
bytearray read from its front, and each search starts where the last one stopped: the work is
linear in the bytes, however they are cut.
"""
import asyncio
import re
from typing import Awaitable, Callable, List, Optional, Tuple

RawHeaders = List[Tuple[bytes, bytes]]

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/(1\.[01])")
_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_FIELD = re.compile(rb"(" + _TOKEN + rb"):[ \t]*"
                    rb"((?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?)"
                    rb"[ \t]*")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[\t\x20-\x7e\x80-\xff]*)?")
_DIGITS = re.compile(rb"[0-9]{1,18}")


class ProtocolError(Exception):
    """The peer's bytes are not a message this reader accepts (the text says why)."""


class Head:
    """A request's or a response's head, and how its body is framed."""
    __slots__ = ("method", "target", "status", "reason", "version", "headers", "framing",
                 "length", "close", "problem")

    def __init__(self):
        self.method = b""
        self.target = b""
        self.status = 0
        self.reason = b""
        self.version = b"1.1"
        self.headers: RawHeaders = []
        # "length" (self.length bytes), "chunked", "close" (a response's rest of the connection)
        # or "invalid" (a request framed two ways or with an unknown coding: `problem` says how;
        # its body is never read).
        self.framing = "length"
        self.length = 0
        self.problem = ""
        # The sender will close after this message (Connection: close, or HTTP/1.0).
        self.close = False


class Reader:
    """Messages from one side of a tunnel, one after the other, over an asyncio StreamReader.
    `before_read` runs before every read that waits (to flush what is owed to the other side)."""

    def __init__(self, stream, max_head: int, read_size: int,
                 before_read: Optional[Callable[[], Awaitable[None]]] = None,
                 head_timeout: float = 60):
        self.stream = stream
        self.max_head = max_head
        self.read_size = read_size
        self.before_read = before_read
        self.head_timeout = head_timeout
        self.buf = bytearray()
        self.at_eof = False
        self._trailer_bytes = 0
        self.head: Optional[Head] = None
        # The current body: bytes left of a length or of a chunk; the chunked state.
        self._left = 0
        self._chunk_state = "size"  # "size", "data", "crlf", "trailer", "done"
        self.body_done = True

    async def _fill(self, deadline: Optional[float] = None) -> bool:
        """Read more (by `deadline`, a loop time, when given); False at the end of the stream."""
        if self.at_eof:
            return False
        if self.before_read is not None:
            await self.before_read()
        if deadline is None:
            data = await self.stream.read(self.read_size)
        else:
            left = deadline - asyncio.get_running_loop().time()
            try:
                data = await asyncio.wait_for(self.stream.read(self.read_size), max(left, 0))
            except asyncio.TimeoutError:
                raise ProtocolError(f"a head did not arrive whole within {self.head_timeout} s")
        if not data:
            self.at_eof = True
            return False
        self.buf += data
        return True

    async def _head_bytes(self) -> Optional[bytes]:
        scanned = 0  # where the next search starts (a terminator may straddle two reads)
        deadline: Optional[float] = None
        while True:
            buf = self.buf
            start = max(0, scanned - 3)
            end = buf.find(b"\r\n\r\n", start)
            if end >= 0:
                if end + 4 > self.max_head:
                    raise ProtocolError(f"the head is over {self.max_head} bytes")
                head = bytes(buf[:end])
                del buf[:end + 4]
                return head
            if len(buf) > self.max_head:
                raise ProtocolError(f"the head is over {self.max_head} bytes")
            if buf.find(b"\n\n", start) >= 0 or buf.find(b"\r\r", start) >= 0:
                raise ProtocolError("a line of the head does not end in CRLF")
            scanned = len(buf)
            if buf and deadline is None:
                deadline = asyncio.get_running_loop().time() + self.head_timeout
            if not await self._fill(deadline):
                if self.buf:
                    raise ProtocolError("the connection closed inside a head")
                return None

    @staticmethod
    def _fields(lines: List[bytes]) -> RawHeaders:
        # Errors never quote the peer's bytes: an upstream could reflect a value into them.
        headers: RawHeaders = []
        for n, line in enumerate(lines, 1):
            m = _FIELD.fullmatch(line)
            if m is None:
                raise ProtocolError(f"illegal header line (field {n} of the head)")
            headers.append((m.group(1), m.group(2)))
        return headers

    async def request(self) -> Optional[Head]:
        """The next request's head (None: the agent closed between requests)."""
        raw = await self._head_bytes()
        if raw is None:
            return None
        lines = raw.split(b"\r\n")
        m = _REQUEST_LINE.fullmatch(lines[0])
        if m is None:
            raise ProtocolError("illegal request line")
        head = Head()
        head.method, head.target, head.version = m.group(1), m.group(2), m.group(3)
        head.headers = self._fields(lines[1:])
        try:
            _frame(head, request=True)
        except ProtocolError as error:
            head.framing, head.problem, head.close = "invalid", str(error), True
        self._start(head)
        return head

    async def response(self, method: bytes) -> Head:
        """The next response's head, for a request of `method`."""
        raw = await self._head_bytes()
        if raw is None:
            raise ProtocolError("the server closed the connection before its response")
        lines = raw.split(b"\r\n")
        m = _STATUS_LINE.fullmatch(lines[0])
        if m is None:
            raise ProtocolError("illegal status line")
        head = Head()
        head.version, head.status, head.reason = m.group(1), int(m.group(2)), m.group(3) or b""
        head.headers = self._fields(lines[1:])
        # No body after HEAD, a 1xx (the response follows), 204 or 304 (RFC 9112 6.3).
        _frame(head, request=False, body=not (method == b"HEAD" or head.status < 200
                                              or head.status in (204, 304)))
        self._start(head)
        return head

    def _start(self, head: Head) -> None:
        self.head = head
        self._left = head.length if head.framing == "length" else 0
        self._chunk_state = "size"
        self._trailer_bytes = 0
        self.body_done = head.framing == "length" and head.length == 0
        if head.framing == "invalid":
            self.body_done = False

    async def body(self) -> Optional[bytes]:
        """The next piece of the current message's body; None once it has all come."""
        while not self.body_done:
            piece = self._take()
            if piece:
                return piece
            if self.body_done:
                break
            if not await self._fill():
                if self.head is not None and self.head.framing == "close":
                    self.body_done = True
                    break
                raise ProtocolError("the connection closed inside a body")
        return None

    def buffered_body(self) -> None:
        """Drop what of the current body is already here, without waiting for more."""
        while not self.body_done and self._take():
            pass

    def _take(self) -> bytes:
        """What of the body the buffer holds now (b"": nothing yet, or the body is done)."""
        head = self.head
        if head is None or head.framing == "invalid":
            return b""
        buf = self.buf
        if head.framing == "close":
            piece = bytes(buf)
            buf.clear()
            return piece
        if head.framing == "length":
            piece = bytes(buf[:self._left])
            del buf[:len(piece)]
            self._left -= len(piece)
            if self._left == 0:
                self.body_done = True
            return piece
        while True:  # chunked
            state = self._chunk_state
            if state == "data":
                if not buf:
                    return b""
                piece = bytes(buf[:self._left])
                del buf[:len(piece)]
                self._left -= len(piece)
                if self._left == 0:
                    self._chunk_state = "crlf"
                return piece
            end = buf.find(b"\r\n", 0, self.max_head + 2)
            if end < 0:
                if len(buf) > self.max_head:
                    raise ProtocolError("a chunk's size line is too long")
                return b""
            line = bytes(buf[:end])
            del buf[:end + 2]
            if state == "crlf":
                if line:
                    raise ProtocolError("a chunk's data does not end in CRLF")
                self._chunk_state = "size"
            elif state == "size":
                m = _CHUNK_LINE.fullmatch(line)
                if m is None:
                    raise ProtocolError("illegal chunk size line")
                self._left = int(m.group(1), 16)
                self._chunk_state = "data" if self._left else "trailer"
            else:  # trailer: checked like headers and dropped, at most max_head in all
                if not line:
                    self._chunk_state = "done"
                    self.body_done = True
                    return b""
                self._trailer_bytes += len(line) + 2
                if self._trailer_bytes > self.max_head:
                    raise ProtocolError(f"the trailers are over {self.max_head} bytes")
                self._fields([line])


def _framing_headers(head: Head):
    """In one pass: the Connection tokens, the transfer codings (None: no such header) and the
    Content-Length values."""
    connection: List[bytes] = []
    codings: Optional[List[bytes]] = None
    lengths: List[bytes] = []
    for k, v in head.headers:
        name = k.lower()
        if name == b"connection":
            connection += [t.strip().lower() for t in v.split(b",")]
        elif name == b"transfer-encoding":
            codings = (codings or []) + [t.strip().lower() for t in v.split(b",")]
        elif name == b"content-length":
            lengths.append(v)
    return connection, codings, lengths


def _frame(head: Head, request: bool, body: bool = True) -> None:
    """How the message's body is framed, and whether its sender closes after it; a response
    with `body` False has none, whatever its head says."""
    connection, codings, lengths = _framing_headers(head)
    head.close = b"close" in connection or (head.version == b"1.0"
                                            and b"keep-alive" not in connection)
    if request and head.version == b"1.0":
        head.close = True  # no keep-alive with HTTP/1.0 clients
    if not body:
        head.framing, head.length = "length", 0
        return
    if codings is not None:
        if codings != [b"chunked"]:
            raise ProtocolError("the only transfer coding read is chunked, alone")
        if lengths:
            raise ProtocolError("a message has both Transfer-Encoding and Content-Length")
        if head.version != b"1.1":
            raise ProtocolError("Transfer-Encoding in an HTTP/1.0 message")
        head.framing = "chunked"
        return
    if lengths:
        values = {v.strip() for v in lengths}
        if len(values) != 1:
            raise ProtocolError("a message has differing Content-Length headers")
        value = values.pop()
        if _DIGITS.fullmatch(value) is None:
            raise ProtocolError("a Content-Length is not a number")
        head.framing, head.length = "length", int(value)
        return
    if request:
        head.framing, head.length = "length", 0
    else:
        head.framing, head.close = "close", True


# ---- writing ---------------------------------------------------------------------------------
def request_head(method: bytes, target: bytes, headers: RawHeaders) -> bytes:
    return b"".join([method, b" ", target, b" HTTP/1.1\r\n",
                     *[k + b": " + v + b"\r\n" for k, v in headers], b"\r\n"])


def response_head(status: int, reason: bytes, headers: RawHeaders) -> bytes:
    return b"".join([b"HTTP/1.1 %d " % status, reason, b"\r\n",
                     *[k + b": " + v + b"\r\n" for k, v in headers], b"\r\n"])


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n" if data else b""


LAST_CHUNK = b"0\r\n\r\n"
