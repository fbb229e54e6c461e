"""Path MTU check in the style of test-ipv6.com's "mtu1280" test.

The client fetches a response larger than 1280 bytes over IPv6. The server sends full-size
segments (the client's MSS says 1500); if a link on the way is smaller, its router answers with
ICMPv6 Packet Too Big (RFC 4443 section 3.2) and the server resends smaller (RFC 8201). When
something drops those messages the connection opens and the request goes through, but the
large response never arrives: a PMTU black hole.

Verdicts: ``pmtu ok`` (the whole large response arrived), ``PMTU black hole`` (connected and
asked, then fewer than 1280 bytes before the timeout), ``pmtu untested`` (could not connect,
or the response was too small to tell; ``reason`` says which).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any

from v6ops.addr import Address
from v6ops.probe.happy import tcp_connect
from v6ops.probe.target import Target

PMTU_OK = "pmtu ok"
PMTU_BLACK_HOLE = "PMTU black hole"
PMTU_UNTESTED = "pmtu untested"
IPV6_MIN_MTU = 1280  # RFC 8200 section 5
# A response this large cannot fit in one 1280-byte packet once IPv6 and TCP headers are counted.
MIN_RESPONSE_BYTES = IPV6_MIN_MTU


async def pmtu_check(target: Target, address: Address, *, timeout: float = 5.0,
                     tls_context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """Fetch ``target.path`` from ``address`` and judge whether large packets get through."""
    result: dict[str, Any] = {"address": str(address), "verdict": PMTU_UNTESTED, "bytes": 0, "elapsed_ms": None,
                              "reason": None}
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            sock = await tcp_connect(address, target.port)
    except (OSError, TimeoutError) as exc:
        result["reason"] = f"cannot connect: {getattr(exc, 'strerror', None) or exc or 'timed out'}"
        return result
    reader, writer = await asyncio.open_connection(sock=sock)
    received = 0
    try:
        async with asyncio.timeout(timeout - (time.perf_counter() - start)):
            if tls_context is not None:
                await writer.start_tls(tls_context, server_hostname=None if target.is_literal else target.host)
            writer.write((f"GET {target.path} HTTP/1.1\r\nHost: {target.authority}\r\nUser-Agent: v6ops-pmtu\r\n"
                          "Accept: */*\r\nConnection: close\r\n\r\n").encode())
            await writer.drain()
            while chunk := await reader.read(65536):
                received += len(chunk)
    except TimeoutError:
        result.update(bytes=received, elapsed_ms=round((time.perf_counter() - start) * 1000, 3))
        if received < MIN_RESPONSE_BYTES:
            result.update(verdict=PMTU_BLACK_HOLE,
                          reason=f"connected, but only {received} bytes of the response in {timeout:g} s")
        else:
            result["reason"] = f"the response was still arriving after {timeout:g} s ({received} bytes)"
        return result
    except (OSError, ssl.SSLError) as exc:
        result.update(bytes=received, reason=f"connection failed: {getattr(exc, 'strerror', None) or exc}")
        return result
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    result.update(bytes=received, elapsed_ms=round((time.perf_counter() - start) * 1000, 3))
    if received < MIN_RESPONSE_BYTES:
        result["reason"] = f"the response ({received} bytes) is too small to need packets over {IPV6_MIN_MTU} bytes"
    else:
        result["verdict"] = PMTU_OK
    return result


def pmtu_verdict(checks: list[dict[str, Any]]) -> str | None:
    """One verdict for a target: a black hole on any IPv6 address outweighs the others."""
    verdicts = {c["verdict"] for c in checks}
    if not verdicts:
        return None
    if PMTU_BLACK_HOLE in verdicts:
        return PMTU_BLACK_HOLE
    return PMTU_OK if PMTU_OK in verdicts else PMTU_UNTESTED
