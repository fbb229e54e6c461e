"""The Grafana dashboard: its PromQL passes promtool and names only metrics v6ops exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from v6ops.cli.main import app
from v6ops.flows import grafana
from v6ops.flows.attacks import plant
from v6ops.flows.detections import DetectionConfig
from v6ops.flows.generate import generate
from v6ops.flows.pipeline import build_report
from v6ops.flows.render import prometheus

METRIC = re.compile(r"\b(v6ops_[a-z0-9_]+)\b")
PROMQL_WORDS = {"by", "sum", "topk", "count", "or", "vector"}


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("grafana")
    generate(out, flows=600, requests=100)
    plant(out)
    return prometheus(build_report([str(out / "logs")], detect=DetectionConfig()))


@pytest.mark.requires("promtool")
def test_promtool_checks_every_expression(tmp_path: Path) -> None:
    path = tmp_path / "dashboard-rules.yml"
    result = CliRunner().invoke(app, ["flows", "dashboard", "--grafana", str(tmp_path / "d.json"), "--rules", str(path)])
    assert result.exit_code == 0, result.output
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert f"SUCCESS: {len(grafana.expressions())} rules found" in checked.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("sum by (kind)", "sum by kind", 1))
    assert subprocess.run(["promtool", "check", "rules", str(broken)], capture_output=True).returncode == 1


def test_every_metric_is_exported(exposition: str) -> None:
    exported = set(re.findall(r"^# TYPE (\S+) ", exposition, re.M))
    used = {m for _, expr in grafana.expressions() for m in METRIC.findall(expr)}
    assert used and used <= exported, used - exported
    assert 'v6ops_flows_report_detections{kind="port_scan",severity="high"} 2.0' in exposition  # fast and slow
    assert 'v6ops_flows_alarm_state{alarm="Low-IPv6-Adoption",state="OK"} 1.0' in exposition
    assert 'v6ops_flows_report_top_source_bytes{level="/64",prefix="2a0c:9a40:5::/64"}' in exposition


def test_dashboard_model(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.json"
    result = CliRunner().invoke(app, ["flows", "dashboard", "--grafana", str(path), "--json"])
    assert result.exit_code == 0, result.output
    model: dict[str, Any] = json.loads(path.read_text())
    assert model == grafana.dashboard() and json.loads(result.output)["panels"] == len(model["panels"])
    assert model["id"] is None and 8 <= len(model["uid"]) <= 40 and model["schemaVersion"] == 39
    assert model["templating"]["list"][0]["type"] == "datasource"
    ids = [p["id"] for p in model["panels"]]
    assert len(set(ids)) == len(ids)
    cells: set[tuple[int, int]] = set()
    for panel in model["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24  # Grafana's 24-column grid
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & area, panel["title"]  # no two panels overlap
        cells |= area
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["refId"] and t["expr"] for t in panel["targets"])
    titles = " ".join(p["title"] for p in model["panels"]).lower()
    for topic in ("adoption", "family", "top source", "detections", "alarm"):
        assert topic in titles
