"""The vectorised whole-capture path decides exactly what the full per-packet walk decides.

``evaluate_capture`` classifies the common case over numpy rows and runs the token
buckets vectorised; ``evaluate_frames`` parses and decides every packet on its own.
On generated mixes (every shape the classifier accepts or rejects, damage, VLAN tags,
IPv4, and limits tight enough that the buckets, ``ct count`` and the echo limit all
reject) both must give the same verdict, rule, counters and events for every packet.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    IPv6ExtHdrSegmentRouting,
    PadN,
    fragment6,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import PcapWriter

from tests.policy.engine_helpers import strict_policy
from v6ops.policy.batch import evaluate_capture
from v6ops.policy.evaluator import Evaluator, NftLimit, evaluate_frames
from v6ops.policy.normalized import ICMPv6Policy, RateLimits
from v6ops.policy.pcap import read_capture

DST = "2001:db8:1::2"
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
SLLA = ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")


def _shapes() -> list[list[bytes]]:
    """Frames (a fragmented datagram is several) covering the common case and everything that leaves it."""
    src = "2001:db8:1000::10"
    out: list[list[bytes]] = []
    for pkt in (
        IPv6(src=src, dst=DST) / TCP(sport=40000, dport=443, flags="S"),
        IPv6(src=src, dst=DST) / TCP(sport=40001, dport=22, flags="A") / (b"d" * 100),
        IPv6(src=src, dst=DST) / UDP(sport=40002, dport=53) / (b"q" * 30),
        IPv6(src=src, dst=DST) / UDP(sport=40003, dport=5353),
        IPv6(src=DST, dst=src) / UDP(sport=53, dport=40002),  # the reply direction
        IPv6(src=src, dst=DST) / ICMPv6EchoRequest(id=7) / (b"p" * 8),
        IPv6(src=src, dst=DST) / ICMPv6EchoReply(id=7),
        IPv6(src=src, dst=DST) / ICMPv6DestUnreach() / IPv6(src=DST, dst=src) / UDP(),
        IPv6(src="fe80::2", dst=DST, hlim=255) / ICMPv6ND_NS(tgt=DST) / SLLA,
        IPv6(src="fe80::2", dst=DST, hlim=64) / ICMPv6ND_NA(tgt="fe80::2"),
        IPv6(src="::", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt=DST),
        IPv6(src="::", dst=DST) / UDP(dport=53),
        IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / SLLA,
        IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / ICMPv6NDOptPrefixInfo(),
        IPv6(src=src, dst=DST) / IPv6ExtHdrHopByHop() / UDP(dport=53),
        IPv6(src=src, dst=DST) / IPv6ExtHdrDestOpt() / TCP(dport=443),
        IPv6(src=src, dst=DST) / IPv6ExtHdrRouting(type=0, segleft=1, addresses=[DST]) / UDP(dport=53),
        IPv6(src=src, dst=DST) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrDestOpt() / UDP(dport=53),
        IPv6(src=src, dst=DST) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[DST]) / UDP(dport=53),
        IPv6(src=src, dst=DST) / IPv6ExtHdrRouting(type=3, segleft=0, addresses=[DST]) / TCP(dport=443),
        IPv6(src=src, dst=DST) / IPv6ExtHdrSegmentRouting(addresses=[DST]) / UDP(dport=53),
        IPv6(src=src, dst=DST) / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 12)]) / TCP(dport=443),
        IPv6(src="2a00:1450::1", dst=DST) / IPv6ExtHdrHopByHop() / UDP(dport=53),
        IPv6(src="2a00:1450::1", dst=DST) / TCP(dport=443),
        IPv6(src="2001:db8:dead::1", dst=DST) / UDP(dport=53),
        IPv6(src="fd00::1", dst=DST) / ICMPv6EchoRequest(),
        IP(src="192.0.2.1", dst="192.0.2.2") / UDP(dport=53),
    ):
        out.append([bytes(ETH / pkt)])
    out.append([bytes(ETH / f) for f in fragment6(IPv6(src=src, dst=DST) / IPv6ExtHdrFragment(id=9) / UDP(dport=53)
                                                  / (b"f" * 1500), 1000)])
    out.append([bytes(Ether() / Dot1Q(vlan=5) / IPv6(src=src, dst=DST) / UDP(dport=53))])
    out.append([bytes(Ether() / ARP())])
    cut_tcp = bytearray(bytes(ETH / IPv6(src=src, dst=DST) / IPv6ExtHdrHopByHop() / TCP(dport=443)))
    cut_tcp[18:20] = (18).to_bytes(2, "big")  # the payload ends inside the TCP header
    out.append([bytes(cut_tcp[:14 + 40 + 18])])
    whole = bytes(ETH / IPv6(src=src, dst=DST) / TCP(dport=443))
    out.append([whole[:50]])  # cut by the snap length
    bad = bytearray(whole)
    bad[18:20] = (900).to_bytes(2, "big")  # payload length past the capture
    out.append([bytes(bad)])
    return out


SHAPES = _shapes()
# Small enough that every stateful limit rejects something in a mix 100 us apart.
TIGHT = replace(strict_policy(), rates=RateLimits(pps=12_000, pps_burst=5, bytes_per_second=10_000, bytes_burst=3000,
                                                  connections=4),
                icmpv6=ICMPv6Policy(echo_per_second=1))


def _write(path: Path, frames: list[tuple[int, bytes]], cut: int) -> Path:
    chunks = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for ts_us, frame in frames:
        chunks.append(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame)) + frame)
    data = b"".join(chunks)
    path.write_bytes(data[:len(data) - cut])
    return path


mixes = st.lists(st.tuples(st.integers(0, len(SHAPES) - 1), st.integers(0, 7), st.integers(0, 3_000)),
                 min_size=1, max_size=150)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mix=mixes, tight=st.booleans(), keep=st.booleans(), cut=st.sampled_from([0, 0, 0, 5, 20]),
       allowed=st.sampled_from([frozenset({0, 43, 44, 60}), frozenset({0, 44}), frozenset({43, 60})]))
def test_fast_path_and_full_walk_agree_packet_by_packet(tmp_path: Path, mix: list[tuple[int, int, int]],
                                                        tight: bool, keep: bool, cut: int,
                                                        allowed: frozenset[int]) -> None:
    frames: list[tuple[int, bytes]] = []
    ts = 1_700_000_000_000_000
    for shape, host, gap in mix:
        for frame in SHAPES[shape]:
            stamped = bytearray(frame)
            if stamped[22:28] == b"\x20\x01\x0d\xb8\x10\x00":  # vary the host (and so the flow)
                stamped[37] = host
            ts += gap
            frames.append((ts, bytes(stamped)))
    path = _write(tmp_path / "mix.pcap", frames, cut)
    policy = strict_policy()
    if tight:  # small enough that every stateful limit rejects something
        policy = TIGHT
    policy = replace(policy, exthdr=replace(policy.exthdr, allowed=allowed))
    full, batched = Evaluator(policy, keep_events=keep), Evaluator(policy, keep_events=keep)
    expected = [(v.verdict, v.rule) for v in evaluate_frames(full, read_capture(path))]
    got = evaluate_capture(batched, path)
    assert list(zip(got.verdicts, got.rules, strict=True)) == expected
    assert batched.counters == full.counters
    assert batched.events() == full.events()


def test_the_mix_reaches_every_stage(tmp_path: Path) -> None:
    """The shapes really exercise the common case, the full walk and every stateful rejection, and agree."""
    # ten shapes at once every millisecond: bursts for the packet bucket, volume for the byte bucket
    frames = [(1_700_000_000_000_000 + i // 10 * 1000, f) for i, shape in enumerate(SHAPES * 20) for f in shape]
    path = _write(tmp_path / "all.pcap", frames, 0)
    expected = [(v.verdict, v.rule) for v in evaluate_frames(Evaluator(TIGHT), read_capture(path))]
    got = evaluate_capture(Evaluator(TIGHT), path)
    assert list(zip(got.verdicts, got.rules, strict=True)) == expected
    assert {"policy-accept", "rate-pps", "rate-bandwidth", "rate-connections", "icmpv6-echo-rate",
            "service-port-blocked", "rfc4890-4.3.1", "rfc4890-4.3.3-nd", "rfc4890-4.3.3-hop-limit", "malformed",
            "non-ip", "reassembly", "bcp38-spoofed-source", "rfc5095-rh0", "guard-accept"} <= set(got.rules)


@pytest.mark.parametrize(("linktype", "endian", "nano"), [(101, ">", True), (229, "<", False), (1, ">", True)])
def test_raw_ip_and_big_endian_captures_agree(tmp_path: Path, linktype: int, endian: str, nano: bool) -> None:
    """The vectorised path reads raw-IP link types and both byte orders and timestamp units like the reader."""
    path = tmp_path / "other.pcap"
    writer = PcapWriter(str(path), linktype=linktype, endianness=endian, nano=nano, sync=True)
    for i, frame in enumerate(f for shape in SHAPES * 5 for f in shape):
        record = Raw(frame if linktype == 1 else frame[14:])
        record.time = 1_700_000_000 + i / 10_000
        writer.write(record)
    writer.close()
    expected = [(v.verdict, v.rule) for v in evaluate_frames(Evaluator(TIGHT), read_capture(path))]
    got = evaluate_capture(Evaluator(TIGHT), path)
    assert list(zip(got.verdicts, got.rules, strict=True)) == expected


@pytest.mark.parametrize("tail", [b"", b"\x01\x02", struct.pack("<IIII", 1, 2, 100, 100) + b"abc"])
def test_empty_and_cut_files_agree(tmp_path: Path, tail: bytes) -> None:
    """No packet at all, a record header cut short, a packet cut short: nothing raises, damage is counted."""
    path = tmp_path / "short.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + tail)
    full, batched = Evaluator(strict_policy()), Evaluator(strict_policy())
    expected = [(v.verdict, v.rule, v.timestamp_ns) for v in evaluate_frames(full, read_capture(path))]
    got = evaluate_capture(batched, path)
    assert list(zip(got.verdicts, got.rules, got.timestamps, strict=True)) == expected
    assert batched.counters == full.counters
    assert batched.events() == full.events()


@given(gaps=st.lists(st.integers(-50, 5_000), min_size=1, max_size=400), sizes=st.lists(st.integers(40, 1500),
                                                                                     min_size=400, max_size=400),
       in_bytes=st.booleans())
def test_vectorised_token_bucket_is_the_kernel_bucket(gaps: list[int], sizes: list[int], in_bytes: bool) -> None:
    """``NftLimit.over_many`` against ``NftLimit.over`` one packet at a time, out-of-order timestamps included."""
    times = np.cumsum(np.asarray(gaps, np.int64) * 1000) + 10**18
    lengths = np.asarray(sizes[:len(gaps)], np.int64)
    one, many = NftLimit(1000, 1, 8, in_bytes), NftLimit(1000, 1, 8, in_bytes)
    if in_bytes:
        one, many = NftLimit(300_000, 1, 5000, True), NftLimit(300_000, 1, 5000, True)
    expected = [one.over(int(t), int(n)) for t, n in zip(times, lengths, strict=True)]
    assert many.over_many(times, lengths).tolist() == expected
    assert (many.tokens, many.last) == (one.tokens, one.last)
