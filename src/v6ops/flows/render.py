"""The report as Markdown, self-contained HTML (inline SVG charts) and Prometheus exposition text."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from v6ops.flows import charts
from v6ops.flows.alarms import ALARM, INSUFFICIENT, OK
from v6ops.flows.detections import SEVERITY as DETECTION_SEVERITY

CLASSES = ("ipv4", "ipv6", "nat64", "unknown")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return [*out, ""]


def sections(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, headers, rows) for each table: one source for Markdown, HTML and the CLI."""
    s, a = report["summary"], report["adoption"]
    out: list[tuple[str, list[str], list[list[Any]]]] = [
        ("Summary", ["figure", "value"], [
            ["records", s["records"]], ["flows", s["flows"]], ["requests", s["requests"]],
            ["packets", s["packets"]], ["bytes", s["bytes"]],
            ["status rows", ", ".join(f"{k} {v}" for k, v in s["status_rows"].items()) or "none"],
            ["duplicates removed (flow-direction)", s["duplicates_removed"]],
            ["first seen", s["first_seen"]], ["last seen", s["last_seen"]],
            ["rejected lines", report["inputs"]["rejected_lines"]],
        ]),
        ("IPv6 adoption", ["measure", *CLASSES, "IPv6 share", "of which NAT64"], [
            [m, *(a[m][c] for c in CLASSES), _pct(a[m]["ipv6_share"]), _pct(a[m]["nat64_share"])]
            for m in ("flows", "packets", "bytes", "requests")
        ]),
        ("Accept / reject", ["action", "class", "flows", "packets", "bytes"], [
            [r["action"], r["traffic_class"], r["flows"], r["packets"], r["bytes"]]
            for r in report["actions"]["by_action_and_class"]
        ]),
        ("Protocols", ["number", "IANA name", "flows", "bytes"], [
            [p["protocol"], p["name"], p["flows"], p["bytes"]] for p in report["protocols"]
        ]),
        ("Address types (flow sources)", ["kind", "flows", "bytes"], [
            [t["src_kind"], t["flows"], t["bytes"]] for t in report["address_types"]["flow_sources"]
        ]),
        ("Address types (flow destinations)", ["kind", "flows", "bytes"], [
            [t["dst_kind"], t["flows"], t["bytes"]] for t in report["address_types"]["flow_destinations"]
        ]),
    ]
    for role in ("source", "destination"):
        for level in ("address", "/64", "/48"):
            rows = report["top_talkers"][role][level]
            out.append((f"Top {role}s by {level}", ["key", "flows", "packets", "bytes"],
                        [[r["key"], r["flows"], r["packets"], r["bytes"]] for r in rows]))
    out.append(("Top pairs by /64", ["source", "destination", "flows", "bytes"], [
        [r["source"], r["destination"], r["flows"], r["bytes"]] for r in report["top_talkers"]["pair"]["/64"]
    ]))
    alb = report["alb"]
    if alb["per_class"]:
        out.append(("ALB per family", ["class", "requests", "mean s", "p50 s", "p95 s", "p99 s", "4xx", "5xx",
                                       "failed dispatch"], [
            [r["traffic_class"], r["requests"], *(r["latency_seconds"][k] for k in ("mean", "p50", "p95", "p99")),
             _pct(r["rate_4xx"]), _pct(r["rate_5xx"]), _pct(r["failed_dispatch_rate"])]
            for r in alb["per_class"]
        ]))
        out.append(("Top IPv6 clients by /64 (ALB)", ["prefix", "requests", "bytes"], [
            [r["prefix"], r["requests"], r["bytes"]] for r in alb["top_ipv6_clients_by_64"]
        ]))
    rejected = report["inputs"]["by_reason"]
    if rejected or report["inputs"]["file_errors"]:
        out.append(("Rejected input", ["reason", "count", "samples"], [
            *([r["reason"], r["count"], " / ".join(r["samples"])] for r in rejected),
            *(["file error", 1, f"{e['path']}: {e['error']}"] for e in report["inputs"]["file_errors"]),
        ]))
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Flow and access-log report", "", f"Schema `{report['schema']}` v{report['schema_version']}.", ""]
    for title, headers, rows in sections(report):
        lines += [f"## {title}", "", *_table(headers, rows)]
    lines += ["## Counting rules", "", *(f"- {rule}" for rule in report["counting_rules"]), ""]
    return "\n".join(lines)


