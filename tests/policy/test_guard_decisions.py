"""The guard's per-packet decision and bookkeeping, with stand-in queued packets (the kernel path is in kernel/)."""

from __future__ import annotations

import pytest
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, IPv6

from tests.policy.engine_helpers import strict_policy
from v6ops.policy.guard import RECENT_EVENTS, Guard


class Queued:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.verdict = ""

    def get_payload(self) -> bytes:
        return self.payload

    def accept(self) -> None:
        self.verdict = "accept"

    def drop(self) -> None:
        self.verdict = "drop"


SLLA = ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")


def _ra(*options) -> bytes:  # type: ignore[no-untyped-def]
    pkt = ICMPv6ND_RA()
    for opt in options:
        pkt = pkt / opt
    return bytes(IPv6(src="fe80::1", dst="ff02::1", hlim=255) / pkt)


def test_guard_accepts_clean_ras_and_drops_blocked_options_and_garbage() -> None:
    guard = Guard(strict_policy())
    packets = [Queued(_ra(SLLA)), Queued(_ra(SLLA, ICMPv6NDOptPrefixInfo())), Queued(b"\x60\x00")]
    for pkt in packets:
        guard.handle(pkt)
    assert [p.verdict for p in packets] == ["accept", "drop", "drop"]
    assert guard.stats.as_dict()["rules"] == {"guard-accept": 1, "rfc6105-blocked-option": 1, "malformed": 1}


def test_a_failing_check_drops_the_packet(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = Guard(strict_policy())

    def broken(payload: bytes) -> str | None:
        raise RuntimeError("boom")

    monkeypatch.setattr(guard, "decide", broken)
    pkt = Queued(_ra(SLLA))
    guard.handle(pkt)
    assert pkt.verdict == "drop" and guard.stats.rules["guard-error"] == 1


def test_events_are_bounded() -> None:
    guard = Guard(strict_policy())
    for _ in range(RECENT_EVENTS + 5):
        guard.handle(Queued(b"\x60"))
    assert guard.stats.dropped == RECENT_EVENTS + 5 and len(guard.stats.events) == RECENT_EVENTS


def test_guard_feeds_metrics_and_a_sink() -> None:
    from v6ops.events import MemorySink
    from v6ops.policy.metrics import SecurityMetrics

    metrics, sink = SecurityMetrics(), MemorySink()
    guard = Guard(strict_policy(), metrics=metrics, sink=sink)
    bad_ra = bytes(IPv6(src="fe80::99", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / SLLA / ICMPv6NDOptPrefixInfo())
    guard.handle(Queued(bad_ra))
    assert len(sink.events) == 1 and sink.events[0].event_type.value == "ra_blocked"
    assert sink.events[0].source_ip == "fe80::99" and sink.events[0].source == "policy.evaluator"
    text = metrics.exposition().decode()
    assert 'metald_ipv6_ra_guard_blocks_total{customer_id="' in text and 'source_ip="fe80::99"' in text
    assert 'metald_ipv6_source_validation_latency_seconds_count{validation_type="guard",vm_id="strict"} 1.0' in text
