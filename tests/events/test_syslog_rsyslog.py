"""The syslog sink judged by a real rsyslogd (Debian) started by the test on loopback ports."""

from datetime import UTC, datetime

import pytest

from tests.events.rsyslog import Rsyslog
from tests.events.servers import self_signed
from tests.events.test_cef import decode
from v6ops.events import SecurityEvent
from v6ops.events.cef import format_cef
from v6ops.events.outbox import BufferConfig, RetryPolicy
from v6ops.events.rfc5424 import SyslogHeader
from v6ops.events.syslog import SyslogSink, TlsConfig

pytestmark = pytest.mark.requires("rsyslogd")
FAST = RetryPolicy(max_retries=1, retry_delay=0.01)
BUF = BufferConfig(max_buffer_size=10_000, batch_size=100, flush_interval=3600)
HEADER = SyslogHeader(hostname="vmhost-1", procid="4242")


def ev(n: int, **kw) -> SecurityEvent:
    base = {"timestamp": datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC), "event_id": f"e{n:05d}",
            "vm_id": f"vm-{n % 3}", "customer_id": "acme", "event_type": "source_validation_failed",
            "severity": "error", "source_ip": "2001:db8::1", "description": "source outside the allowed prefixes",
            "details": {"rule": "bcp38-spoofed-source", "n": n}}
    base.update(kw)
    return SecurityEvent(**base)


HOSTILE = ev(9999, vm_id='vm"]\\ act=allow', customer_id="c|u=s\\t",
             description='line1\nline2 | x=y \\ "q" ]', details={"k": "a=b\nc|d"})


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory):
    directory = tmp_path_factory.mktemp("rsyslog")
    server = Rsyslog(directory, tls=self_signed(directory)).start()
    yield server
    server.stop()


def received(rsyslog, n):
    rows = [r for r in rsyslog.wait_for(n)]
    return rows


def check_row(row, event):
    assert row["pri"] == str(4 * 8 + 3) and row["version"] == "1"
    assert row["hostname"] == "vmhost-1" and row["app"] == "v6ops" and row["procid"] == "4242"
    assert row["msgid"] == event.event_type.value
    assert f'eventId="{event.event_id}"' in row["sd"]
    assert row["msg"] == format_cef(event)


def test_udp_rfc5424_with_cef(rsyslog):
    before = len(rsyslog.records())
    sink = SyslogSink("127.0.0.1", rsyslog.udp_port, transport="udp", header=HEADER, retry=FAST, buffer=BUF)
    events = [ev(n) for n in range(20)] + [HOSTILE]
    for e in events:
        sink.emit(e)
    sink.close()
    rows = [r for r in received(rsyslog, before + 21)[before:] if r["input"] == "imudp"]
    assert len(rows) == 21
    for row, e in zip(rows, events, strict=True):
        check_row(row, e)
    _, ext = decode(rows[-1]["msg"])
    assert ext["cs1"] == HOSTILE.vm_id and ext["msg"] == HOSTILE.description and "act" not in ext
    assert 'vmId="vm\\"\\]\\\\ act=allow"' in rows[-1]["sd"]


def test_tcp_octet_counting_no_trailer(rsyslog):
    """Frames are sent back to back with no LF: rsyslog can only split them by the octet counts."""
    before = len(rsyslog.records())
    sink = SyslogSink("127.0.0.1", rsyslog.tcp_port, transport="tcp", header=HEADER, retry=FAST, buffer=BUF)
    events = [ev(n) for n in range(500)] + [HOSTILE, ev(501, description="caf\u00e9 \u2192 ok")]
    for e in events:
        sink.emit(e)
    sink.close()
    rows = [r for r in received(rsyslog, before + len(events))[before:] if r["input"] == "imtcp"]
    assert len(rows) == len(events)
    for row, e in zip(rows[:-1], events[:-1], strict=True):
        check_row(row, e)
    assert rows[-1]["msg"].lstrip("\ufeff") == format_cef(events[-1])
    assert sink.dropped == 0


def test_tls_rfc5425(rsyslog):
    before = len(rsyslog.records())
    cert = rsyslog.dir / "localhost.crt"
    sink = SyslogSink("127.0.0.1", rsyslog.tls_port, transport="tls", header=HEADER, retry=FAST, buffer=BUF,
                      tls=TlsConfig(ca_file=str(cert), server_name="localhost"))
    events = [ev(n) for n in range(50)]
    for e in events:
        sink.emit(e)
    sink.close()
    rows = [r for r in received(rsyslog, before + 50)[before:] if r["input"] == "tls"]
    assert len(rows) == 50
    for row, e in zip(rows, events, strict=True):
        check_row(row, e)


def test_tls_refuses_an_unknown_server_certificate(rsyslog, tmp_path):
    other, _ = self_signed(tmp_path, "other")
    sink = SyslogSink("127.0.0.1", rsyslog.tls_port, transport="tls", retry=RetryPolicy(max_retries=0), buffer=BUF,
                      tls=TlsConfig(ca_file=str(other), server_name="localhost"))
    sink.emit(ev(1))
    sink.flush()
    assert sink.outbox.pending == 1 and "CERTIFICATE_VERIFY_FAILED" in sink.outbox.last_error
    sink.close()
    assert sink.dropped == 1


def test_tcp_receiver_restart_loses_nothing(tmp_path):
    server = Rsyslog(tmp_path / "rs").start()
    sink = SyslogSink("127.0.0.1", server.tcp_port, transport="tcp", header=HEADER, retry=FAST, buffer=BUF,
                      spool_dir=tmp_path / "spool")
    try:
        for n in range(10):
            sink.emit(ev(n))
        sink.flush()
        assert len(server.wait_for(10)) == 10
        server.stop()
        for n in range(10, 30):
            sink.emit(ev(n))
        sink.flush()
        assert sink.outbox.pending == 20
        server.start()
        sink.flush()
        rows = server.wait_for(30)
        assert [r["sd"].split('eventId="')[1][:6] for r in rows] == [f"e{n:05d}" for n in range(30)]
    finally:
        sink.close()
        server.stop()


def test_udp_message_too_big_for_a_datagram_is_cut_not_stuck(tmp_path):
    import socket

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sink = SyslogSink("127.0.0.1", rx.getsockname()[1], transport="udp", header=HEADER, retry=FAST, buffer=BUF)
    sink.emit(ev(1, description="x" * 100_000))
    sink.emit(ev(2))
    sink.close()
    first, second = rx.recv(1 << 17), rx.recv(1 << 17)
    rx.close()
    assert len(first) == 65_000 and sink.connection.truncated == 1
    assert second.endswith(format_cef(ev(2)).encode()) and sink.dropped == 0
