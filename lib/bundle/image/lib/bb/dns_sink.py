"""The bottle's DNS server: it answers every query with a failure and forwards nothing.

The guest has no resolver of its own; the proxy resolves allowlisted names itself. Every
query is logged (name and type), and nothing — `version.bind` and CHAOS included — gets an
answer: NXDOMAIN for class IN, REFUSED for anything else.
"""
import asyncio
import struct
from typing import Callable, Optional, Tuple

NXDOMAIN = 3
REFUSED = 5
CLASS_IN = 1
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
         33: "SRV", 64: "SVCB", 65: "HTTPS", 255: "ANY"}


def parse_question(packet: bytes) -> Optional[Tuple[int, int, str, int, int, int]]:
    """(id, flags, name, qtype, qclass, end of question) of a query, or None when malformed."""
    if len(packet) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000 or qdcount < 1:
        return None
    labels, offset = [], 12
    while True:
        if offset >= len(packet):
            return None
        length = packet[offset]
        if length & 0xC0:
            return None
        offset += 1
        if length == 0:
            break
        labels.append(packet[offset:offset + length].decode("ascii", "replace"))
        offset += length
        if offset > 255 + 12:
            return None
    if offset + 4 > len(packet):
        return None
    qtype, qclass = struct.unpack("!HH", packet[offset:offset + 4])
    return ident, flags, ".".join(labels), qtype, qclass, offset + 4


def answer(packet: bytes) -> Optional[Tuple[bytes, str, str, int]]:
    """The failure response to a query, with its name, type and rcode; None for garbage."""
    question = parse_question(packet)
    if question is None:
        return None
    ident, flags, name, qtype, qclass, end = question
    rcode = NXDOMAIN if qclass == CLASS_IN else REFUSED
    opcode = flags & 0x7800
    rd = flags & 0x0100
    header = struct.pack("!HHHHHH", ident, 0x8000 | opcode | rd | rcode, 1, 0, 0, 0)
    return header + packet[12:end], name, TYPES.get(qtype, str(qtype)), rcode


Report = Callable[[str, str, str, str], None]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, report: Report):
        self.report = report
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        result = answer(data)
        if result is None:
            return
        response, name, qtype, rcode = result
        self.transport.sendto(response, addr)
        self.report(f"{addr[0]}:{addr[1]}", name, qtype, "udp")


async def _tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, report: Report):
    peer = writer.get_extra_info("peername") or ("?", 0)
    try:
        for _ in range(16):
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 10))[0]
            result = answer(await asyncio.wait_for(reader.readexactly(size), 10))
            if result is None:
                break
            response, name, qtype, _ = result
            writer.write(struct.pack("!H", len(response)) + response)
            await writer.drain()
            report(f"{peer[0]}:{peer[1]}", name, qtype, "tcp")
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(udp_sock, tcp_sock, report: Report):
    """Serve on already-bound sockets (bound as root, before privileges are dropped)."""
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: _Udp(report), sock=udp_sock)
    await asyncio.start_server(lambda r, w: _tcp(r, w, report), sock=tcp_sock)
