"""The heart of the policy engine: the kernel, running the compiled ruleset with the guard attached,
delivers exactly the packets the evaluator accepts.

Method. Sender and receiver namespaces share a veth pair. The receiver loads the
compiled table (``nft -f``, after ``nft -c -f``), the xt NFQUEUE rule for the guard
(this kernel has no nft_queue; see docs/policy-engine.md) and starts
``v6ops policy guard``. An observation table at input priority 100, after our
filter (-10) and the guard's queue (filter INPUT, 0), adds each delivered packet's
flow label to a set: a packet reaches it only if every rule and the guard accepted
it. tcpdump records what arrived on the receiver's veth (``-Q in``, before any
filtering); ``v6ops policy evaluate`` runs on that capture, with its timestamps
driving the token buckets. Every crafted packet carries its own flow label (a
fragmented datagram shares one), so the comparison is packet by packet.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scapy.layers.l2 import Ether

from tests.policy.kernel.corpus import build_cases
from tests.policy.kernel.netns import (
    IPV4_LABEL,
    OBSERVE,
    delivered_labels,
    netns_pair,
    nft_check,
    run,
    send_frames,
    tcpdump_in,
    wait_for_capture,
    wait_for_line,
)

POLICY_YAML = """\
profile: custom
ra_guard:
  enabled: true
  allowed_routers: ["fe80::1"]
  max_ra_rate: 600
  block_config: {block_prefix_info: true, block_mtu_options: true, block_route_info: true, block_rdnss: true}
source_validation:
  strict_ingress: true
  allowed_ingress_prefixes: ["2001:db8:1::/64", "2001:db8:1000::/48"]
  block_private_addresses: true
  reverse_path_filtering: true
extension_headers: {mode: SELECTIVE, allowed_types: [0, 43, 44, 60], max_chain_length: 3, fragment_policy: REASSEMBLE}
rate_limits:
  max_pps_per_vm: 100
  max_bandwidth_per_vm: 10000000
  max_connections_per_vm: 1000
  method: TOKEN_BUCKET
  burst_config: {burst_packets: 20, burst_duration_ms: 200}
