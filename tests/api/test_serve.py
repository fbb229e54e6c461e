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
import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def test_serve_listens_on_both_families(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path), "V6OPS_PORT": str(port),
           "V6OPS_LISTEN": json.dumps(["::1", "127.0.0.1"]), "V6OPS_WORKERS": "1"}
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


@pytest.mark.slow
def test_serve_with_two_workers_shares_one_sqlite_database(tmp_path: Path) -> None:
    """Two worker processes on the same sockets; SQLite in WAL mode takes writes from both."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.api_client import bearer, make_token, wait_healthy
    from v6ops.ipam import service
    from v6ops.ipam.plan import parse_plan
    from v6ops.store.db import open_store

    url = f"sqlite:///{tmp_path / 'v6ops.db'}"
    service.plan_apply(open_store(url), parse_plan({"vrfs": ["global"], "pools": [{
        "name": "p", "role": "residential", "lab": True, "ipv4": {"prefix": "100.64.0.0/24", "customer_length": 32},
        "ipv6_delegation": {"prefix": "2001:db8::/56", "customer_length": 64}}]}))
    headers = bearer(make_token(url, "operator"))
    port = _free_port()
    env = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path), "V6OPS_PORT": str(port), "V6OPS_LISTEN": '["::1"]',
           "V6OPS_WORKERS": "2", "V6OPS_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "v6ops.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://[::1]:{port}"
    try:
        wait_healthy(base, proc)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 2, children  # (the other child is multiprocessing's resource tracker)

        def provision(i: int) -> int:
            return httpx.post(f"{base}/api/v1/ipam/subscribers", headers=headers, timeout=30,
                              json={"name": f"w{i}", "pool": "p"}).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(provision, range(40))) == {201}
        listed = httpx.get(f"{base}/api/v1/ipam/subscribers?limit=100", headers=headers).json()
        assert len({s["ipv6_prefix"] for s in listed}) == 40
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
def test_serve_workers_spool_apart_and_a_restart_delivers_every_event_once(tmp_path: Path) -> None:
    """`v6ops serve --workers 2` with the SIEM down: each worker spools into its own folder and
    /health/ipv6 counts them all; after a stop, a restart with the SIEM up delivers every event once."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from tests.api_client import bearer, make_token, wait_healthy
    from tests.events.servers import SiemServer, self_signed
    from v6ops.events.outbox import spool_folders

    cert, key = self_signed(tmp_path)
    siem = SiemServer(cert, key).start()
    siem.stop()  # the port is closed until the restart
    token_file = tmp_path / "siem-token"
    token_file.write_text("siem-secret\n")
    url = f"sqlite:///{tmp_path / 'v6ops.db'}"
    headers = bearer(make_token(url, "operator"))
    port = _free_port()
    env = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path), "V6OPS_PORT": str(port), "V6OPS_LISTEN": '["::1"]',
           "V6OPS_WORKERS": "2", "V6OPS_LOG_LEVEL": "warning", "V6OPS_EVENTS_SIEM_URL": siem.url,
           "V6OPS_EVENTS_SIEM_TOKEN_FILE": str(token_file), "V6OPS_EVENTS_SIEM_CA": str(cert)}
    base = f"http://[::1]:{port}"
    spool = tmp_path / "spool" / "siem"

    def event(n: int) -> dict[str, str]:
        return {"timestamp": datetime(2026, 1, 1, tzinfo=UTC).isoformat(), "event_id": f"e{n:03d}", "vm_id": "vm-1",
                "customer_id": "acme", "event_type": "ra_blocked", "severity": "warning"}

    def post(n: int) -> int:
        with httpx.Client(timeout=30) as client:  # a connection each, so both workers take some
            return client.post(f"{base}/api/v1/security/events", headers=headers, json=[event(n)]).status_code

    proc = subprocess.Popen([sys.executable, "-m", "v6ops.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(base, proc)
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(post, range(40))) == {201}
        assert len(spool_folders(spool)) == 2  # one folder per worker: each opened its sinks at start
        health = httpx.get(f"{base}/health/ipv6").json()
        assert health["details"]["event_delivery_backlog"].startswith("40 events waiting"), health
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    siem.start()
    proc = subprocess.Popen([sys.executable, "-m", "v6ops.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(base, proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(siem.lines) < 40:
            time.sleep(0.1)
        got = [json.loads(x)["event_id"] for x in siem.lines]
        assert sorted(got) == [f"e{n:03d}" for n in range(40)]  # every event, each once
        health = httpx.get(f"{base}/health/ipv6").json()
        assert health["details"]["event_delivery_backlog"].startswith("0 events waiting"), health
        assert set(siem.auth) == {"Bearer siem-secret"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        siem.stop()
    assert len(siem.lines) == 40  # the stop sent nothing again
