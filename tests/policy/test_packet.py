"""The fast parser against scapy's dissector (an independent oracle) and against hostile bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_RA,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
)
from scapy.layers.ipsec import AH
from scapy.packet import Raw

from v6ops.policy.packet import parse_ip, parse_ipv4, parse_ipv6

EXT = {
    "hbh": lambda n: IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\x00" * n)]),
    "dst": lambda n: IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * n)]),
    "rt2": lambda n: IPv6ExtHdrRouting(type=2, segleft=1, addresses=["2001:db8::9"] * (1 + n % 3)),
    "frag": lambda n: IPv6ExtHdrFragment(offset=0, m=0, id=n),
    "ah": lambda n: AH(spi=n, icv=b"\x00" * 4, nh=59),
}
NUMBERS = {"hbh": 0, "dst": 60, "rt2": 43, "frag": 44, "ah": 51}
UPPER = {
    "tcp": lambda: TCP(sport=1234, dport=443, flags="S"),
    "udp": lambda: UDP(sport=5353, dport=53),
    "echo": lambda: ICMPv6EchoRequest(id=3),
}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(EXT)), st.integers(0, 20)), max_size=5),
       st.sampled_from(sorted(UPPER)))
def test_chain_matches_scapy(chain: list[tuple[str, int]], upper: str) -> None:
    pkt = IPv6(src="2001:db8::1", dst="2001:db8::2")
    for name, n in chain:
        pkt = pkt / EXT[name](n)
    pkt = pkt / UPPER[upper]()
    wire = bytes(pkt)
    again = IPv6(wire)  # scapy's own dissection of the same octets is the oracle
    expected_chain = []
    layer = again.payload
    while layer is not None and layer.__class__.__name__ in ("IPv6ExtHdrHopByHop", "IPv6ExtHdrDestOpt",
                                                             "IPv6ExtHdrRouting", "IPv6ExtHdrFragment", "AH"):
        expected_chain.append({"IPv6ExtHdrHopByHop": 0, "IPv6ExtHdrDestOpt": 60, "IPv6ExtHdrRouting": 43,
                               "IPv6ExtHdrFragment": 44, "AH": 51}[layer.__class__.__name__])
        layer = layer.payload
    p = parse_ipv6(wire)
    assert p.error is None
    assert p.chain == expected_chain
    if any(name == "ah" for name, _ in chain):
        return  # AH says nh=59 here, so nothing follows it
    assert p.upper == {"tcp": 6, "udp": 17, "echo": 58}[upper]
    if upper == "tcp":
        assert (p.sport, p.dport, p.tcp_flags) == (again[TCP].sport, again[TCP].dport, 0x02)
    elif upper == "udp":
        assert (p.sport, p.dport) == (5353, 53)
    else:
        assert p.icmp_type == 128
    hbh_late = 0 in expected_chain[1:]
    repeats = any(expected_chain.count(h) > (2 if h == 60 else 1) for h in set(expected_chain))
    assert p.order_bad == (hbh_late or repeats)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    p = parse_ip(data)
    assert p.error is None or isinstance(p.error, str)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200))
def test_every_truncation_of_a_valid_packet_is_an_error_not_an_exception(cut: int) -> None:
    wire = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
                 TCP(dport=443) / Raw(b"x" * 100))
    short = wire[:cut] if cut < len(wire) else wire
    p = parse_ipv6(short)
    assert (p.error is None) == (short == wire)


def test_ra_options_are_listed_in_order_and_length_zero_is_flagged() -> None:
    ra = IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / ICMPv6NDOptMTU() / \
        ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01") / ICMPv6NDOptPrefixInfo()
    p = parse_ipv6(bytes(ra))
    assert (p.icmp_type, p.nd_options, p.nd_bad) == (134, [5, 1, 3], False)
    bad = parse_ipv6(bytes(IPv6(src="fe80::1", dst="ff02::1") / ICMPv6ND_RA() / Raw(bytes([3, 0, 0, 0]))))
    assert bad.nd_bad
    overrun = parse_ipv6(bytes(IPv6(src="fe80::1", dst="ff02::1") / ICMPv6ND_RA() / Raw(bytes([3, 4, 0, 0]))))
    assert overrun.nd_bad


def test_fragment_fields_and_first_fragment_chain_completeness() -> None:
    first = parse_ipv6(bytes(IPv6() / IPv6ExtHdrFragment(offset=0, m=1, id=0xABCDEF01, nh=6) / Raw(bytes(8))))
    assert (first.frag_offset, first.frag_m, first.frag_id, first.atomic) == (0, 1, 0xABCDEF01, False)
    assert first.error is None and not first.chain_complete  # TCP needs 20 octets (RFC 7112)
    later = parse_ipv6(bytes(IPv6() / IPv6ExtHdrFragment(offset=185, m=0, id=1, nh=17) / Raw(bytes(16))))
    assert (later.frag_offset, later.upper, later.is_fragment) == (1480, -1, True)
    atomic = parse_ipv6(bytes(IPv6() / IPv6ExtHdrFragment(offset=0, m=0) / UDP()))
    assert atomic.atomic and atomic.upper == 17


def test_payload_length_past_the_capture_is_malformed() -> None:
    wire = bytearray(bytes(IPv6() / UDP()))
    wire[4:6] = (500).to_bytes(2, "big")
    assert "payload length 500" in (parse_ipv6(bytes(wire)).error or "")


def test_ipv4_ports_and_fragments() -> None:
    from scapy.layers.inet import IP

    p = parse_ipv4(bytes(IP(src="10.0.0.1", dst="192.0.2.1") / UDP(sport=1, dport=53)))
    assert (p.version, p.upper, p.dport, p.src) == (4, 17, 53, bytes([10, 0, 0, 1]))
    frag = parse_ipv4(bytes(IP(src="10.0.0.1", dst="192.0.2.1", flags="MF", frag=0) / UDP() / Raw(bytes(16))))
    assert frag.is_fragment and frag.frag_offset == 0
