"""Markdown, HTML and Prometheus outputs carry the report's figures."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from v6ops.flows.render import html_page, markdown, prometheus


def test_prometheus_exposition_matches_the_report(report: dict[str, Any]) -> None:
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(prometheus(report)) for s in family.samples
    }
    for measure in ("flows", "packets", "bytes", "requests"):
        for cls in ("ipv4", "ipv6", "nat64"):
            key = (f"v6ops_flows_report_{measure}", (("traffic_class", cls),))
            assert samples[key] == report["adoption"][measure][cls]
        share = samples[("v6ops_flows_report_ipv6_share", (("measure", measure),))]
        assert share == report["adoption"][measure]["ipv6_share"]
    row = next(r for r in report["alb"]["per_class"] if r["traffic_class"] == "ipv6")
    key = ("v6ops_flows_report_alb_latency_seconds", (("statistic", "p99"), ("traffic_class", "ipv6")))
    assert samples[key] == row["latency_seconds"]["p99"]
    key = ("v6ops_flows_report_alb_rate", (("kind", "failed_dispatch"), ("traffic_class", "ipv6")))
    assert samples[key] == row["failed_dispatch_rate"]
    for reason in report["inputs"]["by_reason"]:
        assert samples[("v6ops_flows_report_rejected_lines", (("reason", reason["reason"]),))] == reason["count"]
    assert samples[("v6ops_flows_report_status_rows", (("log_status", "NODATA"),))] == 7


def test_markdown_and_html_have_every_section(report: dict[str, Any]) -> None:
    text, page = markdown(report), html_page(report)
    for title in ("Summary", "IPv6 adoption", "Accept / reject", "Protocols", "Top sources by /64",
                  "ALB per family", "Top IPv6 clients by /64 (ALB)", "Rejected input", "Counting rules"):
        assert f"## {title}" in text
        assert f"<h2>{title}</h2>" in page
    top = report["top_talkers"]["source"]["/64"][0]
    assert top["key"] in text and top["key"] in page
    assert page.count("<svg") == 4  # charts inline: nothing is fetched when the page opens
    assert "src=" not in page and "<link" not in page and "<script" not in page
