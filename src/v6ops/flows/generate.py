"""Synthetic VPC Flow Logs, ALB access logs and a pcap with known ground truth.

The truth is computed here from the generated integers with plain Python dictionaries, never by
the code under test, so tests can compare every report figure against it. The traffic has what
real dual-stack logs have: a family mix, NAT64, IPv4-mapped ALB clients, privacy addresses that
change per flow inside a handful of /64s (RFC 8981), rejections, status rows, NAT-gateway rows
where only pkt-srcaddr names the real client, conversations logged on both ENIs, and latency
that differs per family. Addresses are written in several spellings (RFC 5952 allows them all).
"""

from __future__ import annotations

import gzip
import json
import random
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dpkt
import numpy as np

from v6ops.addr import format_ipv4, format_ipv6
from v6ops.flows.vpc import DEFAULT_FORMAT

BASE_EPOCH = 1767571200  # 2026-01-05T00:00:00Z
SPAN_SECONDS = 7200
V5_FORMAT = [
    *DEFAULT_FORMAT, "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr",
    "region", "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service", "pkt-dst-aws-service",
    "flow-direction", "traffic-path",
]
NAT_GATEWAY_ENI_IP = (10 << 24) | (1 << 8) | 5  # 10.0.1.5
PRIVACY_64S = [(0x2A02A33C45380000 | (i // 8) << 8 | i % 8) for i in range(24)]  # 3 /56s under one /48 ...
PRIVACY_64S += [(0x2A0104F8C0C10000 | i) for i in range(6)]  # ... and a second /48
SERVERS_V6 = [(0x26001F1800640000 << 64) | (0x10 + i) for i in range(12)]
SERVERS_V4 = [(52 << 24) | (94 << 16) | (i << 8) | 10 for i in range(12)]
CLIENTS_V4 = [(10 << 24) | (2 << 16) | (i // 200 << 8) | (i % 200 + 1) for i in range(300)]
NAT64_PREFIX = 0x0064FF9B << 96  # 64:ff9b::/96, RFC 6052 section 2.1


@dataclass
class Flow:
    family: int
    src: int
    dst: int
    src_port: int
    dst_port: int
    protocol: int
    packets: int
    bytes: int
    start: int
    end: int
    action: str
    traffic_class: str
    src_kind: str
    dst_kind: str


def spell(family: int, value: int, rng: random.Random) -> str:
    """One of several spellings of the same address: canonical, upper case, leading zeros, full."""
    if family == 4:
        return format_ipv4(value)
    style = rng.randrange(4)
    if style == 0:
        return format_ipv6(value)
    if style == 1:
        return format_ipv6(value).upper()
    groups = [f"{(value >> s) & 0xFFFF:04x}" for s in range(112, -1, -16)]
    if style == 2:
        return ":".join(groups)
    text = format_ipv6(value)
    return text if "::" in text or len(groups) != 8 else ":".join(g.lstrip("0").rjust(2, "0") for g in groups)


def _pick(rng: random.Random, items: list[int], skew: float = 1.2) -> int:
    """Power-law choice: item i has weight 1/(i+1)^skew."""
    weights = [1 / (i + 1) ** skew for i in range(len(items))]
    return rng.choices(items, weights)[0]


def _make_flow(rng: random.Random, ipv6_share: float, nat64_share: float) -> Flow:
    roll = rng.random()
    start = BASE_EPOCH + rng.randrange(0, SPAN_SECONDS - 60, 60) + rng.randrange(0, 5)
    packets = rng.randint(1, 200)
    size = packets * rng.randint(60, 1500)
    if roll < ipv6_share:
        family = 6
        prefix = _pick(rng, PRIVACY_64S)
        host = rng.getrandbits(64) | 1 if rng.random() < 0.7 else 0x10  # privacy address or a stable one
        src = (prefix << 64) | host
        nat64 = roll < nat64_share
        dst = NAT64_PREFIX | _pick(rng, SERVERS_V4) if nat64 else _pick(rng, SERVERS_V6)
        cls, dst_kind = ("nat64", "nat64") if nat64 else ("ipv6", "global")
        src_kind = "global"
    else:
        family, cls, src_kind, dst_kind = 4, "ipv4", "private", "global"
        src, dst = _pick(rng, CLIENTS_V4), _pick(rng, SERVERS_V4)
    protocol = rng.choices([6, 17, 58 if family == 6 else 1], [0.8, 0.15, 0.05])[0]
    dst_port = {6: 443, 17: 53}.get(protocol, 0)
    src_port = rng.randint(1024, 65535) if protocol in (6, 17) else 0
    action = "REJECT" if rng.random() < (0.08 if family == 6 else 0.04) else "ACCEPT"
    return Flow(family, src, dst, src_port, dst_port, protocol, packets, size, start, start + 60, action, cls,
                src_kind, dst_kind)


def _v2_line(f: Flow, rng: random.Random) -> str:
    return (f"2 123456789010 eni-0a1b2c3d4e5f60001 {spell(f.family, f.src, rng)} {spell(f.family, f.dst, rng)} "
            f"{f.src_port} {f.dst_port} {f.protocol} {f.packets} {f.bytes} {f.start} {f.end} {f.action} OK")


def _v5_line(f: Flow, rng: random.Random, eni: str, direction: str, start: int) -> str:
    src, dst = spell(f.family, f.src, rng), spell(f.family, f.dst, rng)
    eni_src = format_ipv4(NAT_GATEWAY_ENI_IP) if f.family == 4 and rng.random() < 0.3 else src
    flags = {6: "19", 17: "0", 1: "0", 58: "0"}[f.protocol]
    return " ".join([
        "5", "123456789010", eni, eni_src, dst, str(f.src_port), str(f.dst_port), str(f.protocol), str(f.packets),
        str(f.bytes), str(start), str(start + 60), f.action, "OK", "vpc-0abc", "subnet-0abc", "i-0abc", flags,
        "IPv6" if f.family == 6 else "IPv4", src, dst, "us-east-1", "use1-az1", "-", "-", "-", "-", direction,
        "1" if direction == "egress" else "-",
    ])


@dataclass
class Request:
    family: int
    client: int
    traffic_class: str
    latency: float | None  # None: failed dispatch
    times: tuple[float, float, float]
    elb_status: int
    received: int
    sent: int
    when: int


def _make_request(rng: random.Random) -> tuple[Request, str]:
    roll = rng.random()
    if roll < 0.45:
        family, client, cls = 6, (_pick(rng, PRIVACY_64S) << 64) | rng.getrandbits(64), "ipv6"
        text = spell(6, client, rng)
        mean = 0.040
    else:
        family, cls = 4, "ipv4"
        client = (81 << 24) | (rng.randrange(256) << 16) | rng.randrange(65536)
        text = format_ipv4(client) if roll < 0.90 else f"::ffff:{format_ipv4(client)}"  # mapped: still IPv4
        mean = 0.060
    when = BASE_EPOCH + rng.randrange(SPAN_SECONDS * 1000) / 1000
    status_roll = rng.random()
    if status_roll < 0.02:
        times, elb, target_status, target = (-1.0, -1.0, -1.0), 504, "-", "-"
    else:
        times = (round(rng.uniform(0, 0.002), 3), round(rng.lognormvariate(np.log(mean), 0.6), 3),
                 round(rng.uniform(0, 0.001), 3))
        elb = 404 if status_roll < 0.07 else 500 if status_roll < 0.10 else 200
        target_status, target = str(elb), f"10.0.0.{rng.randint(2, 9)}:80"
    received, sent = rng.randint(100, 900), rng.randint(200, 60000)
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    port = rng.randint(1024, 65535)
    line = (
        f'h2 {stamp} app/my-loadbalancer/50dc6c495c0c9188 {text}:{port} {target} '
        f'{times[0]:.3f} {times[1]:.3f} {times[2]:.3f} {elb} {target_status} {received} {sent} '
        f'"GET https://www.example.com:443/p?id={rng.randint(1, 99)} HTTP/2.0" "curl/8.5.0" '
        f'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
        f'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
        f'"Root=1-58337327-72bd00b0343d75b906739c42" "www.example.com" '
        f'"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 {stamp} '
        f'"forward" "-" "-" "{target}" "{target_status}" "-" "-" TID_1234abcd5678ef90'
    )
    latency = None if times[0] < 0 else times[0] + times[1] + times[2]
    return Request(family, client, cls, latency, times, elb, received, sent, int(when)), line


def _pcap(path: Path) -> list[Flow]:
    """Three conversations as Ethernet frames; bytes counted as IP bytes like VPC Flow Logs."""
    client6, server6 = (PRIVACY_64S[0] << 64) | 0xABCD, SERVERS_V6[0]
    client4, server4 = CLIENTS_V4[0], SERVERS_V4[0]
    specs = [
        (6, client6, server6, 6, 40000, 443, 7, 120),
        (4, client4, server4, 17, 5353, 53, 4, 80),
        (6, client6, server6, 58, 0, 0, 3, 64),
    ]
    flows: list[Flow] = []
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        for n, (family, src, dst, proto, sport, dport, count, payload_len) in enumerate(specs):
            start = BASE_EPOCH + 600 + n * 60
            total = 0
            for i in range(count):
                payload = b"x" * payload_len
                transport: Any
                if proto == 6:
                    transport = dpkt.tcp.TCP(sport=sport, dport=dport, data=payload)
                elif proto == 17:
                    transport = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
                    transport.ulen = 8 + payload_len
                else:
                    transport = dpkt.icmp6.ICMP6(type=128, code=0, data=payload)
                if family == 6:
                    ip: Any = dpkt.ip6.IP6(src=src.to_bytes(16, "big"), dst=dst.to_bytes(16, "big"), nxt=proto,
                                           hlim=64, data=transport)
                    ip.plen = len(bytes(transport))
                    ether_type = dpkt.ethernet.ETH_TYPE_IP6
                else:
                    ip = dpkt.ip.IP(src=struct.pack("!I", src), dst=struct.pack("!I", dst), p=proto,
                                    data=transport)
                    ip.len = 20 + len(bytes(transport))
                    ether_type = dpkt.ethernet.ETH_TYPE_IP
                frame = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=ether_type, data=ip)
                total += len(bytes(ip))
                writer.writepkt(bytes(frame), ts=start + i)
            cls = "ipv6" if family == 6 else "ipv4"
            flows.append(Flow(family, src, dst, sport, dport, proto, count, total, start, start + count - 1, "",
                              cls, "global" if family == 6 else "private", "global"))
    return flows


BAD_LINES = {
    "not an integer in packets": (
        "2 123456789010 eni-0a1b2c3d4e5f60001 10.2.0.1 52.94.0.10 1234 443 6 abc 4000 1767571200 1767571260 ACCEPT OK"
    ),
    "expected 14 fields, found 9": "2 123456789010 eni-0a1b2c3d4e5f60001 10.2.0.1 52.94.0.10 1234 443 6 10",
    "invalid source address": (
        "2 123456789010 eni-0a1b2c3d4e5f60001 2a02:a33c::zz 52.94.0.10 1234 443 6 10 4000 1767571200 1767571260 "
        "ACCEPT OK"
    ),
}


def generate(out: Path, flows: int = 6000, requests: int = 3000, ipv6_share: float = 0.6,
             nat64_share: float = 0.08, seed: int = 7) -> dict[str, Any]:
    """Write logs/ (vpc-default.log.gz in v2, vpc-custom.log in v5 with a header, alb.log, capture.pcap) and truth.json."""
    rng = random.Random(seed)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    made = [_make_flow(rng, ipv6_share, nat64_share) for _ in range(flows)]
    half = flows // 2
    status_rows = {"NODATA": 7, "SKIPDATA": 3}
    v2 = [_v2_line(f, rng) for f in made[:half]]
    for status, count in status_rows.items():
        v2 += [f"2 123456789010 eni-0a1b2c3d4e5f60001 - - - - - - - {BASE_EPOCH + 60 * i} {BASE_EPOCH + 60 * i + 60} "
               f"- {status}" for i in range(count)]
    bad_repeats = 2
    v2 += [line for line in BAD_LINES.values() for _ in range(bad_repeats)]
    rng.shuffle(v2)
    with gzip.open(logs / "vpc-default.log.gz", "wt") as handle:
        handle.write("\n".join(v2) + "\n")
    v5 = [" ".join(V5_FORMAT)]
    duplicates = 0
    for f in made[half:]:
        v5.append(_v5_line(f, rng, "eni-0a1b2c3d4e5f60002", "egress", f.start))
        if rng.random() < 0.05:  # the other end's ENI logged the same conversation
            v5.append(_v5_line(f, rng, "eni-0a1b2c3d4e5f60003", "ingress", f.start + rng.randint(0, 30)))
            duplicates += 1
    (logs / "vpc-custom.log").write_text("\n".join(v5) + "\n")
    pairs = [_make_request(rng) for _ in range(requests)]
    (logs / "alb.log").write_text("\n".join(line for _, line in pairs) + "\n")
    all_flows = made + _pcap(logs / "capture.pcap")
    truth = _truth(all_flows, [r for r, _ in pairs], status_rows, duplicates,
                   {reason: bad_repeats for reason in BAD_LINES})
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def _key(family: int, value: int, length4: int, length6: int) -> tuple[int, int]:
    width, length = (32, length4) if family == 4 else (128, length6)
    return family, value >> (width - length) << (width - length)


def _text(family: int, value: int, length: int | None = None) -> str:
    text = format_ipv4(value) if family == 4 else format_ipv6(value)
    return text if length is None else f"{text}/{length}"


def _top(rows: dict[Any, list[int]], top: int, by: int = 2) -> list[tuple[Any, list[int]]]:
    return sorted(rows.items(), key=lambda kv: (-kv[1][by], kv[0]))[:top]


def _truth(flows: list[Flow], requests: list[Request], status_rows: dict[str, int], duplicates: int,
           rejected: dict[str, int], top: int = 10, bin_seconds: int = 600) -> dict[str, Any]:
    measures: dict[str, Counter[str]] = {m: Counter() for m in ("flows", "packets", "bytes", "requests")}
    actions: Counter[tuple[str, str]] = Counter()
    protocols: Counter[int] = Counter()
    src_kinds: Counter[str] = Counter()
    dst_kinds: Counter[str] = Counter()
    bins: dict[int, Counter[str]] = defaultdict(Counter)
    bin_bytes: dict[int, Counter[str]] = defaultdict(Counter)
    action_bytes: Counter[tuple[str, str]] = Counter()
    protocol_bytes: Counter[int] = Counter()
    request_bytes: Counter[str] = Counter()
    last_seen = 0
    talkers: dict[str, dict[str, dict[Any, list[int]]]] = {}
    levels = {"address": (32, 128), "/64": (24, 64), "/56": (24, 56), "/48": (24, 48)}
    for role in ("source", "destination", "pair"):
        talkers[role] = {level: defaultdict(lambda: [0, 0, 0]) for level in levels}
    for f in flows:
        measures["flows"][f.traffic_class] += 1
        measures["packets"][f.traffic_class] += f.packets
        measures["bytes"][f.traffic_class] += f.bytes
        if f.action:
            actions[(f.action, f.traffic_class)] += 1
            action_bytes[(f.action, f.traffic_class)] += f.bytes
        protocols[f.protocol] += 1
        protocol_bytes[f.protocol] += f.bytes
        src_kinds[f.src_kind] += 1
        dst_kinds[f.dst_kind] += 1
        bins[f.start - f.start % bin_seconds][f.traffic_class] += 1
        bin_bytes[f.start - f.start % bin_seconds][f.traffic_class] += f.bytes
        last_seen = max(last_seen, f.end)
        for level, (l4, l6) in levels.items():
            s, d = _key(f.family, f.src, l4, l6), _key(f.family, f.dst, l4, l6)
            for role, key in (("source", s), ("destination", d), ("pair", (s, d))):
                cell = talkers[role][level][key]
                cell[0] += 1
                cell[1] += f.packets
                cell[2] += f.bytes
    request_bins: dict[int, Counter[str]] = defaultdict(Counter)
    alb: dict[str, Any] = {}
    clients: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for cls in ("ipv4", "ipv6"):
        mine = [r for r in requests if r.traffic_class == cls]
        lat = np.array([r.latency for r in mine if r.latency is not None])
        alb[cls] = {
            "requests": len(mine),
            "failed_dispatch": sum(r.latency is None for r in mine),
            "status_4xx": sum(400 <= r.elb_status < 500 for r in mine),
            "status_5xx": sum(500 <= r.elb_status < 600 for r in mine),
            "mean": float(lat.mean()), "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)), "p99": float(np.percentile(lat, 99)),
            "target_mean": float(np.mean([r.times[1] for r in mine if r.latency is not None])),
        }
    for r in requests:
        measures["requests"][r.traffic_class] += 1
        request_bytes[r.traffic_class] += r.received + r.sent
        last_seen = max(last_seen, r.when)
        request_bins[r.when - r.when % bin_seconds][r.traffic_class] += 1
        if r.family == 6:
            cell = clients[_key(6, r.client, 24, 64)]
            cell[0] += 1
            cell[2] += r.received + r.sent
    label = {"address": None, "/64": 64, "/56": 56, "/48": 48}
    label4 = {"address": None, "/64": 24, "/56": 24, "/48": 24}

    def name(key: tuple[int, int], level: str) -> str:
        return _text(key[0], key[1], (label4 if key[0] == 4 else label)[level])

    top_talkers: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for role, by_level in talkers.items():
        top_talkers[role] = {}
        for level, rows in by_level.items():
            ordered = _top(rows, top)
            top_talkers[role][level] = [
                {**({"source": name(k[0], level), "destination": name(k[1], level)} if role == "pair"
                    else {"key": name(k, level)}), "flows": v[0], "packets": v[1], "bytes": v[2]}
                for k, v in ordered
            ]
    return {
        "flows": len(flows), "requests": len(requests), "status_rows": status_rows, "duplicates_removed": duplicates,
        "rejected": rejected,
        "adoption": {m: dict(c) for m, c in measures.items()},
        "actions": {f"{a}/{c}": n for (a, c), n in sorted(actions.items())},
        "action_bytes": {f"{a}/{c}": n for (a, c), n in sorted(action_bytes.items())},
        "protocols": {str(p): n for p, n in sorted(protocols.items())},
        "protocol_bytes": {str(p): n for p, n in sorted(protocol_bytes.items())},
        "request_bytes": dict(request_bytes),
        "last_seen": datetime.fromtimestamp(last_seen, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "flow_bin_bytes": {str(b): dict(c) for b, c in sorted(bin_bytes.items())},
        "flow_source_kinds": dict(src_kinds), "flow_destination_kinds": dict(dst_kinds),
        "bin_seconds": bin_seconds,
        "flow_bins": {str(b): dict(c) for b, c in sorted(bins.items())},
        "request_bins": {str(b): dict(c) for b, c in sorted(request_bins.items())},
        "top_talkers": top_talkers,
        "alb": alb,
        "top_ipv6_clients_by_64": [
            {"prefix": name(k, "/64"), "requests": v[0], "bytes": v[2]} for k, v in _top(clients, top, by=0)
        ],
    }
