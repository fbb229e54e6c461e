"""A realistic IPv6 traffic mix for the policy benchmarks, written as a pcap without scapy in the loop.

About 60 distinct packet shapes are built once with scapy (TCP and UDP services,
ICMPv6 echo and errors, ND, RAs, extension-header chains, fragments, spoofed and
bogon sources); the generator then stamps copies with varying source addresses,
ports and timestamps straight into pcap records, so a million packets take seconds.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6PacketTooBig,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.l2 import Ether
from scapy.packet import Raw

DST = "2001:db8:1::2"
POLICY_YAML = """\
profile: high
ra_guard:
  enabled: true
  block_all_ra: false
  allowed_routers: ["fe80::1"]
  max_ra_rate: 20
  block_config: {block_prefix_info: true, block_rdnss: true}
source_validation:
  strict_ingress: true
  allowed_ingress_prefixes: ["2001:db8:1::/64", "2001:db8:1000::/48"]
  block_private_addresses: true
  reverse_path_filtering: true
extension_headers: {mode: SELECTIVE, allowed_types: [0, 43, 44, 60], max_chain_length: 3, fragment_policy: REASSEMBLE}
rate_limits:
  max_pps_per_vm: 500000
  max_bandwidth_per_vm: 1073741824
  max_connections_per_vm: 100000
  method: TOKEN_BUCKET
  burst_config: {burst_packets: 50000, burst_duration_ms: 100}
"""


def _templates() -> list[tuple[int, list[bytes]]]:
    """(weight, frames) pairs: most shapes are one frame, a fragmented datagram is all of its fragments."""
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    src = "2001:db8:1000::10"
    slla = ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
    out: list[tuple[int, list[bytes]]] = []

    def add(weight: int, *pkts: object) -> None:
        out.append((weight, [bytes(eth / pkt) for pkt in pkts]))  # type: ignore[operator]

    for port, w in ((443, 300), (80, 120), (22, 20), (8080, 20)):
        add(w, IPv6(src=src, dst=DST) / TCP(sport=50000, dport=port, flags="A") / Raw(b"d" * 200))
    add(30, IPv6(src=src, dst=DST) / TCP(sport=50000, dport=443, flags="S"))
    for port, w in ((53, 150), (123, 20), (5353, 10)):
        add(w, IPv6(src=src, dst=DST) / UDP(sport=50000, dport=port) / Raw(b"q" * 60))
    add(40, IPv6(src=src, dst=DST) / ICMPv6EchoRequest(id=1, seq=1) / Raw(b"p" * 56))
    add(10, IPv6(src=src, dst=DST) / ICMPv6PacketTooBig(mtu=1280) / IPv6(src=DST, dst=src) / UDP())
    add(30, IPv6(src="fe80::2", dst=DST, hlim=255) / ICMPv6ND_NS(tgt=DST) / slla)
    add(20, IPv6(src="fe80::2", dst=DST, hlim=255) / ICMPv6ND_NA(tgt="fe80::2"))
    add(5, IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / slla)
    add(3, IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / slla / ICMPv6NDOptPrefixInfo())
    add(2, IPv6(src="fe80::66", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / slla)
    add(30, IPv6(src=src, dst=DST) / IPv6ExtHdrHopByHop() / UDP(dport=53) / Raw(b"h" * 40))
    add(20, IPv6(src=src, dst=DST) / IPv6ExtHdrDestOpt() / TCP(dport=443) / Raw(b"o" * 100))
    add(10, IPv6(src=src, dst=DST) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[DST]) / UDP(dport=53))
    add(5, IPv6(src=src, dst=DST) / IPv6ExtHdrRouting(type=0, segleft=1, addresses=[DST]) / UDP(dport=53))
    add(5, IPv6(src=src, dst=DST) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(
        type=2, segleft=1, addresses=[DST]) / IPv6ExtHdrDestOpt() / UDP(dport=53))
    add(20, *fragment6(IPv6(src=src, dst=DST) / IPv6ExtHdrFragment(id=5) / UDP(dport=53) / Raw(b"f" * 1800), 1000))
    add(40, IPv6(src="2a00:1450::1", dst=DST) / TCP(dport=443, flags="S"))
    add(20, IPv6(src="2001:db8:dead::1", dst=DST) / UDP(dport=53))
    add(10, IPv6(src="fd00::1", dst=DST) / UDP(dport=53))
    return out


def write_mix(path: Path, count: int, seed: int = 1) -> None:
    """``count`` packets of the mix; sources and ports vary so caches see realistic churn."""
    rng = random.Random(seed)
    templates = _templates()
    weights = [w for w, _ in templates]
    groups = [[bytearray(f) for f in frames] for _, frames in templates]
    record = struct.Struct("<IIII")
    chunks = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    ts = 1_700_000_000_000_000  # microseconds
    picks = rng.choices(range(len(groups)), weights=weights, k=count)
    written, i = 0, 0
    while written < count:
        group = groups[picks[i]]
        host = i % 4096  # one VM talks to a few thousand peers
        for frame in group[: count - written]:
            if frame[22:28] == b"\x20\x01\x0d\xb8\x10\x00":  # stamp a host inside the allowed /48
                frame[36] = host >> 8
                frame[37] = host & 0xFF
            if frame[20] == 44:  # Fragment header right after IPv6: a fresh identification per datagram
                frame[58:62] = i.to_bytes(4, "big")
            ts += rng.randrange(1, 4)
            chunks.append(record.pack(ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
            chunks.append(bytes(frame))
            written += 1
        i += 1
    path.write_bytes(b"".join(chunks))

