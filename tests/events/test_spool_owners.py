"""One owner per spool folder: several processes (as ``v6ops serve --workers N``) spool into one spool
directory while the SIEM is down, and later starts deliver every event exactly once, never touching
the folder of a process that still runs. Real processes, a real HTTPS SIEM on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.events.servers import SiemServer, self_signed
from v6ops.events.outbox import LOCK_FILE, BufferConfig, RetryPolicy, spool_backlog, spool_folders
from v6ops.events.siem import SiemSink
from v6ops.health import ipv6_health

FAST = RetryPolicy(max_retries=1, retry_delay=0.01, backoff_multiplier=2, max_retry_delay=0.05)
PER_WORKER = 25

# One worker process: opens the sink, says which folder it owns, waits for "go", spools its events
# (the SIEM is down), then ends as told: "crash" (os._exit, nothing closed), "close" (graceful) or
# "hold" (stays alive until told again, then crashes).
WORKER = """
import os, sys
from datetime import UTC, datetime
from v6ops.events import SecurityEvent
from v6ops.events.outbox import BufferConfig, RetryPolicy
from v6ops.events.siem import SiemSink
spool, url, cert, worker, end, count = sys.argv[1:7]
sink = SiemSink(url, verify=cert, spool_dir=spool,
                retry=RetryPolicy(max_retries=1, retry_delay=0.01, backoff_multiplier=2, max_retry_delay=0.05),
                buffer=BufferConfig(max_buffer_size=100, batch_size=10, flush_interval=3600))
print(sink.outbox.spool.dir.name, sink.outbox.pending, flush=True)
sys.stdin.readline()
for n in range(int(count)):
    sink.emit(SecurityEvent(timestamp=datetime(2026, 1, 1, tzinfo=UTC), event_id=f"{worker}-{n:03d}", vm_id="vm-1",
                            customer_id="acme", event_type="rate_limit_exceeded", severity="warning"))
ok = sink.outbox.flush()
print("spooled", ok, sink.outbox.pending, flush=True)
if end == "close":
    sink.close()
    os._exit(0)
if end == "hold":
    sys.stdin.readline()
