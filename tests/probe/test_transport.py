"""httpx over the Happy Eyeballs racer, against serve-echo on loopback."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from tests.probe.servers import echo_server
from tests.probe.test_happy import LoopbackResolver
from v6ops.probe.transport import HappyEyeballsTransport


def test_httpx_client_races_and_reports_the_winner():
    with echo_server(listen=("::1", "127.0.0.1")) as port:
        resolver = LoopbackResolver({("dual.test", 6): ["::1"], ("dual.test", 4): ["127.0.0.1"]})

        async def go():
            transport = HappyEyeballsTransport(resolver=resolver)
            async with httpx.AsyncClient(transport=transport) as client:
                body = (await client.get(f"http://dual.test:{port}/health")).json()
            return body, transport.backend.last_trace

        body, trace = asyncio.run(go())
    assert body["protocol"] == "IPv6" and body["client_ip"] == "::1"
    assert str(trace.winner) == "::1" and trace.queries[0].rdtype == "AAAA"


def test_httpx_falls_back_to_ipv4_when_ipv6_refuses():
    with echo_server(listen=("127.0.0.1",)) as port:
        resolver = LoopbackResolver({("dual.test", 6): ["::1"], ("dual.test", 4): ["127.0.0.1"]})

        async def go():
            async with httpx.AsyncClient(transport=HappyEyeballsTransport(resolver=resolver)) as client:
                return (await client.get(f"http://dual.test:{port}/health")).json()

        assert asyncio.run(go())["protocol"] == "IPv4"


def test_httpx_connect_error_when_nothing_answers():
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
    resolver = LoopbackResolver({("dual.test", 6): ["::1"]})

    async def go():
        async with httpx.AsyncClient(transport=HappyEyeballsTransport(resolver=resolver)) as client:
            await client.get(f"http://dual.test:{port}/")

    with pytest.raises(httpx.ConnectError, match="every attempt failed"):
        asyncio.run(go())
