"""ASGI middleware that records which family and address a client came from.

It sets ``X-Client-Protocol`` (``IPv6``/``IPv4``) and ``X-Client-IP`` on every HTTP response
(the seed's dual-stack server headers), unwraps IPv4-mapped addresses (``::ffff:192.0.2.1``
is an IPv4 client of a dual-stack socket, RFC 4291 section 2.5.5.2), and believes
``Forwarded`` (RFC 7239) or ``X-Forwarded-For`` only when the TCP peer is inside one of the
configured proxy prefixes. The chain is walked from the right: each hop that is itself a
trusted proxy is skipped, and the first one that is not is the client. Unlike the seed's
Flask code it never takes a header from an untrusted peer, and never guesses the family from
the text (``startswith('2001:')``): the address is parsed.

The result is also left in ``scope["state"]["client"]`` as a ``ClientAddress``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from v6ops.addr import Address, Prefix

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_MAPPED = Prefix.parse("::ffff:0:0/96")


@dataclass(frozen=True)
class ClientAddress:
    address: Address | None  # None when the peer or the forwarded hop is not an address ("unknown", a Unix socket)
    port: int | None
    peer: Address | None  # the TCP peer, after unwrapping
    forwarded: bool  # True when the address came from a trusted proxy's header

    @property
    def protocol(self) -> str:
        return f"IPv{self.address.version}" if self.address else "unknown"


def unwrap(address: Address) -> Address:
    """An IPv4-mapped IPv6 address as the IPv4 address it stands for; any other address unchanged."""
    if address.version == 6 and _MAPPED.contains(address):
        return Address(4, address.value & 0xFFFFFFFF)
    return address


def _parse_address(text: str) -> Address | None:
    try:
        return unwrap(Address.parse(text.split("%", 1)[0]))
    except ValueError:
        return None


def parse_node(text: str, *, bare_ipv6: bool = False) -> tuple[Address | None, int | None]:
    """An RFC 7239 section 6 node: ``192.0.2.43``, ``"[2001:db8::1]:4711"``, ``198.51.100.1:80``, ``unknown``, ``_hidden``.

    ``bare_ipv6``: X-Forwarded-For writes IPv6 without brackets (never with a port then).
    """
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].replace('\\"', '"')
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None, None
        host, rest = text[1:end], text[end + 1:]
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
        elif rest:
            return None, None
        return _parse_address(host), port
    if text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address is not valid here (section 6)
        host, _, port_text = text.partition(":")
        return _parse_address(host), int(port_text) if port_text.isdigit() else None
    if ":" in text and not bare_ipv6:
        return None, None
    return _parse_address(text), None


def forwarded_for(value: str) -> list[str]:
    """The ``for=`` nodes of a Forwarded header (RFC 7239 section 4), in order, one per element."""
    nodes: list[str] = []
    for element in _split_quoted(value, ","):
        for pair in _split_quoted(element, ";"):
            name, sep, node = pair.partition("=")
            if sep and name.strip().lower() == "for":
                nodes.append(node.strip())
    return nodes


def _split_quoted(value: str, sep: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


class ClientAddressMiddleware:
    """Wraps an ASGI app; ``trusted_proxies`` are the prefixes whose forwarding headers are believed."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[Prefix | str] = ()) -> None:
        self.app = app
        self.trusted = [p if isinstance(p, Prefix) else Prefix.parse(p, strict=False) for p in trusted_proxies]

    def _trusted(self, address: Address | None) -> bool:
        return address is not None and any(p.version == address.version and p.contains(address) for p in self.trusted)

    def resolve(self, peer_host: str | None, peer_port: int | None, headers: Sequence[tuple[bytes, bytes]]) -> ClientAddress:
        peer = _parse_address(peer_host) if peer_host else None
        client = ClientAddress(peer, peer_port, peer, False)
        if not self._trusted(peer):
            return client
        forwarded = [v.decode("latin-1") for k, v in headers if k.lower() == b"forwarded"]
        if forwarded:
            hops = [parse_node(n) for n in forwarded_for(",".join(forwarded))]
        else:
            xff = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
            hops = [parse_node(n, bare_ipv6=True) for n in ",".join(xff).split(",") if n.strip()]
        for address, port in reversed(hops):
            client = ClientAddress(address, port, peer, True)
            if not self._trusted(address):
                break  # the first hop from the right that is not one of our proxies is the client
        return client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        peer_host, peer_port = scope.get("client") or (None, None)
        client = self.resolve(peer_host, peer_port, scope.get("headers", []))
        scope.setdefault("state", {})["client"] = client
        if client.address is not None:
            scope["client"] = (str(client.address), client.port or 0)
        extra = [(b"x-client-protocol", client.protocol.encode()),
                 (b"x-client-ip", (str(client.address) if client.address else "unknown").encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
