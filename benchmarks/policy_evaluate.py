"""Evaluator throughput on a generated 1M-packet pcap, against dpkt and scapy parsing the same file.

    python benchmarks/policy_evaluate.py [--packets 1000000] [--scapy-packets 20000]

The mix (benchmarks/policy_traffic.py) is TCP/UDP services, ICMPv6 echo and errors,
ND, RAs, extension-header chains, fragments and spoofed/bogon sources. v6ops does
the whole job: read, walk the header chain, decide and record verdict + rule per
packet. dpkt and scapy only parse (Ethernet -> IPv6 -> upper layer), so the ratios
flatter them. scapy runs on the first ``--scapy-packets`` packets and is
extrapolated (labelled as such). Rates use process CPU time, so other jobs on a
shared machine do not distort them; wall time is printed alongside.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import dpkt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy_traffic import POLICY_YAML, write_mix
from v6ops.policy.batch import evaluate_capture
from v6ops.policy.evaluator import Evaluator
from v6ops.policy.normalize import normalize_document
from v6ops.policy.validate import load_validated


def dpkt_parse(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        for _, buf in dpkt.pcap.Reader(fh):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, dpkt.ip6.IP6):
                _ = (ip.src, ip.nxt, ip.hlim, getattr(ip.data, "dport", None))
            n += 1
    return n


def scapy_parse(path: Path, limit: int) -> int:
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    n = 0
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            if IPv6 in pkt:
                _ = (pkt[IPv6].src, pkt[IPv6].nh, pkt[IPv6].hlim)
            n += 1
            if n >= limit:
                break
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--scapy-packets", type=int, default=20_000)
    parser.add_argument("--pcap", type=Path, default=Path("/tmp/v6ops-policy-mix.pcap"))
    args = parser.parse_args()
    if not args.pcap.exists() or args.pcap.stat().st_size < args.packets * 60:
        write_mix(args.pcap, args.packets)
    policy_file = args.pcap.with_suffix(".yaml")
    policy_file.write_text(POLICY_YAML)
    policy = normalize_document(load_validated(policy_file))[0]

    evaluator = Evaluator(policy, keep_events=False)
    start, wall = time.process_time(), time.perf_counter()
    result = evaluate_capture(evaluator, args.pcap)
    ours, ours_wall = time.process_time() - start, time.perf_counter() - wall
    n = len(result)

    start, wall = time.process_time(), time.perf_counter()
    assert dpkt_parse(args.pcap) == n
    dpkt_s, dpkt_wall = time.process_time() - start, time.perf_counter() - wall

    start = time.process_time()
    scapy_n = scapy_parse(args.pcap, args.scapy_packets)
    scapy_s = (time.process_time() - start) * n / scapy_n

    rate, dpkt_rate, scapy_rate = n / ours, n / dpkt_s, n / scapy_s
    top = sorted(evaluator.counters.items(), key=lambda kv: -kv[1])[:6]
    print(f"packets: {n}  verdicts: accept={result.verdicts.count('accept')} drop={result.verdicts.count('drop')}"
          f" reassemble={result.verdicts.count('reassemble')}  top rules: {top}")
    print(f"v6ops evaluate (parse + decide): {ours:7.2f} s CPU ({ours_wall:.2f} s wall)  {rate:10,.0f} packets/s")
    print(f"dpkt parse only:                 {dpkt_s:7.2f} s CPU ({dpkt_wall:.2f} s wall)  {dpkt_rate:10,.0f} packets/s")
    print(f"scapy parse only (extrapolated from {scapy_n:,}): {scapy_s:7.2f} s CPU  {scapy_rate:10,.0f} packets/s")
    print(f"ratio v6ops/dpkt: {rate / dpkt_rate:.2f}x   v6ops/scapy: {rate / scapy_rate:.1f}x")


if __name__ == "__main__":
    main()
