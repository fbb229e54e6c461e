"""Detections against planted attacks with ground truth, a clean corpus, replays, and an oracle for the windows."""

from __future__ import annotations

import json
import random
import shutil
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_client import api_client
from v6ops.flows import analyses, detections
from v6ops.flows.attacks import INTERNET_ENI, LAB_PREFIX, Case, plant
from v6ops.flows.detections import DetectionConfig, Rule
from v6ops.flows.duck import DuckEngine
from v6ops.flows.generate import generate
from v6ops.flows.pipeline import detect_threats
from v6ops.flows.schema import SOURCE_VPC, constant_label

CONFIG = DetectionConfig(internet_facing=(INTERNET_ENI,), exempt=(LAB_PREFIX,))


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    out = tmp_path_factory.mktemp("attacked")
    generate(out)
    return out, plant(out)


@pytest.fixture(scope="module")
def found(attacked: tuple[Path, list[Case]]) -> list[dict[str, Any]]:
    return detect_threats([str(attacked[0] / "logs")], CONFIG)["detections"]


def _matches(event: dict[str, Any], case: Case) -> bool:
    first = detections._iso(case.first)
    last = detections._iso(case.last)
    return event["kind"] == case.kind and event["source"] == case.source and event["first_seen"] <= last \
        and first < event["last_seen"]


def test_every_planted_attack_is_one_event(attacked: tuple[Path, list[Case]], found: list[dict[str, Any]]) -> None:
    _, cases = attacked
    for case in cases:
        hits = [e for e in found if _matches(e, case)]
        assert len(hits) == (0 if case.exempt else 1), (case, hits)
    unexplained = [e for e in found if not any(_matches(e, c) for c in cases)]
    assert unexplained == []
    assert len(found) == sum(not c.exempt for c in cases)


def test_clean_corpus_of_the_same_size_raises_nothing(tmp_path: Path, attacked: tuple[Path, list[Case]]) -> None:
    attack_lines = len((attacked[0] / "logs" / "attacks.log").read_text().splitlines())
    generate(tmp_path, flows=6000 + attack_lines, seed=23)
    result = detect_threats([str(tmp_path / "logs")], CONFIG)
    assert result["inputs"]["records_read"] > 6000 + attack_lines
    assert result["detections"] == []


def test_evidence(found: list[dict[str, Any]]) -> None:
    by_source = {e["source"]: e for e in found}
    fast = by_source["2a0c:9a40:1::66"]
    assert fast["rule"] == "port-scan" and fast["windows"] == 1 and fast["peak"] == 200
    assert fast["evidence"]["sample_ports"] == list(range(1, 11))
    assert fast["evidence"]["targets"] == ["2600:1f18:64::13"]
    assert set(fast["evidence"]["also_matched"]) >= {"port-scan-slow"}
    spread = by_source["2a0c:9a40:2:7::/64"]
    assert spread["evidence"]["source_addresses"] == 30 and len(spread["evidence"]["sample_sources"]) == 10
    assert all(s.startswith("2a0c:9a40:2:7:") for s in spread["evidence"]["sample_sources"])
    assert spread["peak"] == 300 and spread["evidence"]["targets"] == ["2600:1f18:64::/64"]
    slow = by_source["45.83.64.7"]
    assert slow["rule"] == "port-scan-slow" and slow["windows"] > 1  # one ongoing scan, one event
    spike = by_source["2a0c:9a40:5::10"]
    assert spike["evidence"]["baseline_mean"] == 2_000_000 and spike["evidence"]["bytes"] == 32_000_000
    assert by_source["fe80::1"]["evidence"]["address_kind"] == "link-local"
    assert len({e["detection_id"] for e in found}) == len(found)


def test_operator_settings(attacked: tuple[Path, list[Case]]) -> None:
    plain = detect_threats([str(attacked[0] / "logs" / "attacks.log")])["detections"]
    sources = {e["source"] for e in plain}
    assert "3fff:0:1::5" in sources  # documentation space, reported unless exempted
    assert "fd00:0:1::5" not in sources  # ULA is only a bogon on an internet-facing interface
    strict = DetectionConfig(rules=(Rule(name="ports", kind="port_scan", window=60, threshold=5),))
    few = detect_threats([str(attacked[0] / "logs" / "attacks.log")], strict)["detections"]
    assert {e["rule"] for e in few} == {"ports"}
    assert "2600:1f18:64::13" in next(e for e in few if e["source"] == "2a0c:9a40:1::66")["evidence"]["targets"]


