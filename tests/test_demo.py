"""``v6ops demo load``: an empty database gets a whole world the dashboard and API can show; a second
load (or any non-empty database) is refused and left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.api_client import api_client
from v6ops.cli.main import app as cli_app
from v6ops.settings import Settings


def test_demo_load_fills_an_empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V6OPS_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    done = runner.invoke(cli_app, ["demo", "load", "--subscribers", "300", "--devices", "300", "--json"])
    assert done.exit_code == 0, done.output
    made = json.loads(done.stdout)
    assert (made["subscribers"], made["devices"], made["pools"]) == (300, 300, 6) and made["flow_records"] > 1000
    assert made["vms"] == 12 and made["vm_events"] > 50 and made["flow_detections"] >= 2
    client = api_client(Settings(data_dir=tmp_path))
    adoption = client.get("/api/v1/ipam/adoption").json()
    assert adoption["dual_stack_subscribers"] > 100 and adoption["ipv6_only_subscribers"] > 0
    kinds = {(e["kind"], e["pool"]) for e in client.get("/api/v1/ipam/events").json()}
    assert ("utilization-high", "city-2-fiber") in kinds  # the overview has something to warn about
    stats = {r["region"]: r for r in client.get("/api/v1/ipam/devices/stats").json()}
    assert set(stats) == {"north", "south", "east"} and stats["south"]["connectivity_rate"] < 95
    acme = api_client(Settings(data_dir=tmp_path), "viewer", tenant="acme")
    assert {s["tenant"] for s in acme.get("/api/v1/ipam/subscribers").json()} == {"acme"}
    # VM security: every VM compiled and versioned, events the evaluator gave, flow detections among them.
    vms = client.get("/api/v1/vms").json()
    assert vms["total"] == 12 and {v["customer_id"] for v in vms["vms"]} == {"acme", "globex", "initech"}
    assert "table inet" in client.get(f"/api/v1/vms/{vms['vms'][0]['id']}/nftables").text
    events = client.get("/api/v1/security/events", params={"limit": 1000}).json()
    types = {e["event_type"] for e in events["events"]}
    assert {"ra_blocked", "source_validation_failed", "rate_limit_exceeded", "port_scan", "address_scan"} <= types
    assert all(e["source"] == "flows.detect" for e in events["events"] if e["event_type"] in {"port_scan", "address_scan"})
    assert events["total"] == made["vm_events"] + len([e for e in events["events"] if e["source"] == "flows.detect"])
    acme_vms = acme.get("/api/v1/vms").json()
    assert acme_vms["total"] == 4 and {v["customer_id"] for v in acme_vms["vms"]} == {"acme"}
    acme_events = acme.get("/api/v1/security/events", params={"limit": 1000}).json()["events"]
    assert acme_events and {e["customer_id"] for e in acme_events} == {"acme"}
    health = client.get("/health/ipv6").json()
    assert health["checks"]["flow_ingest_recent"] and health["metrics"]["ipv6_allocations_last_hour"] > 300
    again = runner.invoke(cli_app, ["demo", "load", "--subscribers", "1"])
    assert again.exit_code == 2 and "empty database only" in again.stderr
    assert client.get("/api/v1/ipam/adoption").json() == adoption
