"""REST and CLI return the same objects; bad input is a 4xx or a non-zero exit and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from tests.api_client import api_client
from tests.ipam.fixtures import PLAN
from tests.ipam.helpers import snapshot
from v6ops.api.app import create_app
from v6ops.cli import output
from v6ops.cli.main import app as cli_app
from v6ops.ipam import service
from v6ops.settings import Settings
from v6ops.store.db import Store, open_store
from v6ops.store.migrate import alembic_config


@pytest.fixture
def client(planned: Store, tmp_path: Path) -> Iterator[TestClient]:
    with api_client(Settings(database_url=planned.url, data_dir=tmp_path)) as c:
        yield c


def cli(store: Store, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("V6OPS_DATABASE_URL", store.url)
    result = CliRunner().invoke(cli_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_api_and_cli_return_the_same_objects(client: TestClient, planned: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    made = client.post("/api/v1/ipam/subscribers", json={
        "name": "sub123", "pool": "city-1-residential", "dns_name": "subscriber123.isp.example",
        "rate_limits": {"ipv4": {"download": "100M", "upload": "50M"}, "ipv6": {"download": "100M", "upload": "50M"}}})
    assert made.status_code == 201, made.text
    assert made.json()["ipv6_prefix"] == "2001:db8::/64"
    code, out, _ = cli(planned, monkeypatch, "ipam", "subscriber", "show", "sub123", "--json")
    assert code == 0 and json.loads(out) == client.get("/api/v1/ipam/subscribers/sub123").json() == made.json()
    pairs: list[tuple[str, list[str]]] = [
        ("/api/v1/ipam/prefixes", ["prefixes"]),
        ("/api/v1/ipam/allocations?limit=100", ["allocations"]),
        ("/api/v1/ipam/subscribers", ["subscriber", "list"]),
        ("/api/v1/ipam/adoption", ["adoption"]),
        ("/api/v1/ipam/prefixes/city-1-residential/ipv6-delegation/available-prefixes?limit=3",
         ["available-prefixes", "city-1-residential/ipv6-delegation", "--limit", "3"]),
        ("/api/v1/ipam/prefixes/mgmt-hosts/ipv4/available-ips?limit=3", ["available-ips", "mgmt-hosts/ipv4", "--limit", "3"]),
        ("/api/v1/ipam/devices/stats", ["device", "stats"]),
    ]
    for url, args in pairs:
        code, out, err = cli(planned, monkeypatch, "ipam", *args, "--json")
        assert code == 0, err
        assert json.loads(out) == client.get(url).json(), url
    assert client.get("/api/v1/ipam/prefixes/mgmt-hosts/ipv4/available-ips?limit=2").json() == ["10.0.0.1", "10.0.0.2"]
    monkeypatch.setattr(output.console, "width", 250)
    code, out, _ = cli(planned, monkeypatch, "ipam", "prefixes")  # the table for people
    assert code == 0 and "city-1-residential/ipv6-delegation" in out
    code, out, _ = cli(planned, monkeypatch, "ipam", "available-prefixes", "city-1-business/ipv6-delegation")
    assert code == 0 and "2001:db8:1:100::/56" in out  # not an emoji for ":100:"


def test_device_allocation_and_stats(client: TestClient) -> None:
    r = client.post("/api/v1/ipam/devices", json={"name": "sensor-001", "region": "us-east-1",
                                                  "last_seen": "2000-01-01T00:00:00Z", "pool": "city-1-residential"})
    assert r.status_code == 201, r.text
    assert r.json()["ipv6"] == "2001:db8:ff01:1::1" and r.json()["ipv4"] == "100.64.0.0"
    r = client.post("/api/v1/ipam/devices", json={"name": "sensor-002", "region": "us-east-1"})
    assert r.status_code == 201
    assert client.get("/api/v1/ipam/devices/stats").json() == [
        {"region": "us-east-1", "total_devices": 2, "ipv6_devices": 1, "last_seen_24h": 0, "connectivity_rate": 0.0}]
    assert client.post("/api/v1/ipam/devices/sensor-002/seen").status_code == 200
    assert client.get("/api/v1/ipam/devices/stats").json()[0]["connectivity_rate"] == 50.0
    assert client.post("/api/v1/ipam/devices/ghost/seen").status_code == 404
    r = client.post("/api/v1/ipam/devices/sensor-001/seen?at=yesterday")
    assert r.status_code == 400 and "'yesterday' is not an ISO 8601 time" in r.text


def test_take_next_prefix_and_address(client: TestClient, planned: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    r = client.post("/api/v1/ipam/prefixes/core-p2p/ipv6-address/available-prefixes", json={"description": "r1-r2"})
    assert r.status_code == 201 and r.json()["prefix"] == "2001:db8:ff00::/127"  # RFC 6164 link
    r = client.post("/api/v1/ipam/prefixes/mgmt-hosts/ipv4/available-ips", json={"dns_name": "gw.mgmt.example"})
    assert r.status_code == 201 and r.json()["address"] == "10.0.0.1" and r.json()["kind"] == "address"
    code, out, _ = cli(planned, monkeypatch, "ipam", "take", "city-1-business/ipv6-delegation", "--length", "48",
                       "--json")
    assert code == 0 and json.loads(out)["prefix"] == "2001:db8:1::/48"
    before = snapshot(planned)
    r = client.post("/api/v1/ipam/prefixes/city-1-business/ipv6-delegation/available-prefixes", json={})
    assert r.status_code == 409 and "pool 'city-1-business' is exhausted" in r.text
    r = client.post("/api/v1/ipam/prefixes/region-a/available-prefixes", json={})
    assert r.status_code == 400 and "is a container" in r.text
    r = client.post("/api/v1/ipam/prefixes/mgmt-hosts/ipv4/available-prefixes", json={"length": 8})
    assert r.status_code == 400 and "does not fit range 10.0.0.0/24" in r.text
    assert snapshot(planned) == before


def test_reserve_release_and_metrics(client: TestClient) -> None:
    r = client.post("/api/v1/ipam/allocations", json={"prefix": "2001:db8::/56", "description": "test bench"})
    assert r.status_code == 201 and r.json()["kind"] == "reservation"
    r = client.post("/api/v1/ipam/subscribers", json={"name": "s1", "pool": "city-1-residential"})
    assert r.json()["ipv6_prefix"] == "2001:db8:0:100::/64"
    r = client.delete("/api/v1/ipam/allocations/2001:db8::/56")
    assert r.status_code == 200 and r.json()["status"] == "quarantined"  # the pool quarantines for a day
    text = client.get("/metrics").text
    assert 'v6ops_ipam_subscribers{stack="dual-stack"} 1.0' in text
    # The quarantined /56 (256 /64s) still counts as used until the quarantine ends.
    assert 'v6ops_ipam_range_used_blocks{pool="city-1-residential",range="2001:db8::/48"} 257.0' in text


BAD_REQUESTS: list[tuple[str, str, Any, int, str]] = [
    ("post", "/api/v1/ipam/subscribers", {"name": "x", "pool": "no-such-pool"}, 404, "unknown pool 'no-such-pool'"),
    ("post", "/api/v1/ipam/allocations", {"prefix": "fe80::/64"}, 404, "not inside any pool range"),
    ("post", "/api/v1/ipam/allocations", {"prefix": "2001:db8::1/64"}, 400, "host bits set"),
    ("post", "/api/v1/ipam/allocations", {"pool": "city-1-residential"}, 422, "one of 'subscriber' or 'device'"),
    ("post", "/api/v1/ipam/allocations", {"pool": "city-1-residential", "subscriber": "ghost"}, 404, "ghost"),
    ("post", "/api/v1/ipam/subscribers", {"name": "x", "dns_name": "-bad-.example"}, 422, "label"),
    ("post", "/api/v1/ipam/plan", {"prefixes": [{"name": "a", "prefix": "2001:db8::/40"},
                                                {"name": "b", "prefix": "2001:db8::/41"}]}, 422, "overlap"),
    ("post", "/api/v1/ipam/plan", {"prefixes": [{"name": "a", "prefix": "2001:db8::1/40"}]}, 422, "host bits set"),
    ("get", "/api/v1/ipam/prefixes/nope/available-prefixes", None, 404, "unknown prefix 'nope'"),
    ("get", "/api/v1/ipam/prefixes/region-a/available-ips", None, 400, "is a container"),
    ("delete", "/api/v1/ipam/allocations/2001:db8:0:9::/64", None, 404, "no allocation"),
    ("patch", "/api/v1/ipam/subscribers/ghost", {"status": "active"}, 404, "unknown subscriber 'ghost'"),
    ("patch", "/api/v1/ipam/subscribers/ghost", {"status": "gone"}, 422, "status"),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "words"), BAD_REQUESTS)
def test_bad_requests_are_4xx_and_change_nothing(
    client: TestClient, planned: Store, method: str, url: str, body: Any, status: int, words: str
) -> None:
    before = snapshot(planned)
    r = client.request(method.upper(), url, json=body)
    assert r.status_code == status, r.text
    assert words in r.text
    assert snapshot(planned) == before


def test_exhausted_pool_is_409(client: TestClient, planned: Store) -> None:
    raw = {"vrfs": ["global"], "pools": [{"name": "one", "role": "residential", "family_policy": "ipv6-only",
                                           "ipv6_delegation": {"prefix": "2a00:1::/64", "customer_length": 64}}]}
    assert client.post("/api/v1/ipam/plan", json=raw).status_code == 200
    assert client.post("/api/v1/ipam/subscribers", json={"name": "a", "pool": "one"}).status_code == 201
    before = snapshot(planned)
    r = client.post("/api/v1/ipam/subscribers", json={"name": "b", "pool": "one"})
    assert r.status_code == 409 and "pool 'one' is exhausted" in r.text and "utilization 100.00%" in r.text
    after = snapshot(planned)
    # Nothing changed but one event recording the failure (for /health/ipv6 and the failure-rate alert).
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}
    added = [e for e in after["events"] if e not in before["events"]]
    assert [(*e[2:4], e[5]) for e in added] == [("provisioning-failed", "warning", "b")]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ipam", "subscriber", "add", "x", "--pool", "nope"], "unknown pool 'nope'"),
        (["ipam", "allocate", "--pool", "city-1-residential", "--subscriber", "x"], "unknown subscriber 'x'"),
        (["ipam", "reserve", "2001:db8::1/64"], "host bits set"),
        (["ipam", "plan", "apply", "/nonexistent.yaml", "--yes"], "does not exist"),
        (["ipam", "subscriber", "add", "x", "--ipv4-download", "fast"], "'fast'"),
    ],
)
def test_cli_bad_input_exits_non_zero(planned: Store, monkeypatch: pytest.MonkeyPatch, args: list[str], words: str) -> None:
    before = snapshot(planned)
    code, _, err = cli(planned, monkeypatch, *args)
    assert code == 2 and words in err
    assert snapshot(planned) == before


def test_cli_plan_apply_shows_diff_and_is_idempotent(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = cli(store, monkeypatch, "ipam", "plan", "apply", str(PLAN), "--dry-run")
    assert code == 0 and "create" in out
    assert service.list_prefixes(store) == []
    code, out, _ = cli(store, monkeypatch, "ipam", "plan", "apply", str(PLAN), "--yes", "--json")
    assert code == 0 and {c["action"] for c in json.loads(out)} == {"create"}
    code, out, _ = cli(store, monkeypatch, "ipam", "plan", "apply", str(PLAN), "--yes", "--json")
    assert code == 0 and {c["action"] for c in json.loads(out)} == {"unchanged"}


def test_server_start_migrates_the_default_database(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path))):
        assert (tmp_path / "v6ops.db").exists()  # before any request
        check = Store(f"sqlite:///{tmp_path / 'v6ops.db'}")
        with check.read() as session:
            applied = set(session.execute(text("SELECT version_num FROM alembic_version")).scalars())
            assert applied == set(ScriptDirectory.from_config(alembic_config()).get_heads())
        check.close()
    open_store(Settings(data_dir=tmp_path).resolved_database_url()).close()
    open_store.cache_clear()