def test_replay_in_other_files_and_orders_gives_the_same_events(tmp_path: Path, attacked: tuple[Path, list[Case]],
                                                                  found: list[dict[str, Any]]) -> None:
    logs = attacked[0] / "logs"
    lines = (logs / "attacks.log").read_text().splitlines()
    random.Random(5).shuffle(lines)
    replay = tmp_path / "replay"
    replay.mkdir()
    for name in ("alb.log", "capture.pcap", "vpc-custom.log", "vpc-default.log.gz"):
        shutil.copy(logs / name, replay / f"z-{name}")
    for i in range(3):  # the attack records split over three files, named so they are read in another order
        (replay / f"a{2 - i}-attacks.log").write_text("\n".join(lines[i::3]) + "\n")
    again = detect_threats([str(replay)], CONFIG)["detections"]
    assert again == found


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="not a multiple of slide"):
        Rule(name="x", kind="port_scan", window=100, slide=30, threshold=1)
    with pytest.raises(ValueError, match="tumbling"):
        Rule(name="x", kind="volume_baseline", window=600, slide=300, threshold=1)
    with pytest.raises(ValueError, match="repeat"):
        DetectionConfig(rules=(Rule(name="x", kind="port_scan", threshold=1),) * 2)
    with pytest.raises(ValueError, match="2001:db8::1/32"):
        DetectionConfig(exempt=("2001:db8::1/32",))


# The windows against a plain-Python oracle: random flows, every window start of every bin.

def _engine_over(rows: list[tuple[int, int, int, int]], threads: int = 1) -> DuckEngine:
    """rows: (source host, destination host, destination port, start epoch) as IPv6 flows, 100 bytes each."""
    n = len(rows)
    engine = DuckEngine(threads=threads)
    table = pa.table({
        "source": constant_label(SOURCE_VPC, n),
        "start": pa.array([r[3] for r in rows], pa.timestamp("s", tz="UTC")),
        "src_family": pa.array([6] * n, pa.uint8()), "src_hi": pa.array([0x2A0C9A40] * n, pa.uint64()),
        "src_lo": pa.array([r[0] for r in rows], pa.uint64()),
        "dst_family": pa.array([6] * n, pa.uint8()), "dst_hi": pa.array([0x26001F18] * n, pa.uint64()),
        "dst_lo": pa.array([r[1] for r in rows], pa.uint64()),
        "dst_port": pa.array([r[2] for r in rows], pa.int32()), "protocol": pa.array([6] * n, pa.int32()),
        "packets": pa.array([1] * n, pa.int64()), "bytes": pa.array([100] * n, pa.int64()),
    })
    engine.load([table])
    analyses.prepare(engine)
    engine.materialize("detect_base", detections.base_sql(engine.dialect))
    return engine


flow_rows = st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 12),
                               st.integers(1767571200, 1767571200 + 1800)), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=flow_rows, window=st.sampled_from([(60, 60), (120, 30), (300, 60)]), threshold=st.integers(0, 4))
def test_sliding_windows_match_an_oracle(rows: list[tuple[int, int, int, int]], window: tuple[int, int],
                                         threshold: int) -> None:
    size, slide = window
    ports: dict[tuple[int, int, int], set[int]] = defaultdict(set)
    volume: dict[tuple[int, int], int] = defaultdict(int)
    for src, dst, port, t in rows:
        first = t - t % slide - size + slide
        for ws in range(first, t + 1, slide):  # every window start (a multiple of slide) with ws <= t < ws + size
            ports[(src, dst, ws)].add(port)
            volume[(src, ws)] += 100
    engine = _engine_over(rows)
    try:
        scan = Rule(name="p", kind="port_scan", window=size, slide=slide if slide != size else None, threshold=threshold)
        engine.materialize("breaches", detections.breach_sql(engine.dialect, scan, DetectionConfig()))
        got = {(r["k_lo"], r["dst_lo"], r["ws"]): r["n"] for r in engine.query("SELECT * FROM breaches").to_pylist()}
        assert got == {k: len(v) for k, v in ports.items() if len(v) > threshold}
        sample_sql = detections.samples_sql(engine.dialect, scan, "breaches", 3)
        assert sample_sql is not None
        samples: dict[tuple[int, int, int], list[int]] = defaultdict(list)
        for r in engine.query(f"{sample_sql} ORDER BY r").to_pylist():
            samples[(r["k_lo"], r["dst_lo"], r["ws"])].append(r["port"] - 6 * 65536)
        assert samples == {k: sorted(ports[k])[:3] for k in got}  # the 3 smallest ports of each breaching window
        bulk = Rule(name="v", kind="high_volume", window=size, slide=slide if slide != size else None,
                    threshold=threshold * 100)
        got_volume = {(r["k_lo"], r["ws"]): r["n"]
                      for r in engine.query(detections.breach_sql(engine.dialect, bulk, DetectionConfig())).to_pylist()}
        assert got_volume == {k: v for k, v in volume.items() if v > threshold * 100}
    finally:
        engine.close()


