"""Evaluator state: nft_limit token buckets, the conntrack model behind ``ct count``, events."""

from __future__ import annotations

from dataclasses import replace

from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

from tests.policy.engine_helpers import decide, strict_policy
from v6ops.policy.evaluator import NS, Evaluator, NftLimit

A, B = "2001:db8:1::1", "2001:db8:1::2"


def test_packet_bucket_holds_burst_and_refills_at_rate() -> None:
    bucket = NftLimit(rate=10, unit_s=1, burst=3, in_bytes=False)
    assert [bucket.over(0, 1) for _ in range(4)] == [False, False, False, True]
    assert bucket.over(NS // 10, 1) is False  # 100 ms later one token is back
    assert bucket.over(NS // 10, 1) is True


def test_byte_bucket_is_rate_plus_burst_deep() -> None:
    bucket = NftLimit(rate=1000, unit_s=1, burst=500, in_bytes=True)
    assert bucket.over(0, 1500) is False  # nft_limit: tokens_max = nsecs * (rate + burst) / rate
    assert bucket.over(0, 1) is True


def test_connection_limit_counts_new_connections_once_and_lets_replies_through() -> None:
    policy = strict_policy(rates=replace(strict_policy().rates, connections=2), services=None)
    first = IPv6(src=A, dst=B) / TCP(sport=1000, dport=443, flags="S")
    reply = IPv6(src=B, dst=A) / TCP(sport=443, dport=1000, flags="SA")
    again = IPv6(src=A, dst=B) / TCP(sport=1000, dport=443, flags="A")
    second = IPv6(src=A, dst=B) / UDP(sport=2000, dport=53)
    third = IPv6(src=A, dst=B) / ICMPv6EchoRequest(id=9)
    third_reply = IPv6(src=B, dst=A) / ICMPv6EchoReply(id=9)
    got = decide([first, reply, again, second, third, third_reply, third], policy)
    assert [r for _, r in got] == ["policy-accept", "policy-accept",
                                   "policy-accept", "policy-accept", "rate-connections", "policy-accept",
                                   "rate-connections"]


def test_drops_become_seed_security_events() -> None:
    evaluator = Evaluator(strict_policy())
    evaluator.evaluate(bytes(IPv6(src="2a00:1450::1", dst=B) / UDP(dport=53)), 5, 0)
    evaluator.evaluate(bytes(IPv6(src=A, dst=B) / UDP(dport=53)), 6, 1)
    events = evaluator.events()
    assert len(events) == 1
    event = events[0].to_dict()
    assert (event["event_type"], event["severity"], event["vm_id"]) == ("source_validation_failed", "error", "strict")
    assert event["details"]["rule"] == "bcp38-spoofed-source" and event["source_ip"] == "2a00:1450::1"
    assert event["details"]["timestamp_ns"] == 5 and event["source"] == "policy.evaluator"
    assert event["destination_ip"] == B and event["customer_id"] == strict_policy().isolation.tenant
    assert Evaluator(strict_policy()).events() == []
    again = Evaluator(strict_policy())
    again.evaluate(bytes(IPv6(src="2a00:1450::1", dst=B) / UDP(dport=53)), 5, 0)
    assert again.events()[0].event_id == events[0].event_id  # same capture, same ids
    assert evaluator.summary() == {"bcp38-spoofed-source": 1, "policy-accept": 1}
