"""Every figure of the report against the generator's ground truth (computed from its own integers)."""

from __future__ import annotations

from typing import Any

import pytest

CLASSES = ("ipv4", "ipv6", "nat64")


def test_inputs_and_rejections(report: dict[str, Any], truth: dict[str, Any]) -> None:
    formats = sorted(f["format"] for f in report["inputs"]["files"])
    assert formats == ["alb", "pcap", "vpc-flow-log", "vpc-flow-log"]
    reasons = {r["reason"]: r["count"] for r in report["inputs"]["by_reason"]}
    assert reasons == truth["rejected"]
    assert all(len(r["samples"]) == min(r["count"], 3) for r in report["inputs"]["by_reason"])
    assert report["inputs"]["file_errors"] == []


def test_summary(report: dict[str, Any], truth: dict[str, Any]) -> None:
    s = report["summary"]
    assert s["flows"] == truth["flows"]
    assert s["requests"] == truth["requests"]
    assert s["status_rows"] == truth["status_rows"]
    assert s["duplicates_removed"] == truth["duplicates_removed"] > 0
    assert s["packets"] == sum(truth["adoption"]["packets"].values())
    assert s["bytes"] == sum(truth["adoption"]["bytes"].values())
    assert s["first_seen"] == "2026-01-05T00:00:00Z"
    assert s["last_seen"] == truth["last_seen"]
    assert s["by_source"] == {"alb": truth["requests"], "pcap": 3,
                              "vpc-flow-log": truth["flows"] - 3 + sum(truth["status_rows"].values())}
    assert s["request_bytes"] == sum(truth["request_bytes"].values())


def test_request_bytes_by_class(report: dict[str, Any], truth: dict[str, Any]) -> None:
    for cls, value in truth["request_bytes"].items():
        assert report["adoption"]["request_bytes"][cls] == value


@pytest.mark.parametrize("measure", ["flows", "packets", "bytes", "requests"])
def test_adoption(report: dict[str, Any], truth: dict[str, Any], measure: str) -> None:
    got, want = report["adoption"][measure], truth["adoption"][measure]
    for c in CLASSES:
        assert got[c] == want.get(c, 0), c
    assert got["unknown"] == 0
    total = sum(want.values())
    assert got["ipv6_share"] == pytest.approx((want.get("ipv6", 0) + want.get("nat64", 0)) / total, abs=1e-6)
    assert got["nat64_share"] == pytest.approx(want.get("nat64", 0) / total, abs=1e-6)


def test_ipv4_mapped_clients_count_as_ipv4(report: dict[str, Any]) -> None:
    kinds = {k["src_kind"] for k in report["address_types"]["request_clients"]}
    assert "ipv4-mapped" not in kinds  # unmapped before counting


def test_actions(report: dict[str, Any], truth: dict[str, Any]) -> None:
    got = {f"{r['action']}/{r['traffic_class']}": r["flows"] for r in report["actions"]["by_action_and_class"]
           if r["action"] is not None}
    assert got == truth["actions"]
    got_bytes = {f"{r['action']}/{r['traffic_class']}": r["bytes"] for r in report["actions"]["by_action_and_class"]
                 if r["action"] is not None}
    assert got_bytes == truth["action_bytes"]
    pcap_rows = [r for r in report["actions"]["by_action"] if r["action"] is None]
    assert pcap_rows[0]["flows"] == 3  # captures carry no action


def test_protocols(report: dict[str, Any], truth: dict[str, Any]) -> None:
    got = {str(p["protocol"]): p["flows"] for p in report["protocols"]}
    assert got == truth["protocols"]
    assert {str(p["protocol"]): p["bytes"] for p in report["protocols"]} == truth["protocol_bytes"]
    names = {p["protocol"]: p["name"] for p in report["protocols"]}
    assert names[6] == "TCP" and names[17] == "UDP" and names[58] == "IPv6-ICMP" and names[1] == "ICMP"


