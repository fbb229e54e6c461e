"""pcap and pcapng reader that hands the evaluator IP packets, for every link type a Linux capture uses.

Link types: Ethernet (with 802.1Q/802.1ad tags), Linux cooked SLL and SLL2, raw IP
(LINKTYPE_RAW, IPV4, IPV6), BSD loopback (NULL and LOOP). A frame that is cut short,
carries no IP, or runs past the end of the file is reported as a ``Frame`` with a
``problem`` instead of raising, so a capture with damage is still read to the end
and every bad frame is counted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 113, 228, 229, 276
_RAW_ALIASES = {12, 14, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6}
SUPPORTED_LINKTYPES = frozenset({LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL,
                                 LINKTYPE_LINUX_SLL2, *_RAW_ALIASES})
_ETH_IP = {0x86DD, 0x0800}
_VLAN = {0x8100, 0x88A8, 0x9100}
_BSD_AF_INET6 = {24, 28, 30}  # NetBSD/OpenBSD, FreeBSD, macOS


class CaptureError(ValueError):
    """The file is not a capture we can read at all (bad magic, unsupported link type)."""


class Frame(NamedTuple):
    number: int  # position in the capture, from 0
    timestamp_ns: int
    ip: bytes | None  # the IP packet, or None when ``problem`` says why there is none
    length: int  # octets captured
    problem: str = ""
    non_ip: bool = False  # a valid frame that simply is not IP (ARP, LLDP...)


def ip_payload(linktype: int, frame: bytes) -> tuple[bytes | None, str, bool]:
    """Strip the link layer: (ip packet, problem, non_ip)."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None, "Ethernet header cut short", False
        ethertype = (frame[12] << 8) | frame[13]
        off = 14
        while ethertype in _VLAN:
            if len(frame) < off + 4:
                return None, "802.1Q tag cut short", False
            ethertype = (frame[off + 2] << 8) | frame[off + 3]
            off += 4
        if ethertype not in _ETH_IP:
            return None, f"ethertype 0x{ethertype:04x} is not IP", True
        return frame[off:], "", False
    if linktype in _RAW_ALIASES:
        return frame, "", False
    if linktype == LINKTYPE_LINUX_SLL:
        return _linux_cooked(frame, "SLL", 16, 14)
    if linktype == LINKTYPE_LINUX_SLL2:
        return _linux_cooked(frame, "SLL2", 20, 0)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(frame) < 4:
            return None, "loopback header cut short", False
        family = int.from_bytes(frame[:4], "big" if linktype == LINKTYPE_LOOP else "little")
        if family > 0xFFFF:  # NULL is host byte order: a big-endian writer
            family = int.from_bytes(frame[:4], "big")
        if family == 2 or family in _BSD_AF_INET6:
            return frame[4:], "", False
        return None, f"loopback family {family} is not IP", True
    raise CaptureError(f"unsupported link type {linktype}")


def _linux_cooked(frame: bytes, name: str, header: int, protocol_at: int) -> tuple[bytes | None, str, bool]:
    """Linux cooked captures (SLL: protocol at 14 of a 16-octet header; SLL2: at 0 of 20)."""
    if len(frame) < header:
        return None, f"Linux {name} header cut short", False
    proto = (frame[protocol_at] << 8) | frame[protocol_at + 1]
    if proto not in _ETH_IP:
        return None, f"{name} protocol 0x{proto:04x} is not IP", True
    return frame[header:], "", False


def read_capture(path: str | Path) -> Iterator[Frame]:
    """Frames of a pcap or pcapng file, in file order."""
    data = Path(path).read_bytes()
    if len(data) < 4:
        raise CaptureError(f"{path}: too short to be a capture ({len(data)} octets)")
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng(data, str(path))
    elif magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        yield from _pcap(data, str(path))
    else:
        raise CaptureError(f"{path}: not a pcap or pcapng file (magic {magic.hex()})")


