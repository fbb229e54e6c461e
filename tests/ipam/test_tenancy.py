"""Tenant isolation through the API, for every resource type and verb: tenant A's token gets 404 on
tenant B's subscribers, devices, pools, ranges and allocations, lists only its own, cannot allocate
in B's pools, and cannot act for B; an installation-wide token sees everything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api_client import api_client
from tests.ipam.helpers import snapshot
from v6ops.api.app import create_app
from v6ops.settings import Settings
from v6ops.store.db import Store

PLAN = {"vrfs": ["global"], "pools": [
    {"name": pool, "role": "residential", "tenant": tenant, "lab": True,
     "ipv4": {"prefix": v4, "customer_length": 32},
     "ipv6_address": {"prefix": v6a, "customer_length": 128, "subnet": True},
     "ipv6_delegation": {"prefix": v6d, "customer_length": 64}}
    for pool, tenant, v4, v6a, v6d in [
        ("acme-pool", "acme", "100.64.0.0/24", "2001:db8:a::/64", "2001:db8:a100::/48"),
        ("beta-pool", "beta", "100.64.1.0/24", "2001:db8:b::/64", "2001:db8:b100::/48"),
        ("shared-pool", None, "100.64.2.0/24", "2001:db8:c::/64", "2001:db8:c100::/48"),
    ]]}


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[dict[str, Any]]:
    app = create_app(Settings(database_url=store.url, data_dir=tmp_path))
    with TestClient(app):
        admin = api_client(app)
        assert admin.post("/api/v1/ipam/plan", json=PLAN).status_code == 200
        a, b = api_client(app, "operator", "acme"), api_client(app, "operator", "beta")
        assert a.post("/api/v1/ipam/subscribers", json={"name": "a1", "pool": "acme-pool"}).status_code == 201
        made = b.post("/api/v1/ipam/subscribers", json={"name": "b1", "pool": "beta-pool"})
        assert made.status_code == 201 and made.json()["tenant"] == "beta"
        assert b.post("/api/v1/ipam/devices", json={"name": "bdev", "region": "r1", "pool": "beta-pool"}).status_code == 201
        assert a.post("/api/v1/ipam/devices", json={"name": "adev", "region": "r1", "pool": "acme-pool"}).status_code == 201
        yield {"app": app, "admin": admin, "a": a, "b": b, "b1": made.json(), "store": store}


def cross_tenant_requests(b1: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Every verb of every resource, aimed at tenant B's objects."""
    return [
        ("GET", "/api/v1/ipam/subscribers/b1", None),
        ("PATCH", "/api/v1/ipam/subscribers/b1", {"status": "suspended"}),
        ("POST", "/api/v1/ipam/allocations", {"pool": "beta-pool", "subscriber": "a1"}),
        ("POST", "/api/v1/ipam/allocations", {"pool": "acme-pool", "subscriber": "b1"}),
        ("POST", "/api/v1/ipam/allocations", {"pool": "acme-pool", "device": "bdev"}),
        ("POST", "/api/v1/ipam/allocations", {"prefix": "2001:db8:b100:ff00::/56"}),
        ("DELETE", f"/api/v1/ipam/allocations/{b1['ipv6_prefix']}", None),
        ("POST", "/api/v1/ipam/subscribers", {"name": "a2", "pool": "beta-pool"}),
        ("POST", "/api/v1/ipam/subscribers", {"name": "a3", "pool": "shared-pool"}),
        ("POST", "/api/v1/ipam/devices", {"name": "adev2", "region": "r1", "pool": "beta-pool"}),
        ("POST", "/api/v1/ipam/devices/bdev/seen", None),
        ("POST", "/api/v1/ipam/devices/import?pool=beta-pool&format=jsonl", None),
        ("GET", "/api/v1/ipam/prefixes/beta-pool/ipv6-delegation/available-prefixes", None),
        ("POST", "/api/v1/ipam/prefixes/beta-pool/ipv6-delegation/available-prefixes", {}),
        ("GET", "/api/v1/ipam/prefixes/beta-pool/ipv6-address/available-ips", None),
        ("POST", "/api/v1/ipam/prefixes/beta-pool/ipv6-address/available-ips", {}),
        ("GET", "/api/v1/ipam/allocations?pool=beta-pool", None),
    ]