def html_page(report: dict[str, Any]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>v6ops flow report</title><style>"
        "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}svg{max-width:100%;height:auto}"
        "</style></head><body><h1>Flow and access-log report</h1>"
    ]
    for title, svg in charts.all_charts(report).items():
        parts.append(f"<h2>{html.escape(title)}</h2>{svg}")
    for title, headers, rows in sections(report):
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(h)}</th>" for h in headers]
        parts.append("</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>Counting rules</h2><ul>")
    parts += [f"<li>{html.escape(rule)}</li>" for rule in report["counting_rules"]]
    parts.append("</ul></body></html>")
    return "".join(parts)


def prometheus(report: dict[str, Any]) -> str:
    registry = CollectorRegistry()
    labels = ["traffic_class"]
    totals = {
        m: Gauge(f"v6ops_flows_report_{m}", f"{m.capitalize()} in the report, per traffic class", labels,
                 registry=registry)
        for m in ("flows", "packets", "bytes", "requests")
    }
    for measure, gauge in totals.items():
        for c in CLASSES:
            gauge.labels(c).set(report["adoption"][measure][c])
    share = Gauge("v6ops_flows_report_ipv6_share", "IPv6 share (NAT64 included) per measure", ["measure"],
                  registry=registry)
    for measure in ("flows", "packets", "bytes", "requests"):
        value = report["adoption"][measure]["ipv6_share"]
        if value is not None:
            share.labels(measure).set(value)
    actions = Gauge("v6ops_flows_report_action_flows", "Flows per action and class", ["action", "traffic_class"],
                    registry=registry)
    for r in report["actions"]["by_action_and_class"]:
        actions.labels(str(r["action"]), r["traffic_class"]).set(r["flows"])
    rejected = Gauge("v6ops_flows_report_rejected_lines", "Input lines rejected, per reason", ["reason"],
                     registry=registry)
    for r in report["inputs"]["by_reason"]:
        rejected.labels(r["reason"]).set(r["count"])
    status = Gauge("v6ops_flows_report_status_rows", "NODATA/SKIPDATA status rows", ["log_status"], registry=registry)
    for name, count in report["summary"]["status_rows"].items():
        status.labels(name).set(count)
    latency = Gauge("v6ops_flows_report_alb_latency_seconds", "ALB latency per class", ["traffic_class", "statistic"],
                    registry=registry)
    rates = Gauge("v6ops_flows_report_alb_rate", "ALB error rates per class", ["traffic_class", "kind"],
                  registry=registry)
    for r in report["alb"]["per_class"]:
        for stat, value in r["latency_seconds"].items():
            if value is not None:
                latency.labels(r["traffic_class"], stat).set(value)
        for kind in ("rate_4xx", "rate_5xx", "failed_dispatch_rate"):
            if r[kind] is not None:
                rates.labels(r["traffic_class"], kind.replace("_rate", "").replace("rate_", "")).set(r[kind])
    top = Gauge("v6ops_flows_report_top_source_bytes", "Bytes of the top source prefixes", ["level", "prefix"],
                registry=registry)
    for level in ("/64", "/48"):
        for r in report["top_talkers"]["source"][level]:
            top.labels(level, r["key"]).set(r["bytes"])
    found = Gauge("v6ops_flows_report_detections", "Detection episodes per kind and severity (0 when none)",
                  ["kind", "severity"], registry=registry)
    for kind, severity in DETECTION_SEVERITY.items():
        found.labels(kind, severity).set(0)
    for d in report.get("detections", []):
        found.labels(d["kind"], d["severity"]).inc()
    states = Gauge("v6ops_flows_alarm_state", "1 for each alarm's current state, 0 for its other states",
                   ["alarm", "state"], registry=registry)
    last = Gauge("v6ops_flows_alarm_datapoint", "The latest datapoint of each alarm's metric", ["alarm", "metric"],
                 registry=registry)
    for a in report.get("alarms", []):
        for state in (OK, ALARM, INSUFFICIENT):
            states.labels(a["alarm"], state).set(1 if a["state"] == state else 0)
        if a["datapoints"]:
            last.labels(a["alarm"], a["metric"]).set(a["datapoints"][-1]["value"])
    return generate_latest(registry).decode()



def write_outputs(report: dict[str, Any], out: Path) -> dict[str, str]:
    """report.json, report.md, report.html and metrics.prom in ``out``; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "json": ("report.json", json.dumps(report, indent=1, default=str)),
        "markdown": ("report.md", markdown(report)),
        "html": ("report.html", html_page(report)),
        "prometheus": ("metrics.prom", prometheus(report)),
    }
    written = {}
    for kind, (name, text) in files.items():
        (out / name).write_text(text, encoding="utf-8")
        written[kind] = str(out / name)
    return written
