"""`v6ops policy compliance` and POST /api/v1/policy/compliance return the same report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api_client import api_client
from v6ops.cli.policy import app
from v6ops.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
runner = CliRunner()
PHASE1 = EXAMPLES / "migration-phase1-ra-guard.json"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return api_client(Settings(data_dir=tmp_path), "viewer")


def test_compliant_file_exits_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIEM_AUTH_TOKEN", "x")
    result = runner.invoke(app, ["compliance", str(EXAMPLES / "ipv6-production.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "# ipv6-production: compliant (0 violation(s); scope configured)"
    report = json.loads(runner.invoke(app, ["compliance", "--json", str(EXAMPLES / "ipv6-production.yaml")]).stdout)
    assert [t["state"] for t in report["targets"]] == ["compliant"]


def test_non_compliant_file_exits_one_in_every_format() -> None:
    for args in ([], ["--format", "json"], ["--json"], ["--format", "markdown"]):
        result = runner.invoke(app, ["compliance", str(PHASE1), "-f", "pci-dss", *args])
        assert result.exit_code == 1, result.output
    markdown = runner.invoke(app, ["compliance", str(PHASE1), "--framework", "PCI_DSS", "--format", "markdown"]).stdout
    assert markdown.startswith("# Compliance report")
    assert "| PCI_DSS | 1.1.4 | **FAIL** | error | `source_validation.strict_egress` |" in markdown


def test_unknown_framework_is_a_usage_error() -> None:
    result = runner.invoke(app, ["compliance", str(PHASE1), "--framework", "SOX"])
    assert result.exit_code == 2
    assert "SOX" in result.output


def test_api_returns_the_cli_object(client: TestClient) -> None:
    cli = json.loads(runner.invoke(app, ["compliance", "--json", "-f", "HIPAA", "-f", "gdpr", str(PHASE1)]).stdout)
    response = client.post("/api/v1/policy/compliance", json={
        "document": json.loads(PHASE1.read_text()), "name": str(PHASE1), "frameworks": ["HIPAA", "gdpr"]})
    assert response.status_code == 200
    assert response.json() == cli
    assert {t["state"] for t in cli["targets"]} == {"non_compliant"}
    assert cli["targets"][0]["frameworks"] == ["HIPAA", "GDPR"]


def test_api_bad_framework_is_400_and_broken_document_422(client: TestClient) -> None:
    response = client.post("/api/v1/policy/compliance", json={"document": {}, "frameworks": ["SOX"]})
    assert response.status_code == 400 and "SOX" in response.json()["detail"]
    response = client.post("/api/v1/policy/compliance", json={"document": "{", "format": "json"})
    assert response.status_code == 422 and response.json()["loaded"] is False


def test_unloadable_file_is_reported_in_the_table(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("ra_guard: [\n")
    result = runner.invoke(app, ["compliance", str(path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"# {path}: cannot be checked"  # a pipe gets whole lines, whatever the path's length
    assert lines[2].startswith("(document)  not valid YAML: expected the node content")