def test_tenant_a_gets_404_on_every_verb_of_tenant_b_and_nothing_changes(world: dict[str, Any]) -> None:
    a: TestClient = world["a"]
    before = snapshot(world["store"])
    for method, url, body in cross_tenant_requests(world["b1"]):
        content = b'{"name": "adev3", "region": "r1"}\n' if "import" in url else None
        r = a.request(method, url, json=body, content=content)
        assert r.status_code == 404, (method, url, r.status_code, r.text)
        assert "beta" not in r.json()["detail"] or "beta-pool" in url or "beta-pool" in str(body)
    after = snapshot(world["store"])
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}


def test_the_same_requests_work_for_the_owner_or_the_installation(world: dict[str, Any]) -> None:
    admin: TestClient = world["admin"]
    assert admin.get("/api/v1/ipam/subscribers/b1").json()["tenant"] == "beta"
    assert world["b"].get("/api/v1/ipam/subscribers/b1").status_code == 200
    assert world["b"].get("/api/v1/ipam/prefixes/beta-pool/ipv6-delegation/available-prefixes").status_code == 200
    assert world["b"].post("/api/v1/ipam/devices/bdev/seen").status_code == 200
    assert admin.post("/api/v1/ipam/subscribers", json={"name": "s1", "pool": "shared-pool"}).status_code == 201


def test_lists_show_only_the_tenants_own(world: dict[str, Any]) -> None:
    a: TestClient = world["a"]
    admin: TestClient = world["admin"]
    assert [s["name"] for s in a.get("/api/v1/ipam/subscribers").json()] == ["a1"]
    assert [d["name"] for d in a.get("/api/v1/ipam/devices").json()] == ["adev"]
    assert {p["pool"] for p in a.get("/api/v1/ipam/prefixes").json()} == {"acme-pool"}
    ranges = {r["id"] for r in a.get("/api/v1/ipam/prefixes").json()}
    mine = a.get("/api/v1/ipam/allocations").json()
    assert mine and {x["range_id"] for x in mine} <= ranges and {x["pool"] for x in mine} == {"acme-pool"}
    assert {e["pool"] for e in a.get("/api/v1/ipam/events").json()} <= {"acme-pool"}
    assert a.get("/api/v1/ipam/adoption").json()["dual_stack_subscribers"] == 1
    assert admin.get("/api/v1/ipam/adoption").json()["dual_stack_subscribers"] == 2
    assert sum(r["total_devices"] for r in a.get("/api/v1/ipam/devices/stats").json()) == 1
    assert {s["name"] for s in admin.get("/api/v1/ipam/subscribers").json()} == {"a1", "b1"}
    assert {p["pool"] for p in admin.get("/api/v1/ipam/prefixes").json()} >= {"acme-pool", "beta-pool", "shared-pool"}
    assert a.get("/api/v1/ipam/subscribers?q=b").json() == []
    assert a.get("/metrics").status_code == 403  # the exposition covers every tenant


def test_a_tenant_cannot_act_for_another(world: dict[str, Any]) -> None:
    a: TestClient = world["a"]
    r = a.post("/api/v1/ipam/subscribers", json={"name": "a4", "tenant": "beta"})
    assert r.status_code == 403 and "'beta'" in r.json()["detail"]
    assert a.patch("/api/v1/ipam/subscribers/a1", json={"tenant": "beta"}).status_code == 403
    assert a.post("/api/v1/ipam/devices", json={"name": "x", "region": "r", "tenant": "beta"}).status_code == 403
    assert a.post("/api/v1/ipam/subscribers", json={"name": "a5", "tenant": "acme"}).json()["tenant"] == "acme"
    assert world["admin"].post("/api/v1/ipam/subscribers", json={"name": "z", "tenant": "beta"}).json()["tenant"] == "beta"
    assert a.post("/api/v1/flows/report", json={"paths": ["x.log"]}).status_code == 403


def test_a_tenant_viewer_reads_its_own_and_cannot_write(world: dict[str, Any]) -> None:
    viewer = api_client(world["app"], "viewer", "acme")
    assert [s["name"] for s in viewer.get("/api/v1/ipam/subscribers").json()] == ["a1"]
    assert viewer.post("/api/v1/ipam/subscribers", json={"name": "v1"}).status_code == 403
    assert viewer.patch("/api/v1/ipam/subscribers/a1", json={"status": "suspended"}).status_code == 403
    assert viewer.delete(f"/api/v1/ipam/allocations/{world['b1']['ipv6_prefix']}").status_code == 403
