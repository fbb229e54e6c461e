"""VM security and security events, on SQLite and PostgreSQL: tenant A never sees or changes tenant B's VMs or
events (JSON API: 404 or not listed, 403 when it asks to act for B); the dashboard pages show the same objects,
filtered as asked, with their JSON links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api_client import api_client
from tests.policy.vm_fixtures import web_config
from v6ops.api.app import create_app
from v6ops.settings import Settings
from v6ops.store.db import open_store

NOW = datetime.now(UTC).replace(microsecond=0)


def event(event_id: str, vm_id: str, customer: str, event_type: str = "ra_blocked", severity: str = "critical",
          hours_ago: float = 1, **extra: Any) -> dict[str, Any]:
    return {"timestamp": (NOW - timedelta(hours=hours_ago)).isoformat(), "event_id": event_id, "vm_id": vm_id,
            "customer_id": customer, "event_type": event_type, "severity": severity, "source_ip": "fe80::bad:1",
            "description": f"{event_type} on {vm_id or 'the network'}", **extra}


@pytest.fixture
def app(vm_db_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    """Two tenants, a VM each, events of each and one flow detection (no customer: the installation's)."""
    app = create_app(Settings(data_dir=tmp_path, database_url=vm_db_url, auth_cache_seconds=0))
    admin = api_client(app)
    for vm_id, customer in (("vm-a1", "a"), ("vm-b1", "b")):
        r = admin.post("/api/v1/vms", json={"id": vm_id, "customer_id": customer, "name": f"web of {customer}",
                                            "config": {"ipv6_config": web_config()}})
        assert r.status_code == 201, r.text
    posted = admin.post("/api/v1/security/events", json=[
        event("ev-a1", "vm-a1", "a"), event("ev-a2", "vm-a1", "a", "rate_limit_exceeded", "warning", 0.5),
        event("ev-b1", "vm-b1", "b", "source_validation_failed", "error", 1.25),
        event("ev-flow", "", "", "port_scan", "error", 2, source="flows.detect",
              details={"rule": "port-scan", "windows": 1, "peak": 120})])
    assert posted.json() == {"stored": 4}
    yield app
    app.state.event_sink.close()
    open_store.cache_clear()


def ids(page: dict[str, Any], key: str, field: str) -> set[str]:
    return {item[field] for item in page[key]}


def test_tenant_a_cannot_see_or_change_tenant_b_vms(app: FastAPI) -> None:
    a = api_client(app, "operator", tenant="a")
    assert ids(a.get("/api/v1/vms").json(), "vms", "id") == {"vm-a1"}
    assert a.get("/api/v1/vms", params={"customer_id": "b"}).json()["total"] == 0
    for method, path, body in [
        ("GET", "/api/v1/vms/vm-b1", None), ("GET", "/api/v1/vms/vm-b1/security", None),
        ("GET", "/api/v1/vms/vm-b1/nftables", None), ("GET", "/api/v1/vms/vm-b1/history", None),
        ("PUT", "/api/v1/vms/vm-b1", {"config": {"ipv6_config": web_config()}}),
        ("PATCH", "/api/v1/vms/vm-b1/security", {"ra_guard": {"max_ra_rate": 1}}),
        ("POST", "/api/v1/vms/vm-b1/rollback", {"version": 1}),
        ("POST", "/api/v1/vms/vm-b1/counters", {"nftables": []}),
        ("DELETE", "/api/v1/vms/vm-b1", None),
    ]:
        r = a.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    made = a.post("/api/v1/vms", json={"id": "vm-sneaky", "customer_id": "b", "config": {"ipv6_config": web_config()}})
    assert made.status_code == 403 and "tenant 'a'" in made.json()["detail"]
    admin = api_client(app)
    assert admin.get("/api/v1/vms/vm-sneaky").status_code == 404
    b_vm = admin.get("/api/v1/vms/vm-b1").json()
    assert b_vm["version"] == 1  # nothing of B's changed
    # A changes its own VM; a viewer of A cannot.
    assert a.patch("/api/v1/vms/vm-a1/security", json={"ra_guard": {"max_ra_rate": 5}}).json()["version"] == 2
    assert api_client(app, "viewer", tenant="a").patch("/api/v1/vms/vm-a1/security", json={}).status_code == 403


def test_tenant_a_cannot_see_or_send_tenant_b_events(app: FastAPI) -> None:
    a = api_client(app, "viewer", tenant="a")
    assert ids(a.get("/api/v1/security/events").json(), "events", "event_id") == {"ev-a1", "ev-a2"}
    assert a.get("/api/v1/security/events", params={"customer_id": "b"}).json()["total"] == 0
    assert a.get("/api/v1/security/events", params={"vm_id": "vm-b1"}).json()["total"] == 0
    for event_id in ("ev-b1", "ev-flow"):  # another tenant's, and the installation's flow detection
        assert a.get(f"/api/v1/security/events/{event_id}").status_code == 404
        assert a.get(f"/api/v1/security/events/{event_id}/investigation").status_code == 404
    investigation = a.get("/api/v1/security/events/ev-a1/investigation").json()
    assert [v["vm_id"] for v in investigation["affected_vms"]] == ["vm-a1"]  # B's VM stays unnamed
    operator = api_client(app, "operator", tenant="a")
    sent = operator.post("/api/v1/security/events", json=[event("ev-x", "vm-a1", "a"), event("ev-y", "vm-b1", "b")])
    assert sent.status_code == 403 and "events[1].customer_id 'b'" in sent.json()["detail"]
    everything = api_client(app).get("/api/v1/security/events").json()
    assert ids(everything, "events", "event_id") == {"ev-a1", "ev-a2", "ev-b1", "ev-flow"}  # nothing stored


def page_rows(html: str, kind: str) -> list[str]:
    return re.findall(rf'<tr data-{kind}="([^"]+)"', html)


def test_vm_pages_show_config_rules_history_and_events(app: FastAPI) -> None:
    admin = api_client(app, "viewer")
    listed = admin.get("/vms")
    assert listed.status_code == 200 and page_rows(listed.text, "vm") == ["vm-a1", "vm-b1"]
    assert 'href="/api/v1/vms?limit=50&amp;offset=0"' in listed.text
    assert page_rows(admin.get("/vms", params={"customer_id": "b"}).text, "vm") == ["vm-b1"]
    page = admin.get("/vms/vm-a1").text
    table = admin.get("/api/v1/vms/vm-a1/nftables").text
    assert "table inet" in table and table.splitlines()[3].replace('"', "&#34;") in page  # the compiled rules
    assert "fe80::1" in page and "tok-SECRET-1" not in page and "**********" in page  # config, secret redacted
    assert page_rows(page, "event") == ["ev-a2", "ev-a1"]  # newest first
    for link in ("/api/v1/vms/vm-a1", "/api/v1/vms/vm-a1/nftables", "/api/v1/vms/vm-a1/history",
                 "/api/v1/security/events?vm_id=vm-a1"):
        assert f'href="{link}' in page, link
    missing = admin.get("/vms/vm-zz")
    assert missing.status_code == 404 and "VM &#39;vm-zz&#39; does not exist" in missing.text


def test_event_pages_filter_and_show_one_event(app: FastAPI) -> None:
    admin = api_client(app, "viewer")
    assert page_rows(admin.get("/events").text, "event") == ["ev-a2", "ev-a1", "ev-b1", "ev-flow"]
    assert page_rows(admin.get("/events", params={"min_severity": "error"}).text, "event") == ["ev-a1", "ev-b1", "ev-flow"]
    assert page_rows(admin.get("/events", params={"event_type": "port_scan"}).text, "event") == ["ev-flow"]
    assert page_rows(admin.get("/events", params={"customer_id": "b"}).text, "event") == ["ev-b1"]
    since = (NOW - timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M")
    by_time = admin.get("/events", params={"start": since})
    assert page_rows(by_time.text, "event") == ["ev-a2", "ev-a1", "ev-b1"]
    assert f"/api/v1/security/events?start={since.replace(':', '%3A')}&amp;limit=50" in by_time.text
    bad = admin.get("/events", params={"start": "yesterday"})
    assert bad.status_code == 400 and "start &#39;yesterday&#39; is not a date and time" in bad.text
    wrong = admin.get("/events", params={"event_type": "nonsense"})
    assert wrong.status_code == 400 and "nonsense" in wrong.text
    detail = admin.get("/events/ev-flow")
    assert detail.status_code == 200 and "port_scan" in detail.text and "flows.detect" in detail.text
    assert '"peak": 120' in detail.text and 'href="/api/v1/security/events/ev-flow"' in detail.text
    assert 'href="/vms/vm-a1"' in admin.get("/events/ev-a1").text
    assert admin.get("/events/nope").status_code == 404


def test_a_tenant_sees_only_its_own_on_the_pages_and_the_overview(app: FastAPI) -> None:
    a = api_client(app, "viewer", tenant="a")
    assert page_rows(a.get("/vms").text, "vm") == ["vm-a1"]
    assert page_rows(a.get("/vms", params={"customer_id": "b"}).text, "vm") == []
    assert a.get("/vms/vm-b1").status_code == 404
    assert page_rows(a.get("/events").text, "event") == ["ev-a2", "ev-a1"]
    assert page_rows(a.get("/events", params={"vm_id": "vm-b1"}).text, "event") == []
    for event_id in ("ev-b1", "ev-flow"):
        assert a.get(f"/events/{event_id}").status_code == 404
    overview = a.get("/").text
    assert page_rows(overview, "event") == ["ev-a2", "ev-a1"] and "vm-b1" not in overview
    counts = dict(re.findall(r'<div class="label">(\w+)</div>\s*<div class="stat"><span class="badge \w+">(\d+)', overview))
    assert counts == {"critical": "1", "error": "0", "warning": "1", "info": "0"}
    everyone = api_client(app, "viewer").get("/").text
    assert page_rows(everyone, "event") == ["ev-a2", "ev-a1", "ev-b1", "ev-flow"]


def test_the_pages_need_a_session_or_token(app: FastAPI) -> None:
    anonymous = TestClient(app)
    for path in ("/vms", "/vms/vm-a1", "/events", "/events/ev-a1"):
        assert anonymous.get(path).status_code == 401, path
        assert anonymous.get(path, headers={"accept": "text/html"}, follow_redirects=False).status_code == 303, path


def test_the_overview_stands_when_an_event_sink_cannot_start(tmp_path: Path) -> None:
    """The landing page reads the event store directly: a SIEM whose token file is missing does not break it."""
    app = create_app(Settings(data_dir=tmp_path, events_siem_url="https://127.0.0.1:9/events",
                              events_siem_token_file=tmp_path / "missing-token"))
    overview = api_client(app, "viewer").get("/")
    assert overview.status_code == 200 and 'id="security-counts"' in overview.text
