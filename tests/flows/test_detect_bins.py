"""The detections over the C reader's flows aggregate raise byte-identical events to the row path.

``build_report(..., detect=...)`` reads clean VPC text files with the C reader into per-bin
aggregates (``rawscan.valued_flows``); ``scan_files=False`` reads every record as a row. Random
small corpora with planted scans (hypothesis), odd lines the reader hands to the row path, status
rows, IPv4-mapped and bogon sources, internet-facing interfaces and rules of several windows and
slides must give the same events, evidence included, and the same rejections.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v6ops.flows import analyses, detections, rawscan
from v6ops.flows.attacks import INTERNET_ENI, LAB_PREFIX, plant
from v6ops.flows.detections import DetectionConfig, Rule, detect_bins
from v6ops.flows.duck import DuckEngine
from v6ops.flows.encoded import DetectBins
from v6ops.flows.generate import generate
from v6ops.flows.pipeline import build_report, detect_threats
from v6ops.flows.problems import Rejections
from v6ops.flows.sources import LocalFile

BASE = 1767571200  # 2026-01-05T00:00:00Z
SOURCES = ("2a0c:9a40:7::1", "2a0c:9a40:7::2", "2a0c:9a40:7:0:aaaa::9", "2a0c:9a40:8::1", "198.51.100.7",
           "::ffff:198.51.100.7", "fe80::1", "fd00:0:1::5", "2001:db8::1", "10.1.2.3")
TARGETS = ("2600:1f18:64::13", "2600:1f18:64::14", "2600:1f18:64:1::1", "2600:1f18:65::1", "203.0.113.9",
           "203.0.113.10", "203.0.114.1")
ENIS = ("eni-0a", "eni-0b", INTERNET_ENI)
RULES = (
    Rule(name="ports", kind="port_scan", window=120, slide=60, threshold=4),
    Rule(name="ports-64", kind="port_scan", key="/64", window=60, threshold=4),
    Rule(name="hosts", kind="address_scan", window=300, slide=60, threshold=2),
    Rule(name="hosts-48-64", kind="address_scan", key="/64", window=600, slide=300, threshold=2, prefix6=48,
         prefix4=16),
    Rule(name="volume", kind="high_volume", window=60, threshold=4000),
    Rule(name="volume-64", kind="high_volume", key="/64", window=180, slide=90, threshold=9, measure="packets"),
    Rule(name="baseline", kind="volume_baseline", window=120, threshold=2, history=3, min_history=1),
    Rule(name="rejects", kind="high_rejection_rate", window=120, slide=60, threshold=2, min_share=0.5),
    Rule(name="bogons", kind="suspicious_source", window=300, threshold=0),
)
CONFIG = DetectionConfig(rules=RULES, internet_facing=(INTERNET_ENI,), samples=3)

record = st.tuples(
    st.sampled_from(SOURCES), st.sampled_from(TARGETS), st.sampled_from((6, 17, 1)), st.integers(20, 30),
    st.integers(0, 3 * 3600), st.integers(1, 40), st.sampled_from(("ACCEPT", "ACCEPT", "REJECT")),
    st.sampled_from(ENIS),
)
scan = st.tuples(st.sampled_from(SOURCES), st.sampled_from(TARGETS), st.integers(0, 3 * 3600), st.integers(3, 12))
odd = st.sampled_from((
    "2 123456789010 eni-0a 2a0c:9a40:7::1  2600:1f18:64::13 1 22 6 1 60 {t} {e} ACCEPT OK",  # doubled space
    "2 123456789010 eni-0a 2a0c:9a40:7::1 2600:1f18:64::13 1 22 6 x 60 {t} {e} ACCEPT OK",  # not a number
    "2 123456789010 eni-0a 2a0c:9a40:7::1 2600:1f18:64::13 1 22 6 1 60 {t} {e} ACCEPT OK\r",  # CRLF
    "2 123456789010 eni-0a - - - - - - - {t} {e} - NODATA",  # status row
    "2 123456789010 eni-0a 10.1.2.3 - - - 1 2 200 {t} {e} REJECT OK",  # no destination
))


def _line(src: str, dst: str, proto: int, port: int, t: int, size: int, action: str, eni: str) -> str:
    ports = ("-", "-") if proto == 1 else ("40000", str(port))
    return (f"2 123456789010 {eni} {src} {dst} {ports[0]} {ports[1]} {proto} {size % 7 + 1} {size * 100} "
            f"{BASE + t} {BASE + t + 60} {action} OK")


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    inputs = {k: v for k, v in report["inputs"].items() if k != "files"}
    return {"detections": json.dumps(report["detections"], sort_keys=True), "inputs": inputs}


@pytest.fixture
def binned_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of each flows aggregate the reader registered (proof the aggregate path ran)."""
    seen: list[int] = []
    valued = rawscan.valued_flows

    def spy(flows: Any, addresses: Any) -> Any:
        seen.append(flows.num_rows)
        return valued(flows, addresses)

    monkeypatch.setattr(rawscan, "valued_flows", spy)
    return seen


