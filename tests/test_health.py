"""``/health/ipv6``: real checks in the seed's shape; healthy 200, degraded 200, unhealthy 503, with the failing
check named; public, and it names no pool (tenants may not learn each other's pools)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from v6ops.api.app import create_app
from v6ops.ipam import service
from v6ops.ipam.errors import PoolExhaustedError
from v6ops.ipam.plan import parse_plan
from v6ops.ipam.subscribers import SubscriberSpec
from v6ops.settings import Settings
from v6ops.store.db import Store, open_store

CHECKS = {"database_responsive", "ipv6_prefix_available", "nftables_available", "flow_ingest_recent",
          "event_delivery_backlog", "provisioning_success_rate"}


def plan(store: Store, delegation: str, threshold: int = 80) -> None:
    service.plan_apply(store, parse_plan({"vrfs": ["global"], "pools": [{
        "name": "secret-customer-pool", "role": "residential", "lab": True, "threshold": threshold,
        "ipv4": {"prefix": "100.64.0.0/24", "customer_length": 32},
        "ipv6_delegation": {"prefix": delegation, "customer_length": 64}}]}))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def health(settings: Settings) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = TestClient(create_app(settings)).get("/health/ipv6")  # no token: the endpoint is public
    return r.status_code, r.json()


@pytest.mark.requires("nft")
def test_healthy_with_headroom(settings: Settings) -> None:
    store = open_store(settings.resolved_database_url())
    plan(store, "2001:db8::/56")
    service.add_subscriber(store, SubscriberSpec(name="s1", pool="secret-customer-pool"))
    status, body = health(settings)
    assert status == 200 and body["status"] == "healthy" and body["failing"] == []
    assert set(body["checks"]) == CHECKS and all(body["checks"].values())
    assert body["metrics"] == {"ipv6_allocations_last_hour": 1, "ipv6_provisioning_success_rate": 100.0,
                               "provisioning_attempts_last_hour": 1}


def test_degraded_over_threshold_and_with_failed_provisionings(settings: Settings) -> None:
    store = open_store(settings.resolved_database_url())
    plan(store, "2001:db8::/62", threshold=50)  # four /64s
    for i in range(3):
        service.add_subscriber(store, SubscriberSpec(name=f"s{i}", pool="secret-customer-pool"))
    status, body = health(settings)
    assert status == 200 and body["status"] == "degraded"
    assert "ipv6_prefix_available" in body["failing"] and "75.0 %" in body["details"]["ipv6_prefix_available"]
    service.add_subscriber(store, SubscriberSpec(name="s3", pool="secret-customer-pool"))
    for i in range(4, 6):
        with pytest.raises(PoolExhaustedError):
            service.add_subscriber(store, SubscriberSpec(name=f"s{i}", pool="secret-customer-pool"))
    status, body = health(settings)
    # A full range is unhealthy: 503, with the check named; 4 of 6 provisionings succeeded.
    assert status == 503 and body["status"] == "unhealthy"
    assert {"ipv6_prefix_available", "provisioning_success_rate"} <= set(body["failing"])
    assert body["metrics"]["ipv6_provisioning_success_rate"] == 66.67
    assert "secret-customer-pool" not in str(body)


def test_no_ipv6_plan_is_degraded(settings: Settings) -> None:
    status, body = health(settings)
    assert status == 200 and body["status"] == "degraded"
    assert body["details"]["ipv6_prefix_available"] == "no IPv6 pool range in the prefix plan"


def test_a_database_that_does_not_answer_is_unhealthy(tmp_path: Path) -> None:
    url = "postgresql://v6ops:hunter2@127.0.0.1:9/nothing"  # a closed loopback port
    status, body = health(Settings(data_dir=tmp_path, database_url=url))
    assert status == 503 and body["status"] == "unhealthy" and "database_responsive" in body["failing"]
    assert "hunter2" not in str(body)


def test_a_stale_flow_ingest_is_degraded(settings: Settings) -> None:
    from datetime import timedelta

    from v6ops.ipam.engine import utcnow
    from v6ops.store.service_models import beat

    store = open_store(settings.resolved_database_url())
    plan(store, "2001:db8::/56")
    with store.write() as session:
        beat(session, "flows.report", utcnow() - timedelta(hours=30), records=10)
    status, body = health(settings)
    assert status == 200 and body["checks"]["flow_ingest_recent"] is False and "flow_ingest_recent" in body["failing"]


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_undelivered_security_events_are_a_backlog_degraded_then_unhealthy(tmp_path: Path) -> None:
    """Events for a SIEM that does not answer wait in its spool: /health/ipv6 reads that spool (the count and
    the oldest's wait), degraded while young, unhealthy (503) past the limit, healthy again once delivered."""
    from tests.api_client import api_client
    from tests.events.servers import SiemServer, self_signed

    def events(n: int) -> list[dict[str, str]]:
        return [{"timestamp": "2026-01-05T10:00:00Z", "event_id": f"backlog-{n}-{i}", "vm_id": "vm-1",
                 "customer_id": "acme", "event_type": "ra_blocked", "severity": "critical"} for i in range(3)]

    down = Settings(data_dir=tmp_path, events_siem_url=f"http://127.0.0.1:{closed_port()}/events",
                    events_backlog_max_age_minutes=60)
    plan(open_store(down.resolved_database_url()), "2001:db8::/56")
    status, body = health(down)
    assert body["checks"]["event_delivery_backlog"] and "0 events waiting" in body["details"]["event_delivery_backlog"]

    app = create_app(down)
    assert api_client(app, "operator").post("/api/v1/security/events", json=events(1)).status_code == 201
    status, body = health(down)
    assert "event_delivery_backlog" in body["failing"] and body["status"] in ("degraded", "unhealthy")
    assert body["details"]["event_delivery_backlog"].startswith("3 events waiting for delivery (siem: 3)")
    assert status == 200 and body["status"] == "degraded"  # nothing else is unhealthy: a young backlog is 200
    app.state.event_sink.close()  # the server stops: the events stay in the spool

    # The same spool read with a limit of 0 minutes: the backlog is too old, 503.
    strict = down.model_copy(update={"events_backlog_max_age_minutes": 0})
    status, body = health(strict)
    assert status == 503 and body["status"] == "unhealthy" and "event_delivery_backlog" in body["failing"]

    # A restart with a SIEM that answers delivers the spooled events; the backlog is gone.
    cert, key = self_signed(tmp_path)
    siem = SiemServer(cert, key).start()
    try:
        up = strict.model_copy(update={"events_siem_url": f"https://127.0.0.1:{siem.port}/events",
                                       "events_siem_ca": cert})
        app = create_app(up)
        client = api_client(app, "operator")
        assert client.post("/api/v1/security/events", json=events(2)).status_code == 201
        app.state.event_sink.flush()
        assert sorted(json.loads(line)["event_id"] for line in siem.lines) == sorted(
            e["event_id"] for e in events(1) + events(2))
        status, body = health(up)
        assert body["checks"]["event_delivery_backlog"] and "0 events waiting" in body["details"]["event_delivery_backlog"]
        app.state.event_sink.close()
    finally:
        siem.stop()