os._exit(0)
"""


def start_worker(spool: Path, server: SiemServer, cert: Path, worker: str, end: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WORKER, str(spool), server.url, str(cert), worker, end, str(PER_WORKER)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def tell(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def line(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    return proc.stdout.readline().split()


def received(server: SiemServer) -> list[str]:
    return [json.loads(x)["event_id"] for x in server.lines]


def expected(*workers: str) -> list[str]:
    return sorted(f"{w}-{n:03d}" for w in workers for n in range(PER_WORKER))


def open_sink(server: SiemServer, cert: Path, spool: Path) -> SiemSink:
    return SiemSink(server.url, verify=str(cert), retry=FAST, spool_dir=spool,
                    buffer=BufferConfig(max_buffer_size=100, batch_size=10, flush_interval=3600))


@pytest.fixture
def siem(tmp_path):
    cert, key = self_signed(tmp_path)
    server = SiemServer(cert, key).start()
    server.stop()  # the port is closed until a test starts it again
    yield server, cert
    server.stop()


def test_workers_spool_apart_and_a_restart_delivers_every_event_once(siem, tmp_path):
    server, cert = siem
    spool = tmp_path / "spool" / "siem"
    ends = {"w0": "crash", "w1": "crash", "w2": "close", "w3": "hold"}
    procs = {w: start_worker(spool, server, cert, w, end) for w, end in ends.items()}
    try:
        # all four run at once, each in a folder of its own
        owned = {w: line(p) for w, p in procs.items()}
        assert len({name for name, _ in owned.values()}) == 4
        assert sorted(name for name, _ in owned.values()) == [f.name for f in spool_folders(spool)]
        for p in procs.values():
            tell(p)
        for w, p in procs.items():
            assert line(p) == ["spooled", "False", str(PER_WORKER)], w  # the SIEM is down: all kept
        for w in ("w0", "w1", "w2"):
            assert procs[w].wait(timeout=60) == 0
        # /health/ipv6 counts the backlog of every folder, live owner or not
        report = ipv6_health(f"sqlite:///{tmp_path / 'h.db'}", timedelta(hours=1), tmp_path / "spool")
        assert spool_backlog(spool).pending == 4 * PER_WORKER
        assert report.details["event_delivery_backlog"].startswith(f"{4 * PER_WORKER} events waiting")

        # restart with the SIEM up: the three gone workers' events, once; w3 still runs: its folder is not touched
        server.start()
        sink = open_sink(server, cert, spool)
        try:
            assert sink.outbox.flush()
            assert sorted(received(server)) == expected("w0", "w1", "w2")
            assert sink.outbox.stats()["delivered"] == 3 * PER_WORKER
        finally:
            sink.close()
        assert [f.name for f in spool_folders(spool)] == [owned["w3"][0]]
        assert spool_backlog(spool).pending == PER_WORKER

        # w3 dies; the next start adopts its folder
        tell(procs["w3"])
        assert procs["w3"].wait(timeout=60) == 0
        sink = open_sink(server, cert, spool)
        try:
            assert sink.outbox.flush() and sink.outbox.stats()["delivered"] == PER_WORKER
        finally:
            sink.close()
        assert sorted(received(server)) == expected("w0", "w1", "w2", "w3")  # every event exactly once

        # nothing is left: a third start sends nothing again and the spool holds no folder
        before = len(server.lines)
        sink = open_sink(server, cert, spool)
        try:
            assert sink.outbox.pending == 0 and sink.outbox.flush()
        finally:
            sink.close()
        assert len(server.lines) == before and spool_folders(spool) == [] and spool_backlog(spool).pending == 0
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_two_restarts_at_once_split_the_orphans_without_sending_any_twice(siem, tmp_path):
    """Two new workers start together on four orphaned folders: each folder goes to exactly one of them."""
    server, cert = siem
    spool = tmp_path / "spool"
    procs = {f"w{k}": start_worker(spool, server, cert, f"w{k}", "crash") for k in range(4)}
    for p in procs.values():
        line(p)
    for p in procs.values():
        tell(p)
    for p in procs.values():
        line(p)
        assert p.wait(timeout=60) == 0
    server.start()
    # two restarted workers (processes, so their locks are separate) adopt and deliver at the same time
    restart = """
import sys
from v6ops.events.outbox import BufferConfig, RetryPolicy
from v6ops.events.siem import SiemSink
spool, url, cert = sys.argv[1:4]
sink = SiemSink(url, verify=cert, spool_dir=spool, retry=RetryPolicy(max_retries=3, retry_delay=0.05),
                buffer=BufferConfig(max_buffer_size=100, batch_size=10, flush_interval=3600))
ok = sink.outbox.flush()
print(sink.outbox.stats()["delivered"], ok, flush=True)
sink.close()
"""
    runs = [subprocess.Popen([sys.executable, "-c", restart, str(spool), server.url, str(cert)],
                             stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [r.communicate(timeout=120)[0].split() for r in runs]
    assert all(r.returncode == 0 for r in runs)
    assert sum(int(delivered) for delivered, _ in outs) == 4 * PER_WORKER  # the orphans were split, none twice
    assert sorted(received(server)) == expected("w0", "w1", "w2", "w3")
    assert spool_folders(spool) == []


def test_a_folder_whose_owner_runs_is_never_adopted(tmp_path):
    """Within one process too: a second Outbox on the same spool leaves the first one's folder alone."""
    from v6ops.events.outbox import DeliveryError, Outbox

    def down(batch: list[bytes]) -> None:
        raise DeliveryError("down")

    first = Outbox(down, retry=RetryPolicy(max_retries=0), spool_dir=tmp_path)
    first.put(b'{"n": 1}')
    second = Outbox(down, retry=RetryPolicy(max_retries=0), spool_dir=tmp_path)
    try:
        assert second.pending == 0 and first.pending == 1
        assert (first.spool.dir / LOCK_FILE).exists() and first.spool.dir != second.spool.dir
    finally:
        first.close()
        second.close()
    third = Outbox(down, retry=RetryPolicy(max_retries=0), spool_dir=tmp_path)
    try:
        assert third.pending == 1  # the first closed: its record is adopted
    finally:
        third.close()
