"""The HTTPS SIEM sink against a real local HTTPS server (self-signed certificate) taken down and brought back."""

import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from tests.events.servers import SiemServer, self_signed
from v6ops.events import SecurityEvent
from v6ops.events.outbox import BufferConfig, RetryPolicy, spool_backlog
from v6ops.events.siem import SiemSink, read_token

FAST = RetryPolicy(max_retries=2, retry_delay=0.01, backoff_multiplier=2, max_retry_delay=0.05)


def ev(n: int) -> SecurityEvent:
    return SecurityEvent(timestamp=datetime(2026, 1, 1, tzinfo=UTC), event_id=f"e{n:05d}", vm_id="vm-1",
                         customer_id="acme", event_type="rate_limit_exceeded", severity="warning",
                         source_ip="2001:db8::1")


def ids(server):
    return [json.loads(line)["event_id"] for line in server.lines]


@pytest.fixture
def tls(tmp_path):
    return self_signed(tmp_path)


def sink_for(server, cert, tmp_path=None, size=50, batch=10, **kw):
    return SiemSink(server.url, token="s3cret-token", verify=str(cert), retry=FAST,
                    buffer=BufferConfig(max_buffer_size=size, batch_size=batch, flush_interval=3600),
                    spool_dir=tmp_path, **kw)


def wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_outage_shorter_than_the_buffer_loses_nothing(tls, caplog):
    cert, key = tls
    server = SiemServer(cert, key).start()
    sink = sink_for(server, cert)
    caplog.set_level(logging.DEBUG)
    try:
        for n in range(5):
            sink.emit(ev(n))
        sink.flush()
        assert ids(server) == [f"e{n:05d}" for n in range(5)]
        server.stop()
        for n in range(5, 45):
            sink.emit(ev(n))
        sink.flush()
        assert sink.outbox.pending == 40 and sink.dropped == 0 and sink.outbox.failures >= 1
        server.start()  # same port
        sink.flush()
        assert ids(server) == [f"e{n:05d}" for n in range(45)]
        assert sink.dropped == 0 and sink.outbox.pending == 0
        assert set(server.auth) == {"Bearer s3cret-token"}
    finally:
        sink.close()
        server.stop()
    assert "s3cret-token" not in caplog.text


def test_dropped_counter_is_exactly_the_overflow_and_the_newest_survive(tls):
    cert, key = tls
    server = SiemServer(cert, key).start()
    server.stop()
    # A batch larger than the buffer never wakes the delivery thread, so no attempt is in flight when the
    # SIEM comes back (one that was would deliver events already counted as dropped, and uncount them).
    sink = sink_for(server, cert, batch=100)
    try:
        for n in range(67):
            sink.emit(ev(n))
        assert sink.dropped == 17 and sink.outbox.pending == 50
        server.start()
        sink.flush()
        assert ids(server) == [f"e{n:05d}" for n in range(17, 67)]
        assert sink.dropped == 17
    finally:
        sink.close()
        server.stop()


def test_background_thread_delivers_on_the_flush_interval(tls):
    cert, key = tls
    server = SiemServer(cert, key).start()
    sink = SiemSink(server.url, verify=str(cert), retry=FAST,
                    buffer=BufferConfig(max_buffer_size=100, batch_size=100, flush_interval=0.05))
    try:
        for n in range(3):
            sink.emit(ev(n))
        assert wait_for(lambda: len(server.lines) == 3)
        assert server.auth == [None]
    finally:
        sink.close()
        server.stop()


