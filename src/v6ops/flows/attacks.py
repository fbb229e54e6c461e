"""Planted attacks with ground truth, for the detections (docs/flows.md, "Detections").

``plant(out)`` writes ``logs/attacks.log`` (VPC v2 records) beside a corpus from ``generate`` and
``attacks.json``: one case per planted attack with the detection kind and the source (address or
/64) every detection must report, and the event-time span it covers. The cases are built to cross
exactly one kind of threshold each with the default rules, so a test can require that every case is
found and nothing else is: fast and slow vertical port scans, a horizontal scan inside one /64
from privacy addresses of one /64 (fast and slow), a scan spread over the /64s of one /48, a volume
spike against the source's own baseline, an absolute volume burst, a rejection storm, and bogon
sources (link-local, documentation, multicast, unspecified, IPv4 documentation, a ULA on an
internet-facing interface, and documentation space a lab exempts).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from v6ops.addr import format_address
from v6ops.flows.generate import BASE_EPOCH, SERVERS_V4, SERVERS_V6, SPAN_SECONDS

ENI = "eni-0a1b2c3d4e5f60001"
INTERNET_ENI = "eni-0internet0000001"  # the internet-facing interface of the planted ULA source
LAB_PREFIX = "3fff:0:1::/48"  # documentation space (RFC 9637) a lab uses: exempted by the tests' config
TARGET_64 = SERVERS_V6[0] >> 64  # the servers' /64 (2600:1f18:64::/64)


@dataclass
class Case:
    name: str
    kind: str  # the detection kind that must report it
    source: str  # address, or a /64 prefix, as the detection writes it (RFC 5952)
    first: int  # epoch seconds of its first and last record
    last: int
    exempt: bool = False  # the tests' config exempts it: it must not be reported


def _v6(value: int) -> str:
    return format_address(6, value)


def _v4(value: int) -> str:
    return format_address(4, value)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def flow(self, src: str, dst: str, dport: int, start: int, *, sport: int = 40000, proto: int = 6,
             packets: int = 1, size: int = 74, action: str = "ACCEPT", eni: str = ENI) -> None:
        self.lines.append(f"2 123456789010 {eni} {src} {dst} {sport} {dport} {proto} {packets} {size} {start} "
                          f"{start + 60} {action} OK")


def plant(out: Path, seed: int = 11) -> list[Case]:
    """Write ``logs/attacks.log`` and ``attacks.json`` under ``out``; return the cases."""
    rng = random.Random(seed)
    w = _Writer()
    cases: list[Case] = []
    t0 = BASE_EPOCH

    # Fast vertical port scan: 200 TCP ports of one server in 40 s (seed: > 50 ports a minute).
    src = _v6(0x2A0C9A40000100000000000000000066)
    start = t0 + 1200
    for i in range(200):
        w.flow(src, _v6(SERVERS_V6[3]), 1 + i, start + i // 5)
    cases.append(Case("fast-port-scan", "port_scan", src, start, start + 39))

    # Slow vertical port scan: 2 ports a minute for 100 minutes (120 an hour > 64, never 50 a minute).
    src = _v4((45 << 24) | (83 << 16) | (64 << 8) | 7)
    start = t0 + 300
    for i in range(200):
        w.flow(src, _v4(SERVERS_V4[2]), 1000 + i, start + i * 30)
    cases.append(Case("slow-port-scan", "port_scan", src, start, start + 199 * 30))

    # Fast horizontal scan of one /64 from 30 privacy addresses of one /64: 10 destinations each in 50 s.
    attacker = 0x2A0C9A4000020007
    start = t0 + 2400
    for s in range(30):
        src = _v6((attacker << 64) | rng.getrandbits(64) | 1)
        for k in range(10):
            w.flow(src, _v6((TARGET_64 << 64) | (0x1000 + s * 10 + k)), 443, start + (s * 10 + k) // 6)
    cases.append(Case("fast-64-scan-privacy", "address_scan", f"{_v6(attacker << 64)}/64", start, start + 49))

    # Slow horizontal scan of one /64 from 50 privacy addresses: 150 destinations over 100 minutes.
    attacker = 0x2A0C9A4000030009
    start = t0 + 600
    for i in range(150):
        src = _v6((attacker << 64) | rng.getrandbits(64) | 1) if i % 3 == 0 else src
        w.flow(src, _v6((TARGET_64 << 64) | (0x2000 + i)), 22, start + i * 40)
    cases.append(Case("slow-64-scan-privacy", "address_scan", f"{_v6(attacker << 64)}/64", start, start + 149 * 40))

    # One address probing one host in each of 100 /64s of one /48 over 30 minutes.
    src = _v6(0x2A0C9A40000400000000000000000099)
    start = t0 + 3600
    for i in range(100):
        w.flow(src, _v6(((TARGET_64 & ~0xFFFF) | (0x100 + i)) << 64 | 1), 443, start + i * 18)
    cases.append(Case("scan-across-48", "address_scan", src, start, start + 99 * 18))

    # Volume against the source's own baseline: 2 MB every 5 minutes, then 30 MB more in one 5-minute window
    # (at most 8 MB a minute: under the absolute 10 MB a minute).
    src = _v6(0x2A0C9A40000500000000000000000010)
    server = _v6(SERVERS_V6[5])
    for k in range(SPAN_SECONDS // 300):
        w.flow(src, server, 443, t0 + k * 300 + 7, packets=1400, size=2_000_000)
    spike = t0 + 15 * 300
    for k in range(20):
        w.flow(src, server, 443, spike + 10 + k * 14, sport=41000 + k, packets=1000, size=1_500_000)
    cases.append(Case("volume-spike", "volume_baseline", src, spike + 10, spike + 10 + 19 * 14))

    # Absolute volume: 30 MB in one minute from a source never seen before.
    src = _v4((185 << 24) | (220 << 16) | (101 << 8) | 33)
    start = t0 + 5400
    for k in range(3):
        w.flow(src, _v4(SERVERS_V4[1]), 443, start + k * 10, sport=50000 + k, packets=7000, size=10_000_000)
    cases.append(Case("volume-burst", "high_volume", src, start, start + 20))

    # Rejection storm: 60 rejected SSH attempts in a minute (seed: > 20 rejected).
    src = _v6(0x2A0C9A40000600000000000000000042)
    start = t0 + 4200
    for k in range(60):
        w.flow(src, _v6(SERVERS_V6[0]), 22, start + k, sport=30000 + k, packets=2, size=120, action="REJECT")
    cases.append(Case("rejection-storm", "high_rejection_rate", src, start, start + 59))

    # Bogon sources: a few flows each.
    bogons = [
        ("link-local-source", _v6(0xFE80 << 112 | 0x1), ENI, False),
        ("documentation-source", _v6(0x20010DB8 << 96 | 0xBAD), ENI, False),
        ("multicast-source", _v6(0xFF02 << 112 | 0x1), ENI, False),
        ("unspecified-source", "::", ENI, False),
        ("ipv4-documentation-source", "192.0.2.10", ENI, False),
        ("ula-on-internet-interface", _v6(0xFD00_0000_0001 << 80 | 0x5), INTERNET_ENI, False),
        ("lab-documentation-exempt", _v6(0x3FFF_0000_0001 << 80 | 0x5), ENI, True),
    ]
    for n, (name, src, eni, exempt) in enumerate(bogons):
        start = t0 + 900 + n * 600
        server = _v4(SERVERS_V4[0]) if "." in src else _v6(SERVERS_V6[1])
        for k in range(3):
            w.flow(src, server, 443, start + k * 5, sport=33000 + k, eni=eni)
        cases.append(Case(name, "suspicious_source", src, start, start + 10, exempt))

    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    lines = w.lines[:]
    rng.shuffle(lines)  # records of a file arrive in any order; windows are on event time
    (logs / "attacks.log").write_text("\n".join(lines) + "\n")
    (out / "attacks.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return cases