"""
MULTICAST_MAC = {"ff02::1": "33:33:00:00:00:01", "ff02::1:ff00:2": "33:33:ff:00:00:02"}  # RFC 2464 7
V6OPS = [sys.executable, "-m", "v6ops.cli"]
PORTS = ["--tcp-ports", "443", "--udp-ports", "53"]


@pytest.mark.requires("netns", "nft", "tcpdump", "iptables")
def test_kernel_and_evaluator_agree_packet_by_packet(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY_YAML)
    queue = 4000 + os.getpid() % 1000
    common = ["--policy", str(policy_file), *PORTS, "--queue-num", str(queue)]
    ruleset = subprocess.run([*V6OPS, "policy", "compile", *common, "--queue-backend", "xt"],
                             capture_output=True, text=True, check=True).stdout
    xt = subprocess.run([*V6OPS, "policy", "compile", *common, "--queue-backend", "xt", "--format", "xt-guard"],
                        capture_output=True, text=True, check=True).stdout
    nft_check(ruleset, "agree")
    cases = build_cases()
    frames, gaps = [], []
    with netns_pair("agree", routes=("2001:db8:1000::/48",)) as pair:
        for case in cases:
            for i, pkt in enumerate(case.packets):
                frames.append(Ether(src="02:00:00:00:00:01", dst=MULTICAST_MAC.get(pkt.dst, pair.receiver_mac)) / pkt)
                gaps.append(case.gap if i == len(case.packets) - 1 else 0.0)
        run("nft", "-f", "-", ns=pair.receiver, input_text=ruleset)
        run("nft", "-f", "-", ns=pair.receiver, input_text=OBSERVE)
        run("ip6tables-restore", "--noflush", ns=pair.receiver, input_text=xt)
        guard = subprocess.Popen(["ip", "netns", "exec", pair.receiver, *V6OPS, "policy", "guard",
                                  "--policy", str(policy_file), "--queue-num", str(queue), "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        capture = tmp_path / "received.pcap"
        try:
            wait_for_line(guard, "listening on NFQUEUE")
            with tcpdump_in(pair.receiver, capture, "-i", pair.receiver_if, "-s", "0",
                            "--time-stamp-precision=nano"):
                send_frames(pair.sender, pair.sender_if, frames, tmp_path, gaps)
                wait_for_capture(capture, _is_labelled, len(frames))
                time.sleep(0.5)
        finally:
            guard.send_signal(signal.SIGTERM)
            guard_out, guard_err = guard.communicate(timeout=20)
        delivered = delivered_labels(pair.receiver)
        counters = run("nft", "list", "counters", ns=pair.receiver)
    (tmp_path / "counters.txt").write_text(counters)
    assert guard.returncode == 0, guard_err
    guard_stats = json.loads(guard_out)
    assert guard_stats["accepted"] > 0 and guard_stats["dropped"] > 0, guard_stats

    evaluated = subprocess.run([*V6OPS, "policy", "evaluate", "--policy", str(policy_file), *PORTS, str(capture),
                                "--json"], capture_output=True, text=True, check=True)
    report = json.loads(evaluated.stdout)
    accepted_labels: set[int] = set()
    seen_labels: set[int] = set()
    for row in report["packets"]:
        label = _flow_label(capture, row["index"])
        if label is None:
            continue
        seen_labels.add(label)
        if row["verdict"] == "accept":
            accepted_labels.add(label)
    sent_labels = {label for case in cases for label in case.labels}
    assert sent_labels <= seen_labels, f"capture lacks labels {sorted(sent_labels - seen_labels)}"
    assert len(sent_labels) >= 40 and any(label > IPV4_LABEL for label in sent_labels)

    mismatches = []
    for case in cases:
        for label in case.labels:
            kernel = label in delivered
            evaluator = label in accepted_labels
            if kernel != evaluator:
                rule = [r for r in report["packets"] if _flow_label(capture, r["index"]) == label]
                mismatches.append((case.name, label, f"kernel={'accept' if kernel else 'drop'}",
                                   [(r["verdict"], r["rule"]) for r in rule]))
    assert not mismatches, f"kernel and evaluator disagree on {len(mismatches)} packets: {mismatches}\n{counters}"

    wrong = []
    for case in cases:
        outcome = {label in accepted_labels for label in case.labels}
        got = "mixed" if outcome == {True, False} else ("accept" if outcome == {True} else "drop")
        if got != case.expect:
            wrong.append((case.name, case.expect, got))
    assert not wrong, f"policy did not do what the cases expect: {wrong}"


def _is_labelled(ip: bytes) -> bool:
    if len(ip) >= 40 and ip[0] >> 4 == 6:
        return (((ip[1] & 0x0F) << 16) | (ip[2] << 8) | ip[3]) > 0x50000
    return len(ip) >= 20 and ip[0] >> 4 == 4 and ((ip[4] << 8) | ip[5]) >= 0x5000


_LABELS: dict[tuple[str, int], int | None] = {}


def _flow_label(capture: Path, index: int) -> int | None:
    if not _LABELS or next(iter(_LABELS))[0] != str(capture):
        _LABELS.clear()
        from v6ops.policy.pcap import read_capture

        for frame in read_capture(capture):
            ip = frame.ip
            label = None
            if ip is not None and len(ip) >= 40 and ip[0] >> 4 == 6:
                label = ((ip[1] & 0x0F) << 16) | (ip[2] << 8) | ip[3]
                label = label if label > 0x50000 else None
            elif ip is not None and len(ip) >= 20 and ip[0] >> 4 == 4:
                ident = (ip[4] << 8) | ip[5]
                label = IPV4_LABEL + ident if ident >= 0x5000 else None
            _LABELS[(str(capture), frame.number)] = label
    return _LABELS.get((str(capture), index))
