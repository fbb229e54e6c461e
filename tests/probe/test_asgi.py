"""The client-address middleware and the echo app, driven through httpx's ASGI transport with chosen peers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6ops.addr import Address
from v6ops.probe.asgi import ClientAddressMiddleware, forwarded_for, parse_node, unwrap
from v6ops.probe.echo import create_echo_app

PROXIES = ["10.0.0.0/8", "2001:db8:ffff::/48"]


def get(peer: tuple[str, int], path: str = "/health", headers: dict[str, str] | None = None,
        proxies: list[str] = PROXIES) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_echo_app(proxies), client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://echo.test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


def seen(response: httpx.Response) -> tuple[str, str]:
    return response.headers["x-client-protocol"], response.headers["x-client-ip"]


def test_direct_clients_of_each_family():
    assert seen(get(("2001:db8::5", 1234))) == ("IPv6", "2001:db8::5")
    assert seen(get(("192.0.2.5", 1234))) == ("IPv4", "192.0.2.5")


def test_ipv4_mapped_peer_is_an_ipv4_client():
    response = get(("::ffff:192.0.2.9", 1234))
    assert seen(response) == ("IPv4", "192.0.2.9")
    body = response.json()
    assert body["protocol"] == "IPv4" and body["client_ip"] == "192.0.2.9"
    assert body["status"] == "healthy" and body["server_capabilities"] == ["IPv4", "IPv6"] and body["timestamp"]


def test_headers_from_untrusted_peers_are_ignored():
    spoof = {"X-Forwarded-For": "2001:db8::bad", "Forwarded": 'for="[2001:db8::bad]"'}
    assert seen(get(("192.0.2.5", 1), headers=spoof)) == ("IPv4", "192.0.2.5")
    assert seen(get(("2001:db8:fffe::1", 1), headers=spoof)) == ("IPv6", "2001:db8:fffe::1")


def test_forwarded_rfc7239_with_bracketed_ipv6_and_port_from_a_trusted_proxy():
    headers = {"Forwarded": 'for="[2001:db8:cafe::17]:4711";proto=https, for=10.1.1.1'}
    assert seen(get(("10.0.0.2", 1), headers=headers)) == ("IPv6", "2001:db8:cafe::17")


def test_forwarded_beats_x_forwarded_for():
    headers = {"Forwarded": "for=192.0.2.60", "X-Forwarded-For": "198.51.100.1"}
    assert seen(get(("10.0.0.2", 1), headers=headers)) == ("IPv4", "192.0.2.60")


def test_x_forwarded_for_chain_stops_at_the_first_untrusted_hop_from_the_right():
    # The client may prepend anything; only hops our proxies appended are believed.
    headers = {"X-Forwarded-For": "203.0.113.66, 2001:db8:beef::1, 10.9.9.9"}
    assert seen(get(("2001:db8:ffff::2", 1), headers=headers)) == ("IPv6", "2001:db8:beef::1")
    headers = {"X-Forwarded-For": "::ffff:198.51.100.7"}
    assert seen(get(("10.0.0.2", 1), headers=headers)) == ("IPv4", "198.51.100.7")


def test_obfuscated_or_unknown_forwarded_node_is_unknown():
    assert seen(get(("10.0.0.2", 1), headers={"Forwarded": "for=unknown"})) == ("unknown", "unknown")
    assert seen(get(("10.0.0.2", 1), headers={"Forwarded": "for=_hidden"})) == ("unknown", "unknown")


def test_unbracketed_ipv6_in_forwarded_is_not_split_on_a_colon():
    # RFC 7239 section 6: IPv6 must be bracketed and quoted; 2001:db8::1:80 must not become host 2001:db8::1 port 80.
    assert parse_node("2001:db8::1:80") == (None, None)
    assert parse_node('"[2001:db8::1]:80"') == (Address.parse("2001:db8::1"), 80)
    assert parse_node("192.0.2.1:8080") == (Address.parse("192.0.2.1"), 8080)


def test_forwarded_for_parsing_handles_quotes_and_case():
    assert forwarded_for('For="[2001:db8::1]:80";by=x, for="a,b";proto=http, host=h') == ['"[2001:db8::1]:80"', '"a,b"']


@given(st.integers(0, 2**32 - 1))
def test_unwrap_mapped(value):
    assert unwrap(Address(6, (0xFFFF << 32) | value)) == Address(4, value)
    assert unwrap(Address(4, value)) == Address(4, value)


def test_echo_root_page_escapes_and_unknown_path_404():
    page = get(("2001:db8::5", 1), path="/")
    assert "Connected via: IPv6" in page.text and "2001:db8::5" in page.text
    assert get(("2001:db8::5", 1), path="/nope").status_code == 404
    assert len(get(("2001:db8::5", 1), path="/payload?bytes=4000").content) == 4000
    assert get(("2001:db8::5", 1), path="/payload?bytes=-1").status_code == 400


def test_middleware_rejects_bad_proxy_prefix():
    with pytest.raises(ValueError, match="2001:db8::/200"):
        ClientAddressMiddleware(create_echo_app(), ["2001:db8::/200"])