def frame_of(index: int, ts: int, linktype: int, raw: bytes, problem: str = "") -> Frame:
    if problem:
        return Frame(index, ts, None, len(raw), problem)
    ip, why, non_ip = ip_payload(linktype, raw)
    return Frame(index, ts, ip, len(raw), why, non_ip)


def _pcap(data: bytes, name: str) -> Iterator[Frame]:
    if len(data) < 24:
        raise CaptureError(f"{name}: pcap global header cut short")
    little = data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    nanos = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    end = "<" if little else ">"
    linktype = struct.unpack_from(end + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype not in SUPPORTED_LINKTYPES:
        raise CaptureError(f"{name}: unsupported link type {linktype}")
    record = struct.Struct(end + "IIII")
    scale = 1 if nanos else 1000
    pos, index, size = 24, 0, len(data)
    while pos < size:
        if pos + 16 > size:
            yield Frame(index, 0, None, size - pos, "record header runs past the end of the file")
            return
        sec, frac, caplen, _ = record.unpack_from(data, pos)
        ts = sec * 1_000_000_000 + frac * scale
        pos += 16
        if pos + caplen > size:
            yield Frame(index, ts, None, size - pos, "packet runs past the end of the file")
            return
        yield frame_of(index, ts, linktype, data[pos:pos + caplen])
        pos += caplen
        index += 1


def _pcapng(data: bytes, name: str) -> Iterator[Frame]:
    pos, index, size = 0, 0, len(data)
    end = "<"
    interfaces: list[tuple[int, int]] = []  # (linktype, ticks per second)
    while pos < size:
        if pos + 12 > size:
            yield Frame(index, 0, None, size - pos, "block header runs past the end of the file")
            return
        if data[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":
            bom = data[pos + 8:pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                end = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                end = ">"
            else:
                raise CaptureError(f"{name}: bad pcapng byte-order magic {bom.hex()}")
            interfaces = []
        btype, blen = struct.unpack_from(end + "II", data, pos)
        if blen < 12 or blen % 4 or pos + blen > size:
            yield Frame(index, 0, None, size - pos, f"pcapng block of length {blen} is invalid or cut short")
            return
        body = data[pos + 8:pos + blen - 4]
        if btype == 1:
            linktype = struct.unpack_from(end + "H", body, 0)[0]
            interfaces.append((linktype, _tsresol(body[8:], end)))
        elif btype in (6, 2):
            if len(body) < 20:
                yield Frame(index, 0, None, len(body), "packet block cut short")
            else:
                iface, high, low, caplen, _ = struct.unpack_from(end + "IIIII", body, 0)
                if btype == 2:
                    iface &= 0xFFFF
                if iface >= len(interfaces):
                    yield Frame(index, 0, None, caplen, f"packet names interface {iface}, which was not described")
                else:
                    linktype, per_second = interfaces[iface]
                    ticks = (high << 32) | low
                    ts = ticks * 1_000_000_000 // per_second
                    if 20 + caplen > len(body):
                        yield Frame(index, ts, None, len(body) - 20, "captured length runs past the block")
                    elif linktype not in SUPPORTED_LINKTYPES:
                        yield Frame(index, ts, None, caplen, f"unsupported link type {linktype}")
                    else:
                        yield frame_of(index, ts, linktype, body[20:20 + caplen])
            index += 1
        elif btype == 3:
            if not interfaces:
                yield Frame(index, 0, None, len(body), "simple packet block before any interface")
            else:
                linktype, _ = interfaces[0]
                orig = struct.unpack_from(end + "I", body, 0)[0]
                yield frame_of(index, 0, linktype, body[4:4 + orig])
            index += 1
        pos += blen


def _tsresol(options: bytes, end: str) -> int:
    """if_tsresol (option 9): 10^-n or 2^-n seconds; the default is microseconds."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(end + "HH", options, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[pos + 4]
            return 1 << (value & 0x7F) if value & 0x80 else 10 ** value
        pos += 4 + ((length + 3) & ~3)
    return 1_000_000