def test_detections_are_shared_security_events(tmp_path: Path, attacked: tuple[Path, list[Case]],
                                               found: list[dict[str, Any]]) -> None:
    from typer.testing import CliRunner

    from v6ops.cli.main import app
    from v6ops.events import EventType, SecurityEvent, Severity

    rules = tmp_path / "rules.yaml"
    rules.write_text(f"internet_facing: [{INTERNET_ENI}]\nexempt: ['{LAB_PREFIX}']\n")
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, ["flows", "detect", str(attacked[0] / "logs"), "--rules", str(rules),
                                      "--events", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert [e["detection_id"] for e in json.loads(result.output)["detections"]] == \
        [e["detection_id"] for e in found]
    events = [SecurityEvent.from_json(line) for line in out.read_text().splitlines()]
    assert [e.event_id for e in events] == [e["detection_id"] for e in found]
    spread = next(e for e in events if e.details.get("source_prefix") == "2a0c:9a40:2:7::/64")
    assert spread.event_type == EventType.ADDRESS_SCAN and spread.severity == Severity.ERROR
    assert spread.source_ip == "2a0c:9a40:2:7::" and spread.details["evidence"]["source_addresses"] == 30
    assert spread.timestamp.isoformat() == "2026-01-05T00:40:00+00:00"  # event time, not the clock
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [{name: x, kind: port_scan, threshold: 1, window: 100, slide: 30}]\n")
    result = CliRunner().invoke(app, ["flows", "detect", str(attacked[0] / "logs"), "--rules", str(bad)])
    assert result.exit_code == 2 and "not a multiple of slide" in result.output


def test_api_detect_matches_cli(tmp_path: Path, attacked: tuple[Path, list[Case]], found: list[dict[str, Any]]) -> None:

    from v6ops.settings import Settings

    data_dir = tmp_path / "data"
    shutil.copytree(attacked[0] / "logs", data_dir / "logs")
    client = api_client(Settings(data_dir=data_dir))
    rules = {"internet_facing": [INTERNET_ENI], "exempt": [LAB_PREFIX]}
    response = client.post("/api/v1/flows/detect", json={"paths": ["logs"], "rules": rules})
    assert response.status_code == 200, response.text
    assert [e["detection_id"] for e in response.json()["detections"]] == [e["detection_id"] for e in found]
    assert response.json()["detections"][0]["evidence"] == found[0]["evidence"]
    bad = client.post("/api/v1/flows/detect", json={"paths": ["logs"], "rules": {"rules": [{"name": "x"}]}})
    assert bad.status_code == 422 and "rules.rules.0" in bad.json()["detail"]
    assert client.post("/api/v1/flows/detect", json={"paths": ["/etc"]}).status_code == 403


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=flow_rows, threshold=st.integers(0, 3))
def test_evidence_of_the_peak_windows_only_is_the_evidence_of_every_window(rows: list[tuple[int, int, int, int]],
                                                                           threshold: int) -> None:
    """``run`` reads samples for each episode's peak (``peaks_sql``); follow mode keeps them for every
    breaching window (``rule_breaches``): the events must be the same, evidence included."""
    rules = tuple(
        Rule(name=f"{kind}-{key.strip('/')}-{size}", kind=kind, key=key, window=size, slide=slide, threshold=limit)
        for kind, limit in (("port_scan", threshold), ("address_scan", threshold // 2), ("high_volume", threshold * 100))
        for key in ("address", "/64") for size, slide in ((60, None), (300, 60))
    )
    config = DetectionConfig(rules=rules, samples=2)
    engine = _engine_over(rows + [(1, 1, port, 1767571200 + port) for port in range(1, 6)])  # one sure breach
    try:
        every = detections.ordered([e for index, rule in enumerate(rules)
                                    for e in detections.episodes(rule, detections.rule_breaches(engine, index, rule, config))],
                                   config)
        peaks = detections.run(engine, config)
    finally:
        engine.close()
    assert len(every) >= 2, "too few breaches: the comparison would prove little"
    assert [e.as_dict() for e in peaks] == [e.as_dict() for e in every]


def test_rules_side_by_side_raise_what_rules_in_turn_raise() -> None:
    """``DuckEngine.each`` runs the rules on two cursors at once (proved by a barrier both must
    reach together), each seeing the tables made before; the events equal those of one cursor."""
    rows = [(src, dst, port, 1767571200 + 7 * port + src) for src in (1, 2, 3) for dst in (1, 2) for port in range(1, 9)]
    rules = tuple(Rule(name=f"{kind}-{key.strip('/')}", kind=kind, key=key, window=300, slide=60, threshold=limit)
                  for kind, limit in (("port_scan", 3), ("address_scan", 1), ("high_volume", 500))
                  for key in ("address", "/64"))
    config = DetectionConfig(rules=rules, samples=3)
    alone, side_by_side = _engine_over(rows, threads=1), _engine_over(rows, threads=2)
    try:
        together = threading.Barrier(2, timeout=30)

        def meet(engine: Any, item: int) -> int:
            if item < 2:
                together.wait()  # raises BrokenBarrierError if the items ran one after the other
            return int(engine.query("SELECT count(*) AS n FROM detect_base").to_pylist()[0]["n"]) + item

        assert side_by_side.each(meet, [0, 1, 2, 3]) == [len(rows) + i for i in range(4)]
        expected = [e.as_dict() for e in detections.run(alone, config)]
        assert len(expected) >= 4
        assert [e.as_dict() for e in detections.run(side_by_side, config)] == expected
    finally:
        alone.close()
        side_by_side.close()
