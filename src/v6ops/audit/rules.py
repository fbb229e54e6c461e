"""Firewall-rule vocabulary shared by the cloud and host audits: protocols, port sets, world prefixes."""

from __future__ import annotations

import functools

from v6ops.addr import Prefix, PrefixValueError

ALL = -1
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
PROTOCOL_NAMES = {"-1": ALL, "all": ALL, "tcp": TCP, "udp": UDP, "icmp": ICMP, "icmpv6": ICMPV6,
                  "ipv6-icmp": ICMPV6, "ipv6_icmp": ICMPV6}
PORT_PROTOCOLS = (TCP, UDP)
NAMES = {ALL: "all", TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMPV6: "icmpv6"}

Ranges = list[tuple[int, int]]


def protocol_number(text: object, where: str) -> int:
    value = str(text).lower()
    if value in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[value]
    if value.isdigit() and int(value) <= 255:
        return int(value)
    raise ValueError(f"{where}: unknown protocol {text!r}")


def protocol_name(number: int) -> str:
    return NAMES.get(number, str(number))


@functools.lru_cache(maxsize=65536)
def parse_cidr(text: str) -> Prefix:
    """A rule's CIDR as a prefix; host bits are tolerated as AWS and iptables do (``10.0.0.1/8``)."""
    return Prefix.parse(text, strict=False)


@functools.lru_cache(maxsize=65536)
def is_world(text: str) -> bool:
    """``0.0.0.0/0`` or ``::/0`` in any spelling (``0:0:0:0:0:0:0:0/0``): length zero, not a text compare."""
    try:
        return parse_cidr(text).length == 0
    except PrefixValueError:
        return False


def merge(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def subtract(a: Ranges, b: Ranges) -> Ranges:
    """Ports in ``a`` not in ``b`` (both merged)."""
    out: Ranges = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in b:
            if bhi < cur or blo > hi:
                continue
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return out


def covers(ranges: Ranges, port: int) -> bool:
    return any(lo <= port <= hi for lo, hi in ranges)


def ranges_text(ranges: Ranges) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)
