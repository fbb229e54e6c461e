"""Probe results as JSON Lines, CSV and Prometheus text (the seed's dashboard metrics).

Dashboard metrics (seed 004, "Monitoring Both Protocols"): IPv4/IPv6 packet loss %, IPv4/IPv6
latency (ms). Per target and family:

- ``v6ops_probe_success_ratio``: reachable addresses / published addresses;
- ``v6ops_probe_packet_loss_percent``: lost ICMP echoes and failed TCP connects, in percent of those sent;
- ``v6ops_probe_latency_seconds``: best TCP connect time; ``v6ops_probe_icmp_rtt_seconds``: best echo round trip;

and over all targets: ``v6ops_probe_avg_latency_seconds{family}`` and ``v6ops_probe_targets{verdict}``.
Latencies are in seconds, Prometheus's base unit (``promtool check metrics`` rejects ``_ms``);
the JSON result keeps milliseconds, as people read them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from v6ops.probe.run import SLOWER_PREFIX

CSV_COLUMNS = ["target", "host", "port", "verdict", "ipv6_slower_ms", "ipv6_addresses", "ipv6_reachable",
               "ipv6_connect_ms", "ipv4_addresses", "ipv4_reachable", "ipv4_connect_ms", "he_winner",
               "he_connected_ms", "started_at", "error"]


def jsonl_line(result: dict[str, Any]) -> str:
    return json.dumps(result, default=str, separators=(",", ":")) + "\n"


def csv_row(result: dict[str, Any]) -> list[Any]:
    fam = result.get("families") or {}
    v6, v4 = fam.get("IPv6") or {}, fam.get("IPv4") or {}
    he = result.get("happy_eyeballs") or {}
    return [result["target"], result["host"], result["port"], result["verdict"], result["ipv6_slower_ms"],
            v6.get("addresses"), v6.get("reachable"), v6.get("best_connect_ms"), v4.get("addresses"),
            v4.get("reachable"), v4.get("best_connect_ms"), he.get("winner"), he.get("connected_ms"),
            result["started_at"], result["error"]]


def to_csv(results: Iterable[dict[str, Any]], header: bool = True) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for result in results:
        writer.writerow(["" if v is None else v for v in csv_row(result)])
    return buffer.getvalue()


def _loss_percent(result: dict[str, Any], family: str) -> float | None:
    sent = lost = 0
    for row in result.get("addresses", []):
        if row["family"] != family:
            continue
        sent += 1
        lost += row["tcp_connect_ms"] is None
        if row["icmp_error"] is None or not str(row["icmp_error"]).startswith("not permitted"):
            sent += 1
            lost += row["icmp_rtt_ms"] is None
    return round(100.0 * lost / sent, 3) if sent else None


def prometheus_text(results: Iterable[dict[str, Any]]) -> str:
    registry = CollectorRegistry()
    labels = ["target", "family"]
    success = Gauge("v6ops_probe_success_ratio", "Reachable share of a target's addresses, per family",
                    labels, registry=registry)
    loss = Gauge("v6ops_probe_packet_loss_percent", "Lost echoes and failed connects, percent, per family",
                 labels, registry=registry)
    latency = Gauge("v6ops_probe_latency_seconds", "Best TCP connect time, per family", labels, registry=registry)
    rtt = Gauge("v6ops_probe_icmp_rtt_seconds", "Best ICMP echo round trip, per family", labels, registry=registry)
    avg = Gauge("v6ops_probe_avg_latency_seconds", "Mean over targets of the best TCP connect time, per family",
                ["family"], registry=registry)
    verdicts = Gauge("v6ops_probe_targets", "Targets per verdict", ["verdict"], registry=registry)
    sums: dict[str, list[float]] = {"IPv6": [], "IPv4": []}
    counts: dict[str, int] = {}
    for result in results:
        key = SLOWER_PREFIX if result["verdict"].startswith(SLOWER_PREFIX) else result["verdict"]
        counts[key] = counts.get(key, 0) + 1
        for family, summary in (result.get("families") or {}).items():
            if not summary or not summary["addresses"]:
                continue
            success.labels(result["target"], family).set(summary["success_ratio"])
            percent = _loss_percent(result, family)
            if percent is not None:
                loss.labels(result["target"], family).set(percent)
            if summary["best_connect_ms"] is not None:
                latency.labels(result["target"], family).set(summary["best_connect_ms"] / 1000)
                sums[family].append(summary["best_connect_ms"])
            if summary["icmp_rtt_ms"] is not None:
                rtt.labels(result["target"], family).set(summary["icmp_rtt_ms"] / 1000)
    for family, values in sums.items():
        if values:
            avg.labels(family).set(sum(values) / len(values) / 1000)
    for verdict, n in counts.items():
        verdicts.labels(verdict).set(n)
    return generate_latest(registry).decode()
