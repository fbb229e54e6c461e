"""A private Prometheus server (Debian's) and an in-process v6ops API for it to scrape; loopback only."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tests.ipam.server import free_port


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """uvicorn on a free port in a thread of this process (so the test can feed the app's metrics)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def prometheus(directory: Path, target: str, rules_file: Path | None = None, token: str | None = None) -> Iterator[str]:
    """Prometheus scraping ``target`` (host:port) every second, with ``token`` as its bearer credential
    (v6ops' /metrics needs one unless it is configured public); yields its base URL once ready."""
    port = free_port()
    config = directory / "prometheus.yml"
    text = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
    if rules_file is not None:
        text += f"rule_files:\n  - {rules_file}\n"
    text += "scrape_configs:\n  - job_name: v6ops\n"
    if token is not None:
        (directory / "scrape.token").write_text(token)
        text += f"    authorization:\n      credentials_file: {directory / 'scrape.token'}\n"
    text += f"    static_configs:\n      - targets: ['{target}']\n"
    config.write_text(text)
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    with open(directory / "prometheus.log", "ab") as log:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start: {(directory / 'prometheus.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    r.raise_for_status()
    return list(r.json()["data"]["result"])


def wait_query(base: str, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = query(base, promql)
        if result:
            return result
        time.sleep(0.25)
    return []
