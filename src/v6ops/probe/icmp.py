"""ICMP and ICMPv6 echo, when the system permits it.

An unprivileged "ping" socket (``SOCK_DGRAM``, allowed by ``net.ipv4.ping_group_range``) is
tried first, then a raw socket (root or CAP_NET_RAW). When neither is allowed the result
says "not permitted" rather than failing the probe.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from dataclasses import dataclass

from v6ops.addr import Address

NOT_PERMITTED = "not permitted (needs ping_group_range or CAP_NET_RAW)"
ECHO_REQUEST = {4: 8, 6: 128}  # RFC 792; RFC 4443 section 4.1
ECHO_REPLY = {4: 0, 6: 129}


@dataclass(frozen=True)
class EchoResult:
    rtt_ms: float | None
    error: str | None


def _checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _open(version: int) -> tuple[socket.socket, bool] | None:
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if version == 6 else socket.IPPROTO_ICMP
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            return socket.socket(family, kind, proto), kind == socket.SOCK_RAW
        except PermissionError:
            continue
    return None


def _packet(version: int, ident: int, seq: int, token: bytes) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST[version], 0, 0, ident, seq)
    if version == 6:
        return header + token  # the kernel fills in the ICMPv6 checksum (RFC 3542 section 3.1)
    return struct.pack("!BBHHH", ECHO_REQUEST[4], 0, _checksum(header + token), ident, seq) + token


def _is_reply(version: int, raw: bool, data: bytes, token: bytes) -> bool:
    if version == 4 and raw:
        data = data[(data[0] & 0x0F) * 4:]  # raw IPv4 sockets deliver the IP header too
    return len(data) >= 8 + len(token) and data[0] == ECHO_REPLY[version] and data[8:8 + len(token)] == token


async def echo(address: Address, timeout: float = 2.0) -> EchoResult:
    """One echo request; the round trip in ms, or why there is none."""
    opened = _open(address.version)
    if opened is None:
        return EchoResult(None, NOT_PERMITTED)
    sock, raw = opened
    loop = asyncio.get_running_loop()
    token = os.urandom(16)
    with sock:
        sock.setblocking(False)
        target: tuple[object, ...] = (str(Address(6, address.value)), 0, 0, 0) if address.version == 6 else (str(address), 0)
        start = loop.time()
        try:
            await loop.sock_sendto(sock, _packet(address.version, os.getpid() & 0xFFFF, 1, token), target)
            async with asyncio.timeout(timeout):
                while True:
                    data = await loop.sock_recv(sock, 2048)
                    if _is_reply(address.version, raw, data, token):
                        return EchoResult(round((loop.time() - start) * 1000, 3), None)
        except TimeoutError:
            return EchoResult(None, f"no reply in {timeout:g} s")
        except OSError as exc:
            return EchoResult(None, exc.strerror or str(exc))
