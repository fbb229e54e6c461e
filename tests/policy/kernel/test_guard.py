"""The guard is fail-closed: with nobody on the queue, what the table hands to it is dropped,
unless the policy says bypass; and a capture recorded with ``tcpdump -i any`` (Linux SLL2)
evaluates like one recorded on the interface."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Ether

from tests.policy.engine_helpers import strict_policy
from tests.policy.kernel.netns import (
    OBSERVE,
    RECEIVER_ADDR,
    SENDER_ADDR,
    delivered_labels,
    netns_pair,
    run,
    send_frames,
    tcpdump_in,
    wait_for_capture,
)
from v6ops.policy.compile_nft import compile_table, xt_guard_rules
from v6ops.policy.evaluator import Evaluator, evaluate_frames
from v6ops.policy.normalized import GuardPolicy, QueueBackend
from v6ops.policy.pcap import LINKTYPE_LINUX_SLL2, read_capture


def _frames(mac: str) -> list[Ether]:
    ra = Ether(dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1", hlim=255, fl=0x60001) / ICMPv6ND_RA() / \
        ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
    udp = Ether(dst=mac) / IPv6(src=SENDER_ADDR, dst=RECEIVER_ADDR, fl=0x60002) / UDP(dport=53)
    hbh = Ether(dst=mac) / IPv6(src=SENDER_ADDR, dst=RECEIVER_ADDR, fl=0x60003) / IPv6ExtHdrHopByHop() / UDP(dport=53)
    return [ra, udp, hbh]


@pytest.mark.requires("netns", "nft", "tcpdump", "iptables")
@pytest.mark.parametrize("bypass", [False, True])
def test_guard_down_fails_closed_unless_bypass(tmp_path: Path, bypass: bool) -> None:
    policy = strict_policy(guard=GuardPolicy(queue_num=3000 + int(bypass), bypass=bypass, backend=QueueBackend.XT))
    with netns_pair(f"guard{int(bypass)}") as pair:
        run("nft", "-f", "-", ns=pair.receiver, input_text=compile_table(policy))
        run("nft", "-f", "-", ns=pair.receiver, input_text=OBSERVE)
        run("ip6tables-restore", "--noflush", ns=pair.receiver, input_text=xt_guard_rules(policy))
        capture = tmp_path / "any.pcap"
        with tcpdump_in(pair.receiver, capture, "-i", "any"):
            send_frames(pair.sender, pair.sender_if, _frames(pair.receiver_mac), tmp_path)
            wait_for_capture(capture, lambda ip: len(ip) >= 40 and ip[1] & 0x0F == 6, 3)
            time.sleep(0.2)
        delivered = delivered_labels(pair.receiver)
    assert 0x60002 in delivered, delivered  # plain UDP never involves the guard
    # the RA and the Hop-by-Hop packet need the guard: dropped while it is down, unless bypass
    assert (0x60001 in delivered, 0x60003 in delivered) == (bypass, bypass), delivered
    frames = list(read_capture(capture))
    assert capture.read_bytes()[20] == LINKTYPE_LINUX_SLL2 & 0xFF
    ours = [f for f in frames if f.ip and len(f.ip) >= 40 and f.ip[1] & 0x0F == 6]
    assert len(ours) == 3, frames
    verdicts = [(v.verdict, v.rule) for v in evaluate_frames(Evaluator(replace(policy)), ours)]
    assert verdicts == [("accept", "guard-accept"), ("accept", "policy-accept"), ("accept", "guard-accept")]
