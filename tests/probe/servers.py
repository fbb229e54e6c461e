"""Servers the probe tests start: the dnspython DNS server and ``v6ops serve-echo``, on loopback or in a netns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
V6OPS = [sys.executable, "-m", "v6ops.cli"]


def _prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def _wait_for(predicate, what: str, proc: subprocess.Popen, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start in {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


@contextmanager
def dns_server(records: Sequence[str], listen: Sequence[str] = ("127.0.0.1",), *, netns: str | None = None,
               port: int = 0, delays: Sequence[str] = (), tmp: Path) -> Iterator[int]:
    """Start the test DNS server; yields its port (UDP and TCP on every listen address)."""
    port_file = tmp / f"dns-{os.getpid()}-{time.monotonic_ns()}.port"
    cmd = [*_prefix(netns), sys.executable, "-m", "tests.probe.dnsserver", "--port", str(port), "--port-file", str(port_file)]
    for host in listen:
        cmd += ["--listen", host]
    for delay in delays:
        cmd += ["--delay", delay]
    proc = subprocess.Popen([*cmd, *records], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        yield int(_wait_for(lambda: port_file.exists() and port_file.read_text(), "DNS server", proc))
    finally:
        _stop(proc)


@contextmanager
def echo_server(listen: Sequence[str] = ("::1", "127.0.0.1"), *, netns: str | None = None, port: int = 0,
                extra: Sequence[str] = ()) -> Iterator[int]:
    """Start ``v6ops serve-echo``; yields its port."""
    cmd = [*_prefix(netns), *V6OPS, "serve-echo", "--port", str(port), *extra]
    for host in listen:
        cmd += ["--listen", host]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = _wait_for(lambda: proc.stderr.readline(), "serve-echo", proc)  # type: ignore[union-attr]
    match = re.search(r"port (\d+)", line)
    assert match, line
    try:
        yield int(match.group(1))
    finally:
        _stop(proc)
