"""Run the app on every listen address, IPv6 sockets IPv6-only so :: and 0.0.0.0 coexist.

With several workers the sockets are bound once here and shared by uvicorn's worker processes
(each rebuilds the app from the settings passed in ``V6OPS_SERVE_SETTINGS``); SQLite serves them
all in WAL mode, PostgreSQL with a connection pool per process sized so the workers together
stay under ``DB_CONNECTIONS_TOTAL``.
"""

from __future__ import annotations

import logging
import os
import socket
import sys

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from v6ops.api.app import create_app
from v6ops.auth.credentials import ensure_first_admin
from v6ops.logs import configure_logging
from v6ops.policy.event_pipeline import EventConfigError, resolve_event_settings
from v6ops.settings import Settings
from v6ops.store.db import configure_pool, open_store

log = logging.getLogger("v6ops.server")
SETTINGS_ENV = "V6OPS_SERVE_SETTINGS"
MAX_DEFAULT_WORKERS = 8
# PostgreSQL's default max_connections is 100: leave room for psql, migrations and other clients.
DB_CONNECTIONS_TOTAL = 64


class ServerError(RuntimeError):
    """The server cannot start (a port taken, an address not on this host)."""


def bind_sockets(addresses: list[str], port: int) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    for host in addresses:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP.
        # Without it Nagle's algorithm meets the client's delayed ACK and every response waits ~40 ms
        # (about 300 requests/s instead of thousands; benchmarks/api_load.py found it).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


def worker_count(settings: Settings) -> int:
    return settings.workers or max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def _pool_per_worker(workers: int) -> int:
    return max(4, DB_CONNECTIONS_TOTAL // workers)


def serve_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory), from the settings the parent passed."""
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_level, settings.log_format)
    configure_pool(_pool_per_worker(worker_count(settings)))
    return create_app(settings)


def first_start(settings: Settings) -> None:
    """On an empty database: make the admin and print a one-time sign-in URL on the terminal.

    Printed to stdout directly, never through the log (the log must not carry secrets); the link
    works once and for 24 hours, and ``v6ops user sign-in-link admin`` makes another.
    """
    from v6ops.cli.access import sign_in_url

    secret = ensure_first_admin(open_store(settings.resolved_database_url()))
    if secret:
        sys.stdout.write("\nv6ops first start: sign in as 'admin' with this one-time link (valid 24 h):\n\n"
                         f"    {sign_in_url(settings, secret)}\n\n")
        sys.stdout.flush()


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    try:
        # The sinks open in each worker on first use: a bad event setting is found here, before listening.
        resolve_event_settings(settings)
    except EventConfigError as exc:
        raise ServerError(f"cannot start: {exc}") from exc
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    workers = worker_count(settings)
    first_start(settings)
    sockets = bind_sockets(settings.listen, settings.port)
    log.info("listening", extra={"addresses": settings.listen, "port": settings.port, "workers": workers})
    if workers == 1:
        configure_pool(_pool_per_worker(1))
        uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, access_log=False)).run(sockets=sockets)
        return
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    config = uvicorn.Config("v6ops.api.server:serve_app", factory=True, workers=workers, log_config=None,
                            access_log=False)
    Multiprocess(config, sockets=sockets).run()
