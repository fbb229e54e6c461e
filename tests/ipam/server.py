"""A real v6ops API server (uvicorn) in a subprocess on a free loopback port, with an admin token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.api_client import bearer, make_token

SERVER = (
    "import sys, uvicorn\n"
    "from v6ops.api.app import create_app\n"
    "from v6ops.settings import Settings\n"
    "uvicorn.run(create_app(Settings(database_url=sys.argv[1])), host='127.0.0.1', port=int(sys.argv[2]),\n"
    "            log_level='warning', access_log=False)\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_server(database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Yields the base URL and the headers (an admin bearer token) to call it with."""
    headers = bearer(make_token(database_url))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, database_url, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/ipam/adoption", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API server did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield base, headers
    finally:
        proc.terminate()
        proc.wait(timeout=10)