def test_the_bin_divides_every_slide() -> None:
    assert detect_bins(CONFIG) == 30
    assert detect_bins(DetectionConfig()) == 60


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(record, max_size=120), scans=st.lists(scan, max_size=3),
       odd_lines=st.lists(st.tuples(odd, st.integers(0, 3 * 3600)), max_size=4))
def test_aggregate_and_row_paths_raise_the_same_events(tmp_path: Path, binned_rows: list[int],
                                                        records: list[tuple[Any, ...]],
                                                        scans: list[tuple[str, str, int, int]],
                                                        odd_lines: list[tuple[str, int]]) -> None:
    lines = [_line(*r) for r in records]
    for src, dst, t, ports in scans:  # a vertical scan: one source, one target, many ports within a minute
        lines += [_line(src, dst, 6, 1000 + p, t + p % 50, 1, "REJECT", ENIS[0]) for p in range(ports)]
    lines += [text.format(t=BASE + t, e=BASE + t + 60) for text, t in odd_lines]
    if not lines:
        return
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    binned_rows.clear()
    by_bins = build_report([str(path)], detect=CONFIG)
    assert binned_rows, "the reader's flows aggregate was not used"
    assert _comparable(by_bins) == _comparable(build_report([str(path)], detect=CONFIG, scan_files=False))


def test_planted_attacks_through_the_reader(tmp_path: Path, binned_rows: list[int]) -> None:
    """The planted-attack corpus (every kind, default rules): the report and ``v6ops flows detect`` both
    read it through the C reader's flows aggregate and raise the same events as the row path."""
    generate(tmp_path)
    plant(tmp_path)
    config = DetectionConfig(internet_facing=(INTERNET_ENI,), exempt=(LAB_PREFIX,))
    logs = str(tmp_path / "logs")
    report = build_report([logs], detect=config)
    assert binned_rows and sum(binned_rows) > 0
    binned_rows.clear()
    events = detect_threats([logs], config)["detections"]
    assert binned_rows and sum(binned_rows) > 0, "flows detect did not read the aggregate"
    assert len(events) > 10
    assert report["detections"] == events
    assert build_report([logs], detect=config, scan_files=False)["detections"] == events


def test_a_64_scanning_several_targets_in_one_window_counts_each_source_once(tmp_path: Path) -> None:
    """/64 sources of a window breaching on two targets at once: three addresses, not six."""
    sources = ("2a0c:9a40:9::1", "2a0c:9a40:9::2", "2a0c:9a40:9::3")
    lines = [_line(src, f"{net}::{host}", 6, 443, 10 + host, 1, "ACCEPT", ENIS[0])
             for net in ("2600:1f18:70", "2600:1f18:71") for src in sources for host in range(1, 5)]
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    rule = Rule(name="hosts-64", kind="address_scan", key="/64", window=60, threshold=3)
    config = DetectionConfig(rules=(rule,))
    for scan_files in (True, False):
        events = build_report([str(path)], detect=config, scan_files=scan_files)["detections"]
        assert [e["source"] for e in events] == ["2a0c:9a40:9::/64"]
        assert events[0]["evidence"]["source_addresses"] == 3
        assert events[0]["evidence"]["target_count"] == 2


def test_the_rules_free_the_flows_aggregate_once_loaded(tmp_path: Path) -> None:
    """``run`` consumes the reader's flows aggregates: loaded into ``detect_base``, then unregistered
    (they would hold as much memory again while the rules run), and the events are still there."""
    lines = [_line("2a0c:9a40:9::1", f"2600:1f18:70::{host}", 6, 443, 10 + host, 1, "ACCEPT", ENIS[0])
             for host in range(1, 6)]
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    config = DetectionConfig(rules=(Rule(name="hosts", kind="address_scan", window=60, threshold=3),))
    engine = DuckEngine()
    raw = rawscan.sniff(LocalFile(path), None, Rejections())
    assert raw is not None
    scan = rawscan.scan_file(engine, raw, "file_0", 60, DetectBins(detect_bins(config), ()))
    assert scan is not None and scan.flows is not None
    assert engine.query(f"SELECT count(*) AS n FROM {scan.flows}").column("n")[0].as_py() == 5
    engine.load([])  # no rows beside the aggregate
    analyses.prepare(engine)
    found = detections.run(engine, config, [scan.flows])
    assert [e.source for e in found] == ["2a0c:9a40:9::1"]
    with pytest.raises(duckdb.CatalogException, match=scan.flows):
        engine.query(f"SELECT * FROM {scan.flows}")
    engine.close()
