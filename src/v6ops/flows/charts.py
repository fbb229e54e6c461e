"""Report charts as inline SVG text (matplotlib, Agg backend): no files beside the HTML page."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {"ipv4": "#d62728", "ipv6": "#1f77b4", "nat64": "#9467bd", "unknown": "#7f7f7f"}
CLASSES = ("ipv4", "ipv6", "nat64", "unknown")


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def family_share(report: dict[str, Any]) -> str | None:
    measures = [m for m in ("flows", "packets", "bytes", "requests") if sum(
        report["adoption"][m][c] for c in CLASSES) > 0]
    if not measures:
        return None
    figure, axes = plt.subplots(figsize=(7, 0.6 + 0.5 * len(measures)))
    for row, measure in enumerate(measures):
        figures = report["adoption"][measure]
        total = sum(figures[c] for c in CLASSES)
        left = 0.0
        for c in CLASSES:
            width = figures[c] / total
            axes.barh(row, width, left=left, color=COLORS[c], label=c if row == 0 else None)
            left += width
    axes.set_yticks(range(len(measures)), measures)
    axes.set_xlim(0, 1)
    axes.set_xlabel("share")
    axes.set_title("IPv4 vs IPv6 share")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=len(CLASSES), fontsize="small")
    return _svg(figure)


def latency(report: dict[str, Any]) -> str | None:
    buckets = report["alb"]["latency_histogram"]
    if not buckets:
        return None
    figure, axes = plt.subplots(figsize=(7, 3))
    for c in CLASSES:
        mine = [b for b in buckets if b["traffic_class"] == c]
        if not mine:
            continue
        total = sum(b["requests"] for b in mine)
        axes.step([b["from_seconds"] for b in mine], [b["requests"] / total for b in mine], where="post",
                  color=COLORS[c], label=c)
    axes.set_xscale("log")
    axes.set_xlabel("ALB latency (s, request + target + response)")
    axes.set_ylabel("share of requests")
    axes.set_title("Latency distribution per family")
    axes.legend(fontsize="small")
    return _svg(figure)


def trends(report: dict[str, Any]) -> str | None:
    bins = report["trends"]["bins"]
    if not bins:
        return None
    figure, axes = plt.subplots(figsize=(7, 3))
    for kind in ("flows", "requests"):
        mine = [b for b in bins if b["kind"] == kind]
        if mine:
            axes.plot(range(len(mine)), [b["ipv6_share"] or 0 for b in mine], marker=".", label=f"IPv6 share of {kind}")
            ticks = list(range(0, len(mine), max(1, len(mine) // 6)))
            axes.set_xticks(ticks, [mine[i]["start"][5:16] for i in ticks], rotation=30, fontsize="small")
    axes.set_ylim(0, 1)
    axes.set_title(f"IPv6 share per {report['trends']['bin_seconds']} s bin")
    axes.legend(fontsize="small")
    return _svg(figure)


def top_prefixes(report: dict[str, Any]) -> str | None:
    rows = report["top_talkers"]["source"]["/64"]
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7, 0.5 + 0.3 * len(rows)))
    labels = [r["key"] for r in rows][::-1]
    values = [r["bytes"] for r in rows][::-1]
    colors = [COLORS["ipv6" if r["family"] == 6 else "ipv4"] for r in rows][::-1]
    axes.barh(labels, values, color=colors)
    axes.set_xlabel("bytes")
    axes.set_title("Top source prefixes (IPv6 /64, IPv4 /24)")
    return _svg(figure)


def all_charts(report: dict[str, Any]) -> dict[str, str]:
    made = {
        "IPv4 vs IPv6 share": family_share(report),
        "Latency per family": latency(report),
        "Trends": trends(report),
        "Top prefixes": top_prefixes(report),
    }
    return {title: svg for title, svg in made.items() if svg}
