"""Run the app on every listen address, IPv6 sockets IPv6-only so :: and 0.0.0.0 coexist."""

from __future__ import annotations

import logging
import socket

import uvicorn

from v6ops.api.app import create_app
from v6ops.logs import configure_logging
from v6ops.settings import Settings

log = logging.getLogger("v6ops.server")


class ServerError(RuntimeError):
    """The server cannot start (a port taken, an address not on this host)."""


def bind_sockets(addresses: list[str], port: int) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    for host in addresses:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # Without V6ONLY, [::] would also take IPv4 and the 0.0.0.0 bind would fail.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            for s in sockets:
                s.close()
            raise ServerError(f"cannot listen on [{host}]:{port}: {exc.strerror}") from exc
        sock.listen(1024)
        sockets.append(sock)
    return sockets


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    sockets = bind_sockets(settings.listen, settings.port)
    log.info("listening", extra={"addresses": settings.listen, "port": settings.port})
    config = uvicorn.Config(app, log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=sockets)
