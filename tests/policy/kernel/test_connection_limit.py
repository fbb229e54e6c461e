"""``ct count`` in the kernel and the evaluator's conntrack model agree (limit 2, unreplied UDP flows).

Observed on Linux 6.18 and modelled in ``ConnectionTracker``: an unreplied flow stays NEW, so each of
its packets runs the count; an attempt the limit rejected stays in the count until a new tuple's walk
evicts it, so after a rejection even a known flow is over the limit."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
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
from v6ops.policy.compile_nft import compile_table
from v6ops.policy.evaluator import Evaluator, evaluate_frames
from v6ops.policy.pcap import read_capture


@pytest.mark.requires("netns", "nft", "tcpdump")
@pytest.mark.parametrize(("sports", "expected"), [
    ((1001, 1002, 1003, 1001, 1004), ["accept", "accept", "drop", "drop", "drop"]),
    ((1001, 1002, 1001, 1003, 1001), ["accept", "accept", "accept", "drop", "drop"]),
])
def test_ct_count_matches_the_evaluator(tmp_path: Path, sports: tuple[int, ...], expected: list[str]) -> None:
    policy = strict_policy(rates=replace(strict_policy().rates, connections=2), services=None)
    flows = [(sport, 0x70001 + i) for i, sport in enumerate(sports)]
    with netns_pair(f"ct{sports[2]}") as pair:
        frames = [Ether(dst=pair.receiver_mac) / IPv6(src=SENDER_ADDR, dst=RECEIVER_ADDR, fl=label) /
                  UDP(sport=sport, dport=9999) for sport, label in flows]
        run("nft", "-f", "-", ns=pair.receiver, input_text=compile_table(policy))
        run("nft", "-f", "-", ns=pair.receiver, input_text=OBSERVE)
        capture = tmp_path / "in.pcap"
        with tcpdump_in(pair.receiver, capture, "-i", pair.receiver_if, "ip6"):
            send_frames(pair.sender, pair.sender_if, frames, tmp_path)
            wait_for_capture(capture, lambda ip: len(ip) >= 40 and ip[1] & 0x0F == 7, len(flows))
            time.sleep(0.2)  # the last packet's trip from the tap to the observation chain
        delivered = delivered_labels(pair.receiver)
    evaluator = Evaluator(policy)
    labelled = [f for f in read_capture(capture) if f.ip and len(f.ip) >= 40 and f.ip[1] & 0x0F == 7]
    verdicts = [v.verdict for v in evaluate_frames(evaluator, labelled)]
    assert len(labelled) == len(flows), [(f.number, f.ip[:4].hex() if f.ip else f.problem) for f in read_capture(capture)]
    assert verdicts == expected
    assert [label in delivered for _, label in flows] == [v == "accept" for v in verdicts]
