"""The crafted packets of the kernel-agreement test, one case per behaviour, each with its own flow label.

The flow label is how a delivered packet is recognised in the receiver: it survives
extension headers and reassembly unchanged. ``expect`` is what the policy is meant
to do; the test checks it as well as kernel/evaluator agreement, so that agreement
on a policy that does nothing could not pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    ICMPv6MLQuery,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_Redirect,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptRDNSS,
    ICMPv6NDOptRouteInfo,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    IPv6ExtHdrSegmentRouting,
    RouterAlert,
    fragment6,
)
from scapy.packet import Packet, Raw

from tests.policy.kernel.netns import IPV4_LABEL
from tests.policy.kernel.netns import RECEIVER_ADDR as DST
from tests.policy.kernel.netns import RECEIVER_ADDR4 as DST4
from tests.policy.kernel.netns import SENDER_ADDR as SRC
from tests.policy.kernel.netns import SENDER_ADDR4 as SRC4

ROUTER = "fe80::1"
ALL_NODES = "ff02::1"
LABEL_BASE = 0x50000
PACE = 0.02  # seconds between cases: below the policy's pps limit
RA_PACE = 0.15  # after an RA: the RA bucket (600/min) earns a token every 100 ms


@dataclass
class Case:
    name: str
    packets: list[Packet]
    expect: str  # accept | drop | mixed
    per_packet: bool = False  # bursts: every packet has its own label
    gap: float = PACE
    labels: list[int] = field(default_factory=list)


def _ra(*options: Packet, src: str = ROUTER, hlim: int = 255, code: int = 0) -> Packet:
    ra = ICMPv6ND_RA(code=code, routerlifetime=1800)
    for opt in options:
        ra = ra / opt
    return IPv6(src=src, dst=ALL_NODES, hlim=hlim) / ra


def _udp(port: int = 53, src: str = SRC, size: int = 16) -> Packet:
    return IPv6(src=src, dst=DST) / UDP(sport=40000, dport=port) / Raw(b"x" * size)


def _rh(rtype: int, segleft: int = 1) -> Packet:
    return IPv6ExtHdrRouting(type=rtype, segleft=segleft, addresses=[DST])


def build_cases() -> list[Case]:
    slla = ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
    c: list[Case] = [
        Case("udp-allowed-port", [_udp()], "accept"),
        Case("udp-blocked-port", [_udp(5353)], "drop"),
        Case("tcp-allowed-port", [IPv6(src=SRC, dst=DST) / TCP(sport=40001, dport=443, flags="S")], "accept"),
        Case("tcp-blocked-port", [IPv6(src=SRC, dst=DST) / TCP(sport=40002, dport=8080, flags="S")], "drop"),
        Case("echo-request", [IPv6(src=SRC, dst=DST) / ICMPv6EchoRequest(id=7, seq=1)], "accept"),
        Case("packet-too-big", [IPv6(src=SRC, dst=DST) / ICMPv6PacketTooBig(mtu=1280) /
                                IPv6(src=DST, dst=SRC) / UDP(sport=53, dport=40000)], "accept"),
        Case("dest-unreachable", [IPv6(src=SRC, dst=DST) / ICMPv6DestUnreach(code=4) /
                                  IPv6(src=DST, dst=SRC) / UDP(sport=53, dport=40000)], "accept"),
        Case("time-exceeded", [IPv6(src=SRC, dst=DST) / ICMPv6TimeExceeded(code=0) /
                               IPv6(src=DST, dst=SRC) / UDP(sport=53, dport=40000)], "accept"),
        Case("parameter-problem", [IPv6(src=SRC, dst=DST) / ICMPv6ParamProblem(code=1) /
                                   IPv6(src=DST, dst=SRC) / UDP(sport=53, dport=40000)], "accept"),
        Case("ptb-spoofed-source", [IPv6(src="2a00:1450::1", dst=DST) / ICMPv6PacketTooBig(mtu=1280) /
                                    IPv6(src=DST, dst="2a00:1450::1") / UDP()], "drop"),
        Case("spoofed-global-source", [_udp(src="2a00:1450::1")], "drop"),
        Case("bogon-documentation-source", [_udp(src="3fff::1")], "drop"),
        Case("bogon-documentation-2001-db8", [_udp(src="2001:db8:dead::1")], "drop"),
        Case("private-ula-source", [_udp(src="fd00::1")], "drop"),
        Case("allowed-second-prefix", [_udp(src="2001:db8:1000::5")], "accept"),
        Case("rh0", [IPv6(src=SRC, dst=DST) / _rh(0) / UDP(dport=53)], "drop"),
        Case("rh2", [IPv6(src=SRC, dst=DST) / _rh(2) / UDP(dport=53)], "accept"),
        Case("rh3", [IPv6(src=SRC, dst=DST) / _rh(3) / UDP(dport=53)], "drop"),
        Case("rh4-srh", [IPv6(src=SRC, dst=DST) / IPv6ExtHdrSegmentRouting(addresses=[DST], segleft=0) /
                         UDP(dport=53)], "accept"),
        Case("hop-by-hop", [IPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop() / UDP(dport=53)], "accept"),
        Case("destination-options", [IPv6(src=SRC, dst=DST) / IPv6ExtHdrDestOpt() / UDP(dport=53)], "accept"),
        Case("mobility-header-not-allowed", [IPv6(src=SRC, dst=DST, nh=135) / Raw(bytes([59, 0, 0, 0, 0, 0, 0, 0]))],
             "drop"),
        Case("chain-of-three", [IPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / _rh(2) /
                                UDP(dport=53)], "accept"),
        Case("chain-too-long", [IPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / _rh(2) /
                                IPv6ExtHdrDestOpt() / UDP(dport=53)], "drop"),
        Case("repeated-hop-by-hop", [IPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop() / IPv6ExtHdrHopByHop() /
                                     UDP(dport=53)], "drop"),
        Case("atomic-fragment", [IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=0, m=0, id=77) /
                                 UDP(dport=53)], "accept"),
        Case("fragmented-udp", fragment6(IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(id=78) /
                                         UDP(sport=40000, dport=53) / Raw(b"f" * 1200), 600), "accept"),
        Case("non-first-fragment-alone", [IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=100, m=0, id=79, nh=17) /
                                          Raw(b"z" * 64)], "drop"),
        Case("fragment-length-not-multiple-of-8", [IPv6(src=SRC, dst=DST) /
                                                   IPv6ExtHdrFragment(offset=0, m=1, id=80, nh=17) / Raw(b"q" * 13)],
             "drop"),
        Case("first-fragment-cuts-destination-options", [
            IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=0, m=1, id=81, nh=60) / Raw(bytes([17, 2]) + b"\x01" * 14),
            IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=2, m=0, id=81, nh=60) / Raw(b"\x00" * 24)], "drop"),
        Case("first-fragment-cuts-tcp-header", [
            IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=0, m=1, id=82, nh=60) /
            Raw(bytes([6, 0, 1, 4, 0, 0, 0, 0]) + b"\x00" * 8),
            IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=2, m=0, id=82, nh=60) / Raw(b"\x00" * 16)], "drop"),
        Case("overlapping-fragments", [
            IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=0, m=1, id=83, nh=17) /
            Raw(bytes(UDP(sport=1, dport=53, len=48, chksum=0))[:8] + b"o" * 24),
            IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=2, m=0, id=83, nh=17) / Raw(b"p" * 24)], "drop"),
        Case("ra-valid", [_ra(slla)], "accept", gap=RA_PACE),
        Case("ra-unknown-router", [_ra(slla, src="fe80::bad")], "drop", gap=RA_PACE),
        Case("ra-hop-limit-64", [_ra(slla, hlim=64)], "drop", gap=RA_PACE),
        Case("ra-global-source", [_ra(slla, src=SRC)], "drop", gap=RA_PACE),
        Case("ra-code-1", [_ra(slla, code=1)], "drop", gap=RA_PACE),
        Case("ra-prefix-information", [_ra(slla, ICMPv6NDOptPrefixInfo(prefix="2001:db8:5::"))], "drop", gap=RA_PACE),
        Case("ra-mtu", [_ra(ICMPv6NDOptMTU(mtu=1400), slla)], "drop", gap=RA_PACE),
        Case("ra-route-information", [_ra(slla, ICMPv6NDOptRouteInfo(prefix="::", plen=0))], "drop", gap=RA_PACE),
        Case("ra-rdnss", [_ra(slla, ICMPv6NDOptRDNSS(dns=["2001:db8:1::53"]))], "drop", gap=RA_PACE),
        Case("ra-zero-length-option", [_ra(Raw(bytes([1, 0, 0, 0, 0, 0, 0, 0])))], "drop", gap=RA_PACE),
        Case("ra-behind-hop-by-hop", [IPv6(src=ROUTER, dst=ALL_NODES, hlim=255) / IPv6ExtHdrHopByHop() /
                                      ICMPv6ND_RA() / slla], "accept", gap=RA_PACE),
        Case("ra-inside-fragment", fragment6(IPv6(src=ROUTER, dst=ALL_NODES, hlim=255) / IPv6ExtHdrFragment(id=84) /
                                             ICMPv6ND_RA() / slla / Raw(b"\x00" * 1400), 800), "drop", gap=RA_PACE),
        Case("ns-valid", [IPv6(src=SRC, dst=DST, hlim=255) / ICMPv6ND_NS(tgt=DST) / slla], "accept"),
        Case("ns-hop-limit-64", [IPv6(src=SRC, dst=DST, hlim=64) / ICMPv6ND_NS(tgt=DST) / slla], "drop"),
        Case("ns-dad-unspecified-source", [IPv6(src="::", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt=DST)],
             "accept"),
        Case("na-valid", [IPv6(src=SRC, dst=DST, hlim=255) / ICMPv6ND_NA(tgt=SRC, R=0, S=0, O=1)], "accept"),
        Case("redirect-global-source", [IPv6(src=SRC, dst=DST, hlim=255) / ICMPv6ND_Redirect(tgt="fe80::9",
                                                                                            dst="2001:db8:1000::9")],
             "drop"),
        Case("mld-query", [IPv6(src=ROUTER, dst=ALL_NODES, hlim=1) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) /
                           ICMPv6MLQuery()], "accept"),
        Case("node-information-query", [IPv6(src=SRC, dst=DST) / Raw(bytes([139, 0, 0, 0]) + b"\x00" * 12)], "drop"),
        Case("router-renumbering", [IPv6(src=SRC, dst=DST) / Raw(bytes([138, 0, 0, 0]) + b"\x00" * 12)], "drop"),
        Case("unallocated-icmpv6-type", [IPv6(src=SRC, dst=DST) / Raw(bytes([160, 0, 0, 0]) + b"\x00" * 4)], "drop"),
        Case("ipv4-udp-allowed-port", [IP(src=SRC4, dst=DST4) / UDP(dport=53)], "accept"),
        Case("ipv4-udp-blocked-port", [IP(src=SRC4, dst=DST4) / UDP(dport=5353)], "drop"),
        Case("ipv4-tcp-allowed-port", [IP(src=SRC4, dst=DST4) / TCP(sport=40003, dport=443, flags="S")], "accept"),
        Case("ipv4-private-source", [IP(src="10.0.0.5", dst=DST4) / UDP(dport=53)], "drop"),
        Case("ipv4-bogon-source", [IP(src="192.0.2.1", dst=DST4) / UDP(dport=53)], "drop"),
        Case("ra-burst", [_ra(slla) for _ in range(10)], "mixed", per_packet=True, gap=0.0),
        Case("udp-burst-over-pps", [_udp() for _ in range(45)], "mixed", per_packet=True, gap=0.0),
    ]
    # ICMPv6 messages built from Raw need nh=58 explicitly.
    for case in c:
        if case.name in ("node-information-query", "router-renumbering", "unallocated-icmpv6-type"):
            case.packets[0][IPv6].nh = 58
    label = LABEL_BASE
    ident = 0x5000
    for case in c:
        for i, pkt in enumerate(case.packets):
            if IPv6 in pkt:
                if case.per_packet or i == 0:
                    label += 1
                    case.labels.append(label)
                pkt[IPv6].fl = label
            else:
                ident += 1
                case.labels.append(IPV4_LABEL + ident)
                pkt[IP].id = ident
    return c
