"""One test per RFC rule the policy encodes, named after the RFC section.

Each checks the evaluator's verdict and deciding rule on crafted packets and that
the compiled nftables table carries the rule (its named counter), so the compiler
and the evaluator cannot silently diverge on it; the kernel-agreement test then
shows the kernel agrees packet by packet.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    ICMPv6MLReport2,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
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
    fragment6,
)
from scapy.packet import Raw

from tests.policy.engine_helpers import decide, strict_policy, with_xt_guard
from tests.policy.kernel.netns import nft_check
from v6ops.addr import Prefix
from v6ops.policy.compile_nft import compile_table
from v6ops.policy.normalized import ExtensionHeaderPolicy, FragmentHandling, RAPolicy, ReversePath, SourcePolicy
from v6ops.policy.rules import RULES

SRC, DST = "2001:db8:1::1", "2001:db8:1::2"
SLLA = ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")


def ra(*options, src: str = "fe80::1", hlim: int = 255, code: int = 0):  # type: ignore[no-untyped-def]
    pkt = ICMPv6ND_RA(code=code)
    for opt in options:
        pkt = pkt / opt
    return IPv6(src=src, dst="ff02::1", hlim=hlim) / pkt


# The variants this module compiles; the nft check at the end compiles the same list itself,
# so it does not depend on which tests ran before it.
BLOCK_ALL_RA = strict_policy(ra=RAPolicy(block_all=True))
EVERY_EXTHDR = strict_policy(exthdr=ExtensionHeaderPolicy())  # allow-all mode still drops RH0
LOOSE_RPF = strict_policy(source=SourcePolicy(reverse_path=ReversePath.LOOSE,
                                              routed_prefixes=(Prefix.parse("2001:db8:1::/64"),)))
NO_FRAGMENTS = strict_policy(exthdr=replace(strict_policy().exthdr, fragments=FragmentHandling.BLOCK))
VARIANTS = [strict_policy(), BLOCK_ALL_RA, EVERY_EXTHDR, LOOSE_RPF, NO_FRAGMENTS]


def compiled_counters(policy=None) -> str:  # type: ignore[no-untyped-def]
    return compile_table(policy or strict_policy())


def test_rfc4890_4_3_1_error_messages_are_never_dropped() -> None:
    inner = IPv6(src=DST, dst=SRC) / UDP()
    for msg in (ICMPv6DestUnreach(code=c) for c in range(7)):
        assert decide(IPv6(src=SRC, dst=DST) / msg / inner) == [("accept", "rfc4890-4.3.1")]
    for msg in (ICMPv6PacketTooBig(mtu=1280), ICMPv6TimeExceeded(code=0), ICMPv6ParamProblem(code=1),
                ICMPv6ParamProblem(code=2)):
        assert decide(IPv6(src=SRC, dst=DST) / msg / inner) == [("accept", "rfc4890-4.3.1")]
    # even when the per-VM packet budget is exhausted: errors are accepted before the rate limits
    policy = strict_policy(rates=replace(strict_policy().rates, pps=1, pps_burst=1))
    burst = [IPv6(src=SRC, dst=DST) / UDP(dport=53)] * 3 + [IPv6(src=SRC, dst=DST) / ICMPv6PacketTooBig() / inner]
    assert [r for _, r in decide(burst, policy, gap_ns=1000)] == ["policy-accept", "rate-pps", "rate-pps",
                                                                   "rfc4890-4.3.1"]
    assert "counter name rfc4890_4_3_1 goto deliver" in compiled_counters()


def test_rfc4890_4_3_1_echo_is_allowed_and_only_rate_limited() -> None:
    assert decide(IPv6(src=SRC, dst=DST) / ICMPv6EchoRequest()) == [("accept", "policy-accept")]
    policy = strict_policy(icmpv6=replace(strict_policy().icmpv6, echo_per_second=1))
    got = decide([IPv6(src=SRC, dst=DST) / ICMPv6EchoRequest(seq=i) for i in range(3)], policy, gap_ns=1000)
    assert got[0] == ("accept", "policy-accept") and got[2] == ("drop", "icmpv6-echo-rate")


def test_rfc4890_4_3_2_time_exceeded_code_1_and_parameter_problem_code_0() -> None:
    inner = IPv6(src=DST, dst=SRC) / UDP()
    for msg in (ICMPv6TimeExceeded(code=1), ICMPv6ParamProblem(code=0)):
        assert decide(IPv6(src=SRC, dst=DST) / msg / inner)[0][0] == "accept"


def test_rfc4890_4_3_3_link_scope_messages_need_hop_limit_255() -> None:
    ns = ICMPv6ND_NS(tgt=DST) / SLLA
    assert decide(IPv6(src=SRC, dst=DST, hlim=255) / ns) == [("accept", "rfc4890-4.3.3-nd")]
    assert decide(IPv6(src=SRC, dst=DST, hlim=64) / ns) == [("drop", "rfc4890-4.3.3-hop-limit")]
    report = IPv6(src="fe80::5", dst="ff02::16", hlim=1) / IPv6ExtHdrHopByHop() / ICMPv6MLReport2()
    assert decide(report)[0][0] == "accept"
    assert decide(IPv6(src="fe80::5", dst="ff02::16", hlim=64) / ICMPv6MLReport2()) == \
        [("drop", "rfc4890-4.3.3-hop-limit")]


@pytest.mark.parametrize(("icmp_type", "rule"), [(138, "rfc4890-4.3.5"), (139, "rfc4890-4.3.5"),
                                                 (140, "rfc4890-4.3.5"), (100, "rfc4890-4.3.5"),
                                                 (200, "rfc4890-4.3.5"), (160, "rfc4890-4.3.4-unallocated")])
def test_rfc4890_4_3_5_renumbering_node_information_experimental_dropped(icmp_type: int, rule: str) -> None:
    pkt = IPv6(src=SRC, dst=DST, nh=58) / Raw(bytes([icmp_type, 0, 0, 0]) + bytes(12))
    assert decide(pkt) == [("drop", rule)]
    lenient = strict_policy(icmpv6=replace(strict_policy().icmpv6, strict=False))
    assert decide(IPv6(src=SRC, dst=DST, nh=58) / Raw(bytes([160, 0, 0, 0, 0, 0, 0, 0])), lenient)[0][0] == "accept"


def test_rfc4861_6_1_2_ra_validity() -> None:
    assert decide(ra(SLLA)) == [("accept", "guard-accept")]
    assert decide(ra(SLLA, hlim=64)) == [("drop", "rfc4861-6.1.2-hop-limit")]
    assert decide(ra(SLLA, src=SRC)) == [("drop", "rfc4861-6.1.2-source")]
    assert decide(ra(SLLA, code=1)) == [("drop", "rfc4861-6.1.2-code")]
    assert decide(ra(Raw(bytes([1, 0, 0, 0, 0, 0, 0, 0])))) == [("drop", "rfc4861-6.1.2-length")]
    short = IPv6(src="fe80::1", dst="ff02::1", hlim=255, nh=58) / Raw(bytes([134, 0, 0, 0]) + bytes(8))
    assert decide(short) == [("drop", "rfc4861-6.1.2-length")]
    text = compiled_counters()
    for rule in ("rfc4861-6.1.2-hop-limit", "rfc4861-6.1.2-source", "rfc4861-6.1.2-code"):
        assert f"counter name {RULES[rule].counter} drop" in text


def test_rfc6105_ra_guard_allowed_routers_blocked_options_and_rate() -> None:
    assert decide(ra(SLLA, src="fe80::66")) == [("drop", "rfc6105-unknown-router")]
    for option in (ICMPv6NDOptPrefixInfo(prefix="2001:db8:5::"), ICMPv6NDOptMTU(mtu=1400),
                   ICMPv6NDOptRouteInfo(prefix="::", plen=0), ICMPv6NDOptRDNSS(dns=["2001:db8::53"])):
        assert decide(ra(SLLA, option)) == [("drop", "rfc6105-blocked-option")]
    got = decide([ra(SLLA) for _ in range(8)], gap_ns=1000)
    assert got[:5] == [("accept", "guard-accept")] * 5 and got[5:] == [("drop", "rfc6105-ra-rate")] * 3
    blocked = BLOCK_ALL_RA
    assert decide(ra(SLLA), blocked) == [("drop", "rfc6105-block-all")]
    assert "ip6 saddr != @routers6 counter name rfc6105_unknown_router drop" in compiled_counters()
    assert "counter name rfc6105_block_all drop" in compiled_counters(blocked)


def test_rfc7113_ra_guard_parses_the_whole_chain() -> None:
    # an RA behind a Hop-by-Hop header is still recognised and judged as an RA
    hidden = IPv6(src="fe80::66", dst="ff02::1", hlim=255) / IPv6ExtHdrHopByHop() / ICMPv6ND_RA() / SLLA
    assert decide(hidden) == [("drop", "rfc6105-unknown-router")]
    # an RA whose first fragment does not reach the ICMPv6 header is dropped (RFC 7113 section 3)
    first = IPv6(src="fe80::1", dst="ff02::1", hlim=255) / IPv6ExtHdrFragment(offset=0, m=1, id=5, nh=60) / \
        Raw(bytes([58, 2]) + bytes(14))
    assert decide(first) == [("drop", "rfc7112-incomplete-chain")]


def test_rfc7112_first_fragment_must_carry_the_header_chain() -> None:
    cut_tcp = IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=0, m=1, id=6, nh=60) / \
        Raw(bytes([6, 0, 1, 4, 0, 0, 0, 0]) + bytes(8))
    assert decide(cut_tcp) == [("drop", "rfc7112-incomplete-chain")]
    whole = fragment6(IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(id=7) / UDP(dport=53) / Raw(b"x" * 1500), 700)
    got = decide(whole, gap_ns=1000)
    assert got[:-1] == [("reassemble", "reassembly")] * (len(whole) - 1)
    assert got[-1] == ("accept", "policy-accept")
    allow = strict_policy(exthdr=replace(strict_policy().exthdr, fragments=FragmentHandling.ALLOW))
    assert decide(cut_tcp, allow) == [("reassemble", "reassembly")]
    text = compiled_counters()
    assert "exthdr frag exists frag frag-off 0 frag more-fragments 1 jump first_fragment" in text
    assert "type filter hook prerouting priority -450" in text


def test_rfc8200_4_5_fragment_rules() -> None:
    bad_length = IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=0, m=1, id=8, nh=17) / Raw(b"q" * 13)
    assert decide(bad_length) == [("drop", "rfc8200-4.5-fragment-length")]
    atomic = IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=0, m=0, id=9) / UDP(dport=53)
    assert decide(atomic) == [("accept", "guard-accept")]
    first = IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=0, m=1, id=10, nh=17) / \
        Raw(bytes(UDP(dport=53, len=40))[:8] + bytes(24))
    overlap = IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=2, m=0, id=10, nh=17) / Raw(bytes(24))
    assert decide([first, overlap]) == [("reassemble", "reassembly"), ("drop", "rfc5722-overlap")]
    lone = IPv6(src=SRC, dst=DST) / IPv6ExtHdrFragment(offset=100, m=0, id=11, nh=17) / Raw(bytes(64))
    assert decide(lone) == [("reassemble", "reassembly")]
    block = strict_policy(exthdr=replace(strict_policy().exthdr, fragments=FragmentHandling.BLOCK))
    assert decide(lone, block) == [("drop", "fragment-policy-block")]
    assert decide(atomic, block)[0][0] == "accept"  # RFC 6946: an atomic fragment is a whole packet


def test_rfc8200_4_1_order_and_chain_length() -> None:
    repeated = IPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop() / IPv6ExtHdrHopByHop() / UDP(dport=53)
    assert decide(repeated) == [("drop", "rfc8200-4.1-order")]
    two_dst = IPv6(src=SRC, dst=DST) / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(type=2, addresses=[DST], segleft=1) / \
        IPv6ExtHdrDestOpt() / UDP(dport=53)
    assert decide(two_dst) == [("accept", "guard-accept")]  # Destination Options may appear twice
    long = IPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop() / two_dst[IPv6].payload
    assert decide(long) == [("drop", "exthdr-chain-too-long")]


def test_rfc6980_nd_in_fragments_is_dropped() -> None:
    frags = fragment6(IPv6(src="fe80::1", dst="ff02::1", hlim=255) / IPv6ExtHdrFragment(id=12) / ICMPv6ND_RA() /
                      SLLA / Raw(bytes(1400)), 800)
    assert decide(frags, gap_ns=1000) == [("drop", "rfc6980-nd-fragment"), ("reassemble", "reassembly")]
    atomic_ns = IPv6(src=SRC, dst=DST, hlim=255) / IPv6ExtHdrFragment(offset=0, m=0, id=13) / ICMPv6ND_NS(tgt=DST)
    assert decide(atomic_ns) == [("drop", "rfc6980-nd-fragment")]
    assert "counter name rfc6980_nd_fragment drop" in compiled_counters()


def test_rfc5095_routing_header_type_0_always_dropped() -> None:
    rh0 = IPv6(src=SRC, dst=DST) / IPv6ExtHdrRouting(type=0, addresses=[DST], segleft=1) / UDP(dport=53)
    assert decide(rh0) == [("drop", "rfc5095-rh0")]
    every_type = EVERY_EXTHDR
    assert decide(rh0, every_type) == [("drop", "rfc5095-rh0")]
    assert "exthdr rt exists rt type 0 counter name rfc5095_rh0 drop" in compiled_counters(every_type)


def test_rfc9288_3_4_routing_types_permitted_2_and_4_only() -> None:
    for rtype, expected in ((2, "accept"), (4, "accept"), (1, "drop"), (3, "drop"), (250, "drop")):
        pkt = IPv6(src=SRC, dst=DST) / IPv6ExtHdrRouting(type=rtype, addresses=[DST], segleft=0) / UDP(dport=53)
        verdict, rule = decide(pkt)[0]
        assert verdict == expected, (rtype, rule)
        if expected == "drop":
            assert rule == "rfc9288-3.4-routing-type"
    no_routing = strict_policy(exthdr=replace(strict_policy().exthdr, allowed=frozenset({0, 44, 60})))
    rh2 = IPv6(src=SRC, dst=DST) / IPv6ExtHdrRouting(type=2, addresses=[DST], segleft=1) / UDP(dport=53)
    assert decide(rh2, no_routing) == [("drop", "exthdr-not-allowed")]


def test_bcp38_ingress_filtering_spoofed_and_private_sources() -> None:
    assert decide(IPv6(src="2a00:1450::1", dst=DST) / UDP(dport=53)) == [("drop", "bcp38-spoofed-source")]
    assert decide(IPv6(src="fd00::1", dst=DST) / UDP(dport=53)) == [("drop", "bcp38-private-source")]
    assert decide(IPv6(src="2001:db8:1000::7", dst=DST) / UDP(dport=53)) == [("accept", "policy-accept")]
    dad = IPv6(src="::", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt=DST)
    assert decide(dad) == [("accept", "rfc4890-4.3.3-nd")]  # DAD comes from :: (RFC 4862 5.4)


def test_bcp84_bogon_sources_and_reverse_path() -> None:
    for bogon in ("3fff::1", "2001:db8:dead::1", "ff0e::1", "::1", "::ffff:192.0.2.1"):
        assert decide(IPv6(src=bogon, dst=DST) / UDP(dport=53)) == [("drop", "bcp84-bogon-source")], bogon
    loose = LOOSE_RPF
    assert decide(IPv6(src="2a00:1450::1", dst=DST) / TCP(dport=443), loose) == [("drop", "bcp84-reverse-path")]
    assert decide(IPv6(src=SRC, dst=DST) / TCP(dport=443), loose)[0][0] == "accept"
    text = compiled_counters(loose)
    assert "fib saddr oif missing counter name bcp84_reverse_path drop" in text
    assert "fib saddr . iif oif missing" in compiled_counters()


@pytest.mark.requires("netns", "nft")
def test_every_ruleset_in_this_module_passes_nft_check() -> None:
    """The module's variants with the xt guard backend (the native queue form: test_compile_nft)."""
    named = [replace(with_xt_guard(p), name=f"rfc{i}") for i, p in enumerate(VARIANTS)]
    nft_check("".join(compile_table(p) for p in named), "rfc")
