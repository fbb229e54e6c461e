"""REST /api/v1/vms and /api/v1/security/events on SQLite and PostgreSQL, through the real app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api_client import api_client
from tests.policy.vm_fixtures import web_config
from v6ops.api.app import create_app
from v6ops.events import SecurityEvent
from v6ops.events.audit import read_records, verify
from v6ops.settings import Settings
from v6ops.store.db import open_store


@pytest.fixture
def client(vm_db_url: str, tmp_path: Path):
    app = create_app(Settings(data_dir=tmp_path, database_url=vm_db_url))
    with api_client(app) as c:
        yield c
    open_store.cache_clear()


def create(client, vm_id="vm-1", customer="acme", tier="premium", **security):
    r = client.post("/api/v1/vms", json={"id": vm_id, "customer_id": customer, "tier": tier, "name": vm_id,
                                         "config": {"ipv6_config": web_config(**security), "cpu": {"vcpu_count": 2}}})
    assert r.status_code == 201, r.text
    return r.json()


def test_create_get_and_secret_redaction(client, tmp_path):
    vm = create(client)
    assert vm["version"] == 1 and vm["profile"] == "HIGH" and vm["customer_id"] == "acme"
    assert vm["ipv6_config"]["security"]["monitoring"]["siem_config"]["auth_token"] == "**********"
    got = client.get("/api/v1/vms/vm-1")
    assert got.status_code == 200 and got.headers["etag"] == '"1"'
    assert got.json() == vm | {"warnings": []}
    sec = client.get("/api/v1/vms/vm-1/security").json()
    assert sec["ipv6_security"]["ra_guard"]["allowed_routers"] == ["fe80::1"]
    assert client.post("/api/v1/vms", json={"id": "vm-1", "customer_id": "acme",
                                            "config": {"ipv6_config": web_config()}}).status_code == 409
    assert "tok-SECRET-1" not in (tmp_path / "audit.jsonl").read_text()


def test_bad_config_is_422_with_field_paths_and_nothing_stored(client):
    bad = web_config(ra_guard={"enabled": True, "allowed_routers": ["2001:db8::1", "not-an-address"]},
                     rate_limits={"max_pps_per_vm": -1})
    r = client.post("/api/v1/vms", json={"id": "vm-x", "customer_id": "acme", "config": {"ipv6_config": bad}})
    assert r.status_code == 422
    paths = {d["path"] for d in r.json()["detail"]}
    assert "config.ipv6_config.security.rate_limits.max_pps_per_vm" in paths
    assert client.get("/api/v1/vms/vm-x").status_code == 404
    bad = web_config(ra_guard={"enabled": True, "allowed_routers": ["2001:db8::1"]})
    r = client.post("/api/v1/vms", json={"id": "vm-x", "customer_id": "acme", "config": {"ipv6_config": bad}})
    assert r.status_code == 422
    assert any(d["path"].startswith("config.ipv6_config.security.ra_guard.allowed_routers") for d in r.json()["detail"])
    assert client.get("/api/v1/vms", params={"customer_id": "acme"}).json()["total"] == 0
    r = client.post("/api/v1/vms", json={"id": "bad id!", "customer_id": "acme", "config": {"ipv6_config": web_config()}})
    assert r.status_code == 400 and "bad id!" in r.json()["detail"]


def test_patch_replace_versions_history_and_recompile(client, tmp_path):
    create(client)
    before = client.get("/api/v1/vms/vm-1").json()
    t_v1 = datetime.now(UTC)
    r = client.patch("/api/v1/vms/vm-1/security", json={"ra_guard": {"block_all_ra": True, "allowed_routers": None}})
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["ipv6_config"]["security"]["ra_guard"]["block_all_ra"] is True
    assert v2["ipv6_config"]["security"]["ra_guard"]["max_ra_rate"] == 10  # merged (RFC 7396), null removed
    assert v2["ipv6_config"]["security"]["ra_guard"]["allowed_routers"] == []
    assert v2["compiled_sha256"] != before["compiled_sha256"]  # the VM's table was recompiled
    # bad patch: 422 with the path relative to ipv6_config, and no new version
    r = client.patch("/api/v1/vms/vm-1/security", json={"rate_limits": {"max_pps_per_vm": "lots"}})
    assert r.status_code == 422 and r.json()["detail"][0]["path"] == "ipv6_config.security.rate_limits.max_pps_per_vm"
    assert client.get("/api/v1/vms/vm-1").json()["version"] == 2
    # optimistic concurrency
    r = client.put("/api/v1/vms/vm-1", json={"config": {"ipv6_config": web_config(profile="MEDIUM")}},
                   headers={"If-Match": '"1"'})
    assert r.status_code == 409
    r = client.put("/api/v1/vms/vm-1", json={"config": {"ipv6_config": web_config(profile="MEDIUM")}},
                   headers={"If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["version"] == 3 and r.json()["profile"] == "MEDIUM"
    hist = client.get("/api/v1/vms/vm-1/history").json()["versions"]
    assert [(h["version"], h["action"]) for h in hist] == [(1, "create"), (2, "patch"), (3, "replace")]
    assert all(h["actor"] == "test@testclient" for h in hist)  # the token's name and the client
    at = client.get("/api/v1/vms/vm-1/history", params={"timestamp": t_v1.isoformat()}).json()
    assert at["version"] == 1 and at["config"]["ipv6_security"]["ra_guard"]["block_all_ra"] is False
    old = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert client.get("/api/v1/vms/vm-1/history", params={"timestamp": old}).status_code == 404
    r = client.post("/api/v1/vms/vm-1/rollback", json={"version": 1})
    assert r.status_code == 200 and r.json()["version"] == 4
    assert r.json()["compiled_sha256"] == before["compiled_sha256"]
    # delete keeps history; audit log has who/what/before/after for every change, verifiable
    assert client.delete("/api/v1/vms/vm-1").status_code == 204
    assert client.get("/api/v1/vms/vm-1").status_code == 404
    assert client.get("/api/v1/vms/vm-1/history").json()["versions"][-1]["action"] == "delete"
    client.app.state.vm_service.audit.close()
    log = tmp_path / "audit.jsonl"
    assert verify(log).problem is None
    changes = [r for r in read_records(log) if r["kind"] == "change"]
    assert [c["action"] for c in changes] == ["create", "patch", "replace", "rollback", "delete"]
    assert changes[1]["before"]["security"]["ra_guard"]["block_all_ra"] is False
    assert changes[1]["after"]["security"]["ra_guard"]["block_all_ra"] is True
    assert changes[0]["before"] is None and changes[-1]["after"] is None
    assert "tok-SECRET-1" not in log.read_text()
    metrics = client.get("/metrics").text
    changes_metric = {line.split('change_type="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
                      for line in metrics.splitlines() if line.startswith("metald_ipv6_ra_guard_config_changes_total")}
    assert changes_metric["created"] == 1 and changes_metric["removed"] == 1 and changes_metric["updated"] >= 2


def test_list_filters_and_pagination(client):
    for n in range(7):
        create(client, f"vm-{n}", customer="acme" if n % 2 else "globex", tier="premium" if n < 3 else "basic",
               **({"profile": "MEDIUM"} if n == 6 else {}))
    page = client.get("/api/v1/vms", params={"limit": 3}).json()
    assert [v["id"] for v in page["vms"]] == ["vm-0", "vm-1", "vm-2"] and page["total"] == 7 and page["next_offset"] == 3
    page = client.get("/api/v1/vms", params={"limit": 3, "offset": 6}).json()
    assert [v["id"] for v in page["vms"]] == ["vm-6"] and page["next_offset"] is None
    acme = client.get("/api/v1/vms", params={"customer_id": "acme"}).json()
    assert [v["id"] for v in acme["vms"]] == ["vm-1", "vm-3", "vm-5"]
    both = client.get("/api/v1/vms", params={"customer_id": "globex", "tier": "premium"}).json()
    assert [v["id"] for v in both["vms"]] == ["vm-0", "vm-2"]
    assert [v["id"] for v in client.get("/api/v1/vms", params={"profile": "SECURITY_PROFILE_MEDIUM"}).json()["vms"]] == ["vm-6"]
    assert client.get("/api/v1/vms", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/vms", params={"limit": 5000}).status_code == 422


def ev(n, vm, customer, kind, sev, minutes):
    return SecurityEvent(timestamp=datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes),
                         event_id=f"e{n}", vm_id=vm, customer_id=customer, event_type=kind, severity=sev,
                         source_ip="2001:db8::bad").to_dict()


def test_security_events_queries(client):
    batch = [ev(0, "vm-1", "acme", "ra_blocked", "critical", 0), ev(1, "vm-1", "acme", "rate_limit_exceeded", "warning", 5),
             ev(2, "vm-2", "acme", "ra_blocked", "error", 10), ev(3, "vm-3", "globex", "port_scan", "info", 15),
             ev(4, "vm-1", "acme", "source_validation_failed", "error", 20)]
    r = client.post("/api/v1/security/events", json=batch)
    assert r.status_code == 201 and r.json() == {"stored": 5}
    assert client.post("/api/v1/security/events", json=batch[:1]).status_code == 201  # re-delivery: no duplicate

    def ids(**params):
        res = client.get("/api/v1/security/events", params=params)
        assert res.status_code == 200, res.text
        return [e["event_id"] for e in res.json()["events"]]

    assert ids() == ["e4", "e3", "e2", "e1", "e0"]
    assert ids(vm_id="vm-1") == ["e4", "e1", "e0"]
    assert ids(customer_id="globex") == ["e3"]
    assert ids(start="2026-03-01T12:05:00Z", end="2026-03-01T12:20:00Z") == ["e3", "e2", "e1"]
    assert ids(event_type="ra_blocked") == ["e2", "e0"]
    assert ids(severity="error") == ["e4", "e2"]
    assert ids(min_severity="error") == ["e4", "e2", "e0"]
    assert ids(limit=2, offset=2) == ["e2", "e1"]
    one = client.get("/api/v1/security/events/e3")
    assert one.status_code == 200 and one.json()["event_type"] == "port_scan"
    assert client.get("/api/v1/security/events/nope").status_code == 404
    bad = client.get("/api/v1/security/events", params={"event_type": "nonsense"})
    assert bad.status_code == 400 and "nonsense" in bad.json()["detail"]
    bad = client.get("/api/v1/security/events", params={"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"})
    assert bad.status_code == 400
    r = client.post("/api/v1/security/events", json=[{**batch[0], "severity": "loud"}])
    assert r.status_code == 422 and "events[0]" in r.json()["detail"]
    assert json.loads(json.dumps(one.json()))["source_ip"] == "2001:db8::bad"


def test_posted_events_reach_every_configured_sink(tmp_path):
    from tests.events.servers import SiemServer, self_signed
    from v6ops.events.audit import read_records

    cert, key = self_signed(tmp_path)
    siem = SiemServer(cert, key).start()
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        events_jsonl=tmp_path / "events.jsonl", events_siem_url=siem.url,
                        events_siem_token_file=token, events_siem_ca=cert)
    batch = [ev(n, "vm-1", "acme", "ra_blocked", "critical", n) for n in range(3)]
    try:
        with api_client(settings) as client:
            assert client.post("/api/v1/security/events", json=batch).status_code == 201
            assert client.get("/api/v1/security/events").json()["total"] == 3
            metrics = client.get("/metrics").text
            assert 'metald_ipv6_audit_events_total{event_type="ra_blocked",severity="critical",vm_id="vm-1"} 3.0' in metrics
        # shutdown flushed every sink
        assert [json.loads(x)["event_id"] for x in (tmp_path / "events.jsonl").read_text().splitlines()] == ["e0", "e1", "e2"]
        assert [json.loads(x)["event_id"] for x in siem.lines] == ["e0", "e1", "e2"]
        assert set(siem.auth) == {"Bearer tok-123"}
        audited = [r["event"]["event_id"] for r in read_records(tmp_path / "audit.jsonl") if r["kind"] == "event"]
        assert audited == ["e0", "e1", "e2"]
    finally:
        siem.stop()
        open_store.cache_clear()
