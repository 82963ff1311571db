"""Addresses a bottle must never reach through its bundle.

Loopback, link-local, unspecified and multicast addresses in both families (IPv4-mapped and
IPv4-compatible IPv6 forms included), and every address of the bundle itself, under any name.
"""
import ipaddress
from typing import Optional, Set, Union

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

_THIS_NET = ipaddress.ip_network("0.0.0.0/8")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")


def parse_address(text: str) -> Optional[Address]:
    """An IP literal (brackets and a zone index stripped), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def own_addresses() -> Set[Address]:
    """Every address configured in this network namespace: the bundle's own."""
    found: Set[Address] = set()
    try:
        with open("/proc/net/fib_trie", encoding="ascii") as trie:
            lines = trie.read().splitlines()
        for i, line in enumerate(lines):
            if "/32 host LOCAL" in line and i > 0:
                address = parse_address(lines[i - 1].split()[-1])
                if address is not None:
                    found.add(address)
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as inet6:
            for line in inet6:
                found.add(ipaddress.IPv6Address(bytes.fromhex(line.split()[0])))
    except (OSError, ValueError):
        pass
    return found


def _ipv4_class(address: ipaddress.IPv4Address) -> Optional[str]:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address in _THIS_NET:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    return None


def local_class(address: Address) -> Optional[str]:
    """Why `address` is local to the machine or its link, or None for a routable address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            why = _ipv4_class(address.ipv4_mapped)
            return f"IPv4-mapped {why}" if why else None
        if address.is_loopback:
            return "loopback"
        if address.is_unspecified:
            return "unspecified"
        if address in _V4_COMPATIBLE:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            why = _ipv4_class(embedded)
            return f"IPv4-compatible {why}" if why else None
        if address.is_link_local:
            return "link-local"
        if address.is_multicast:
            return "multicast"
        return None
    return _ipv4_class(address)


def refusal(address: Address, own: Set[Address]) -> Optional[tuple]:
    """(reason code, detail) when the bundle must not connect to `address`, else None."""
    why = local_class(address)
    if why is not None:
        return ("local_address", f"{address} is a {why} address")
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    if address in own or (mapped is not None and mapped in own):
        return ("bundle_self", f"{address} is the bundle's own address")
    return None
