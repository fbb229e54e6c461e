"""The dual-stack echo server's ASGI app (``v6ops serve-echo``).

``/health`` answers with the seed's body (status, protocol, client_ip, timestamp,
server_capabilities); ``/`` says how the client connected; ``/payload?bytes=N`` sends N bytes
(up to 1 MiB) so a client can test path MTU handling with a response larger than 1280 bytes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import parse_qs

from v6ops.addr import Prefix
from v6ops.probe.asgi import ASGIApp, ClientAddress, ClientAddressMiddleware, Receive, Scope, Send

MAX_PAYLOAD = 1 << 20


async def _respond(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    client: ClientAddress = scope["state"]["client"]
    client_ip = str(client.address) if client.address else "unknown"
    path = scope["path"]
    if path == "/health":
        body = {"status": "healthy", "protocol": client.protocol, "client_ip": client_ip,
                "timestamp": datetime.now(UTC).isoformat(), "server_capabilities": ["IPv4", "IPv6"]}
        await _respond(send, 200, "application/json", json.dumps(body).encode())
    elif path == "/":
        page = (f"<html><body><h1>Dual-Stack Application</h1><p>Connected via: {client.protocol}</p>"
                f"<p>Client IP: {html.escape(client_ip)}</p><p>Server supports both IPv4 and IPv6</p></body></html>")
        await _respond(send, 200, "text/html; charset=utf-8", page.encode())
    elif path == "/payload":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        text = (query.get("bytes") or ["1600"])[0]
        if not text.isdigit() or int(text) > MAX_PAYLOAD:
            await _respond(send, 400, "text/plain", f"bytes must be 0-{MAX_PAYLOAD}\n".encode())
            return
        await _respond(send, 200, "application/octet-stream", b"v" * int(text))
    else:
        await _respond(send, 404, "text/plain", b"not found\n")


def create_echo_app(trusted_proxies: Iterable[Prefix | str] = ()) -> ASGIApp:
    return ClientAddressMiddleware(echo_app, trusted_proxies)