def test_address_types(report: dict[str, Any], truth: dict[str, Any]) -> None:
    src = {r["src_kind"]: r["flows"] for r in report["address_types"]["flow_sources"]}
    dst = {r["dst_kind"]: r["flows"] for r in report["address_types"]["flow_destinations"]}
    assert src == truth["flow_source_kinds"]
    assert dst == truth["flow_destination_kinds"]


def test_trends_use_record_time(report: dict[str, Any], truth: dict[str, Any]) -> None:
    from datetime import datetime

    trends = report["trends"]
    assert trends["bin_seconds"] == truth["bin_seconds"]
    for kind, key in (("flows", "flow_bins"), ("requests", "request_bins")):
        got = {
            str(int(datetime.strptime(b["start"], "%Y-%m-%dT%H:%M:%S%z").timestamp())):
                {c: b[c]["records"] for c in CLASSES if b[c]["records"]}
            for b in trends["bins"] if b["kind"] == kind
        }
        assert got == truth[key]
    got_bytes = {
        str(int(datetime.strptime(b["start"], "%Y-%m-%dT%H:%M:%S%z").timestamp())):
            {c: b[c]["bytes"] for c in CLASSES if b[c]["records"]}
        for b in trends["bins"] if b["kind"] == "flows"
    }
    assert got_bytes == truth["flow_bin_bytes"]


@pytest.mark.parametrize("role", ["source", "destination", "pair"])
@pytest.mark.parametrize("level", ["address", "/64", "/56", "/48"])
def test_top_talkers(report: dict[str, Any], truth: dict[str, Any], role: str, level: str) -> None:
    got = [{k: v for k, v in r.items() if k != "family"} for r in report["top_talkers"][role][level]]
    assert got == truth["top_talkers"][role][level]


def test_privacy_addresses_do_not_flood_prefix_lists(report: dict[str, Any]) -> None:
    by_address = report["top_talkers"]["source"]["address"]
    by_64 = report["top_talkers"]["source"]["/64"]
    assert max(r["flows"] for r in by_64) > 5 * max(r["flows"] for r in by_address if r["family"] == 6)


@pytest.mark.parametrize("cls", ["ipv4", "ipv6"])
def test_alb_per_family(report: dict[str, Any], truth: dict[str, Any], cls: str) -> None:
    row = next(r for r in report["alb"]["per_class"] if r["traffic_class"] == cls)
    want = truth["alb"][cls]
    assert row["requests"] == want["requests"]
    assert row["failed_dispatch"] == want["failed_dispatch"] > 0
    assert row["status_4xx"] == want["status_4xx"]
    assert row["rate_4xx"] == pytest.approx(want["status_4xx"] / want["requests"], abs=1e-6)
    assert row["target_processing_mean_seconds"] == pytest.approx(want["target_mean"], abs=2e-6)
    assert row["status_5xx"] == want["status_5xx"]
    assert row["rate_5xx"] == pytest.approx(want["status_5xx"] / want["requests"], abs=1e-6)
    assert row["failed_dispatch_rate"] == pytest.approx(want["failed_dispatch"] / want["requests"], abs=1e-6)
    for stat in ("mean", "p50", "p95", "p99"):
        assert row["latency_seconds"][stat] == pytest.approx(want[stat], abs=2e-6), stat


def test_alb_latency_differs_per_family(report: dict[str, Any]) -> None:
    rows = {r["traffic_class"]: r for r in report["alb"]["per_class"]}
    assert rows["ipv6"]["latency_seconds"]["p50"] < rows["ipv4"]["latency_seconds"]["p50"]


def test_alb_top_ipv6_clients_by_64(report: dict[str, Any], truth: dict[str, Any]) -> None:
    assert report["alb"]["top_ipv6_clients_by_64"] == truth["top_ipv6_clients_by_64"]


def test_alb_latency_histogram_holds_every_dispatched_request(report: dict[str, Any], truth: dict[str, Any]) -> None:
    for cls in ("ipv4", "ipv6"):
        buckets = [b for b in report["alb"]["latency_histogram"] if b["traffic_class"] == cls]
        want = truth["alb"][cls]
        assert sum(b["requests"] for b in buckets) == want["requests"] - want["failed_dispatch"]
        assert all(b["from_seconds"] < b["to_seconds"] for b in buckets)
