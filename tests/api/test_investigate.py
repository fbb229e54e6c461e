"""Investigation of a stored event through the API and the CLI (the same object)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.api_client import api_client
from tests.policy.vm_fixtures import web_config
from v6ops.api.app import create_app
from v6ops.cli.main import app as cli
from v6ops.events import SecurityEvent
from v6ops.settings import Settings
from v6ops.store.db import open_store


@pytest.fixture
def setup(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app = create_app(Settings(data_dir=tmp_path, database_url=url))
    with api_client(app) as client:
        assert client.post("/api/v1/vms", json={"id": "vm-1", "customer_id": "acme",
                                                "config": {"ipv6_config": web_config()}}).status_code == 201
        t = datetime.now(UTC)
        events = [SecurityEvent(timestamp=t, event_id="incident", vm_id="vm-1", customer_id="acme",
                                event_type="source_validation_failed", severity="critical", source_ip="2001:db8::66",
                                description="source outside | the allowed prefixes")]
        events += [SecurityEvent(timestamp=t + timedelta(minutes=m), event_id=f"near{m}", vm_id=vm,
                                 customer_id="acme", event_type="rate_limit_exceeded", severity=sev)
                   for m, vm, sev in ((-10, "vm-1", "error"), (5, "vm-1", "warning"), (20, "vm-2", "info"),
                                      (25, "vm-2", "info"), (-300, "vm-1", "error"))]
        assert client.post("/api/v1/security/events", json=[e.to_dict() for e in events]).status_code == 201
        r = client.patch("/api/v1/vms/vm-1/security", json={"ra_guard": {"max_ra_rate": 3}})
        assert r.status_code == 200
        yield client, tmp_path, url
    open_store.cache_clear()


def test_investigation_via_api_and_cli(setup, monkeypatch):
    client, tmp_path, url = setup
    r = client.get("/api/v1/security/events/incident/investigation")
    assert r.status_code == 200, r.text
    inv = r.json()
    assert [e["event_id"] for e in inv["correlated_events"]] == ["near5", "near-10"]  # the -300 one is outside
    assert inv["correlated_by_severity"] == {"warning": 1, "error": 1}
    assert inv["config_version"] == 1  # the patch came after the event
    assert inv["config_at_event_time"]["security"]["ra_guard"]["max_ra_rate"] == 10
    assert inv["affected_vms"] == [{"vm_id": "vm-1", "events": 3}, {"vm_id": "vm-2", "events": 2}]
    assert inv["customer_id"] == "acme" and inv["remediation"][0].startswith("Strengthen source validation")
    assert client.get("/api/v1/security/events/nope/investigation").status_code == 404
    client.app.state.vm_service.audit.close()
    monkeypatch.setenv("V6OPS_DATABASE_URL", url)
    monkeypatch.setenv("V6OPS_DATA_DIR", str(tmp_path / "cli"))
    out = CliRunner().invoke(cli, ["policy", "investigate", "incident", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == inv
    md = CliRunner().invoke(cli, ["policy", "investigate", "incident", "--markdown"])
    assert md.exit_code == 0 and "# Security event incident" in md.stdout
    assert "source outside \\| the allowed prefixes" in md.stdout  # table cell escaped
    assert "| vm-2 | 2 |" in md.stdout
    bad = CliRunner().invoke(cli, ["policy", "investigate", "nope"])
    assert bad.exit_code == 2 and "does not exist" in bad.output