def test_restart_mid_outage_loses_nothing_spooled(tls, tmp_path):
    """A v6ops process spools 30 events during an outage and dies without closing (os._exit);
    a new sink on the same spool delivers all of them once the SIEM is back."""
    cert, key = tls
    server = SiemServer(cert, key).start()
    server.stop()
    spool = tmp_path / "spool"
    script = f"""
import os, sys
sys.path.insert(0, {os.getcwd()!r})
from tests.events.test_siem import ev, FAST
from v6ops.events.outbox import BufferConfig
from v6ops.events.siem import SiemSink
sink = SiemSink({server.url!r}, verify={str(cert)!r}, retry=FAST, spool_dir={str(spool)!r},
                buffer=BufferConfig(max_buffer_size=50, batch_size=10, flush_interval=3600))
for n in range(30):
    sink.emit(ev(n))
sink.flush()
print(sink.outbox.pending, sink.dropped, flush=True)
os._exit(0)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["30", "0"]
    assert spool_backlog(spool).pending == 30
    server.start()
    sink = sink_for(server, cert, spool)  # adopts the dead process's folder and delivers it at once
    try:
        sink.flush()
        assert ids(server) == [f"e{n:05d}" for n in range(30)]
        assert sink.outbox.stats()["delivered"] == 30
    finally:
        sink.close()
        server.stop()
    # delivered: the spool is empty, a third start sends nothing again
    server.start()
    again = sink_for(server, cert, spool)
    try:
        assert again.outbox.pending == 0
    finally:
        again.close()
        server.stop()


def test_graceful_close_during_outage_keeps_the_spool_and_the_dropped_count(tls, tmp_path):
    cert, key = tls
    server = SiemServer(cert, key).start()
    server.stop()
    sink = sink_for(server, cert, tmp_path, size=20)
    for n in range(25):
        sink.emit(ev(n))
    sink.close()
    assert (spool_backlog(tmp_path).pending, spool_backlog(tmp_path).dropped) == (20, 5)
    server.start()
    sink = sink_for(server, cert, tmp_path, size=20)
    try:
        assert sink.dropped == 5
        sink.flush()
        assert sink.dropped == 5  # carried over from the adopted folder, counted once
        assert ids(server) == [f"e{n:05d}" for n in range(5, 25)]
    finally:
        sink.close()
        server.stop()


def test_refused_events_are_counted_and_kept(tls, tmp_path):
    cert, key = tls
    server = SiemServer(cert, key).start()
    server.status = 400
    sink = sink_for(server, cert, tmp_path)
    try:
        for n in range(3):
            sink.emit(ev(n))
        sink.flush()
        assert sink.outbox.rejected == 3 and sink.outbox.pending == 0
        kept = (sink.outbox.spool.dir / "rejected.jsonl").read_text().splitlines()
        assert [json.loads(x)["event_id"] for x in kept] == ["e00000", "e00001", "e00002"]
        assert len(server.auth) == 1  # a 400 is not retried
    finally:
        sink.close()
        server.stop()


def test_server_errors_are_retried_with_the_policy(tls):
    cert, key = tls
    server = SiemServer(cert, key).start()
    server.status = 503
    sink = sink_for(server, cert)
    try:
        sink.emit(ev(1))
        sink.flush()
        assert len(server.auth) == 3 and sink.outbox.pending == 1  # 1 try + 2 retries
        server.status = 200
        sink.flush()
        assert ids(server) == ["e00001"]
    finally:
        sink.close()
        server.stop()


def test_untrusted_certificate_is_not_accepted(tls, tmp_path):
    cert, key = tls
    other, _ = self_signed(_mkdir(tmp_path / "o"), "other")
    server = SiemServer(cert, key).start()
    sink = SiemSink(server.url, verify=str(other), retry=RetryPolicy(max_retries=0),
                    buffer=BufferConfig(max_buffer_size=10, batch_size=10, flush_interval=3600))
    try:
        sink.emit(ev(1))
        sink.flush()
        assert server.lines == [] and sink.outbox.pending == 1
        assert "CERTIFICATE_VERIFY_FAILED" in sink.outbox.last_error
    finally:
        sink.close()
        server.stop()
    assert sink.dropped == 1  # closed without a spool: counted, not silently lost


def _mkdir(p):
    p.mkdir()
    return p


def test_token_sources(tmp_path, monkeypatch):
    f = tmp_path / "tok"
    f.write_text("abc\n")
    assert read_token(token_file=f) == "abc"
    monkeypatch.setenv("SIEM_AUTH_TOKEN", "envtok")
    assert read_token() == "envtok"
    with pytest.raises(ValueError, match="nope"):
        read_token(token_file=tmp_path / "nope")
