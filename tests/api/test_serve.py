"""`v6ops serve` answers on IPv6 and IPv4 at once (separate V6ONLY sockets)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def test_serve_listens_on_both_families(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path), "V6OPS_PORT": str(port),
           "V6OPS_LISTEN": json.dumps(["::1", "127.0.0.1"])}
    proc = subprocess.Popen([sys.executable, "-m", "v6ops.cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        seen: dict[str, int] = {}
        while time.monotonic() < deadline and len(seen) < 2:
            for host in ("[::1]", "127.0.0.1"):
                try:
                    seen[host] = httpx.get(f"http://{host}:{port}/health", timeout=1).status_code
                except httpx.TransportError:
                    time.sleep(0.1)
        assert seen == {"[::1]": 200, "127.0.0.1": 200}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    first = json.loads(err.splitlines()[0])
    assert first["msg"] == "listening" and first["port"] == port


def test_serve_reports_a_taken_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path)}
        proc = subprocess.run([sys.executable, "-m", "v6ops.cli", "serve", "--port", str(port), "--listen", "127.0.0.1"],
                              env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert f"cannot listen on [127.0.0.1]:{port}" in proc.stderr and "Traceback" not in proc.stderr
