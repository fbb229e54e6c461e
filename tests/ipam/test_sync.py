"""sync radius|kea into the real schemas (FreeRADIUS schema.sql, kea-admin db-init): exact, idempotent, atomic."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from tests.api_client import api_client
from tests.ipam.fixtures import PLAN
from tests.ipam.helpers import snapshot
from tests.ipam.provisioning_fixtures import populate
from tests.ipam.test_interfaces import cli
from v6ops.ipam import service
from v6ops.ipam.identities import Identities
from v6ops.ipam.subscribers import SubscriberUpdate
from v6ops.store.db import Store

pytestmark = pytest.mark.requires("postgres", "kea-admin")


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return sorted(conn.execute(sql).fetchall(), key=repr)


def radius_rows(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT 'check', id, username, attribute, op, value FROM radcheck UNION ALL "
                     "SELECT 'reply', id, username, attribute, op, value FROM radreply UNION ALL "
                     "SELECT 'group', id, username, groupname, '', priority::text FROM radusergroup")


def kea_rows(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT h.host_id, encode(h.dhcp_identifier, 'hex'), h.dhcp_identifier_type, h.dhcp4_subnet_id, "
                     "h.dhcp6_subnet_id, h.ipv4_address, h.hostname, r.address, r.prefix_len, r.type "
                     "FROM hosts h LEFT JOIN ipv6_reservations r ON r.host_id = h.host_id")


def sync(store: Store, monkeypatch: pytest.MonkeyPatch, target: str, *extra: str) -> dict[str, Any]:
    code, out, err = cli(store, monkeypatch, "ipam", "sync", target, "--json", *extra)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_radius_full_then_nothing_then_exactly_one(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(sqlite_store, PLAN)
    first = sync(sqlite_store, monkeypatch, "radius")
    assert first["deleted"] == 0 and first["subscribers_changed"] == 5
    have = radius_rows(targets["radius"])
    reply = {(r[2], r[3]): r[5] for r in have if r[0] == "reply"}
    assert reply[("user@example.com", "Framed-IP-Address")] == "100.64.0.0"
    assert reply[("user@example.com", "Framed-IPv6-Address")] == "2001:db8:ff01:1::1"
    assert reply[("user@example.com", "Framed-IPv6-Prefix")] == "2001:db8:ff01:1::/64"
    assert reply[("user@example.com", "Delegated-IPv6-Prefix")] == "2001:db8::/64"
    checks = {(r[2], r[3]): (r[4], r[5]) for r in have if r[0] == "check"}
    assert checks[("gone", "Auth-Type")] == (":=", "Reject") and checks[("biz1", "Auth-Type")] == (":=", "Accept")
    assert checks[("user@example.com", "SSHA2-256-Password")][0] == ":="
    assert not any(r[2] == "gone" for r in have if r[0] == "reply")
    # nothing changed: nothing written (same row ids)
    again = sync(sqlite_store, monkeypatch, "radius")
    assert (again["added"], again["deleted"], again["changes"]) == (0, 0, [])
    assert radius_rows(targets["radius"]) == have
    # one subscriber suspended: only its rows change; dry run first shows it and writes nothing
    service.change_subscriber(sqlite_store, "sub123", SubscriberUpdate(status="suspended"))
    dry = sync(sqlite_store, monkeypatch, "radius", "--dry-run")
    assert dry["dry_run"] and {c["subscriber"] for c in dry["changes"]} == {"sub123"}
    assert radius_rows(targets["radius"]) == have
    code, out, _ = cli(sqlite_store, monkeypatch, "ipam", "sync", "radius", "--dry-run")
    assert code == 0 and "sub123" in out and "1 added, 5 deleted; would change 1 subscriber(s)" in out
    done = sync(sqlite_store, monkeypatch, "radius")
    assert done == {**dry, "dry_run": False}
    assert (done["added"], done["deleted"]) == (1, 5)  # Auth-Type Reject in; password and 4 replies out
    after = radius_rows(targets["radius"])
    untouched = [r for r in have if r[2] != "user@example.com"]
    assert [r for r in after if r[2] != "user@example.com"] == untouched
    # a new User-Name: the old one's rows and group membership go, the new one's come
    service.change_subscriber(sqlite_store, "biz1", SubscriberUpdate(identities=Identities(radius_username="biz-one")))
    renamed = sync(sqlite_store, monkeypatch, "radius")
    assert {c["subscriber"] for c in renamed["changes"]} == {"biz1"}
    final = radius_rows(targets["radius"])
    assert not any(r[2] == "biz1" for r in final) and ("group", "biz-one") in {(r[0], r[2]) for r in final}
    # terminated: every row of the subscriber goes
    service.change_subscriber(sqlite_store, "small1", SubscriberUpdate(status="terminated"))
    sync(sqlite_store, monkeypatch, "radius")
    assert not any(r[2] == "small1" for r in radius_rows(targets["radius"]))


def test_radius_rows_made_by_hand_are_a_conflict_and_nothing_changes(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(sqlite_store, PLAN)
    with psycopg.connect(targets["radius"]) as conn:
        conn.execute("INSERT INTO radcheck (username, attribute, op, value) VALUES ('biz1', 'Cleartext-Password', ':=', 'x')")
        conn.execute("INSERT INTO radcheck (username, attribute, op, value) VALUES ('ops', 'Cleartext-Password', ':=', 'y')")
    before = radius_rows(targets["radius"])
    code, _, err = cli(sqlite_store, monkeypatch, "ipam", "sync", "radius")
    assert code == 2 and "'biz1'" in err and "not managed by v6ops" in err
    assert radius_rows(targets["radius"]) == before
    with psycopg.connect(targets["radius"]) as conn:
        conn.execute("DELETE FROM radcheck WHERE username = 'biz1'")
    sync(sqlite_store, monkeypatch, "radius")
    assert ("ops", "Cleartext-Password") in {(r[2], r[3]) for r in radius_rows(targets["radius"])}  # not ours: kept


def test_kea_hosts_full_idempotent_exact(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(sqlite_store, PLAN)
    first = sync(sqlite_store, monkeypatch, "kea")
    have = kea_rows(targets["kea"])
    by_duid = {r[1]: r for r in have if r[2] == 1}
    sub = [r for r in have if r[1] == "0003000100112233445" + "5"]
    assert {(r[7], r[8], r[9]) for r in sub} == {("2001:db8:ff01:1::1", 128, 0), ("2001:db8::", 64, 2)}
    assert sub[0][6] == "sub123.isp.example" and sub[0][3] is None and sub[0][4] is not None
    assert "000100012a3b4c5d001122334477" not in by_duid  # suspended: no reservation
    v4 = {r[1]: r for r in have if r[4] is None}
    assert v4["001122334455"][5] == int.from_bytes(bytes([100, 64, 0, 0]), "big") and v4["001122334455"][2] == 0
    assert v4["01001122334466"][2] == 3 and v4[b"olt7/1/3".hex()][2] == 2
    assert first["added"] == len({r[0] for r in have})
    again = sync(sqlite_store, monkeypatch, "kea")
    assert (again["added"], again["deleted"]) == (0, 0) and kea_rows(targets["kea"]) == have
    service.change_subscriber(sqlite_store, "v6only", SubscriberUpdate(dns_name="renamed.isp.example"))
    one = sync(sqlite_store, monkeypatch, "kea")
    assert (one["added"], one["deleted"]) == (1, 1) and {c["subscriber"] for c in one["changes"]} == {"v6only"}
    after = kea_rows(targets["kea"])
    assert [r for r in after if r[6] != "renamed.isp.example"] == [r for r in have if r[6] != "v6only.isp.example"]


def test_failed_kea_sync_writes_nothing_and_the_next_run_catches_up(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(sqlite_store, PLAN)
    # a host the operator made by hand holds small1's DUID in the same subnet: the COPY fails midway
    planned = sync(sqlite_store, monkeypatch, "kea", "--dry-run")
    assert planned["added"] > 2 and kea_rows(targets["kea"]) == []
    snapshot_ipam = snapshot(sqlite_store)
    with psycopg.connect(targets["kea"]) as conn:
        conn.execute("INSERT INTO hosts (dhcp_identifier, dhcp_identifier_type, dhcp6_subnet_id, hostname) "
                     "VALUES (decode(%s, 'hex'), 1, %s, 'by-hand')",
                     ["0004" + "5a" * 16, _small_subnet(sqlite_store)])
    before = kea_rows(targets["kea"])
    code, _, err = cli(sqlite_store, monkeypatch, "ipam", "sync", "kea")
    assert code == 2 and "already exists" in err and "nothing was changed" in err
    assert kea_rows(targets["kea"]) == before  # not one of the other subscribers' hosts was written
    with psycopg.connect(targets["kea"]) as conn:
        conn.execute("DELETE FROM hosts WHERE hostname = 'by-hand'")
    # a server that is down: clear error, an event, and the next run catches up
    monkeypatch.setenv("V6OPS_PROVISIONING_KEA_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    code, _, err = cli(sqlite_store, monkeypatch, "ipam", "sync", "kea")
    assert code == 2 and "cannot connect to the kea database" in err
    events = service.list_events(sqlite_store, 5)
    assert events[0]["kind"] == "sync-kea-failed" and "cannot connect" in events[0]["message"]
    monkeypatch.setenv("V6OPS_PROVISIONING_KEA_DATABASE_URL", targets["kea"])
    caught_up = sync(sqlite_store, monkeypatch, "kea")
    assert caught_up["added"] == planned["added"]
    assert {k: v for k, v in snapshot(sqlite_store).items() if k != "events"} == \
        {k: v for k, v in snapshot_ipam.items() if k != "events"}


def _small_subnet(store: Store) -> int:
    return next(p["id"] for p in service.list_prefixes(store) if p["name"] == "small-business/ipv6-address")


def test_incremental_reads_the_queue_and_full_repairs_drift(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(sqlite_store, PLAN)
    for target in ("radius", "kea"):
        sync(sqlite_store, monkeypatch, target)
    have_radius, have_kea = radius_rows(targets["radius"]), kea_rows(targets["kea"])
    # drift made behind v6ops's back: an incremental sync has nothing queued, so it does not look
    with psycopg.connect(targets["radius"]) as conn:
        conn.execute("DELETE FROM radreply WHERE username = 'small1' AND attribute = 'Framed-IP-Address'")
    with psycopg.connect(targets["kea"]) as conn:
        conn.execute("UPDATE hosts SET hostname = 'tampered' WHERE hostname = 'biz1.isp.example'")
    assert sync(sqlite_store, monkeypatch, "radius")["added"] == 0
    assert sync(sqlite_store, monkeypatch, "kea")["added"] == 0
    repaired = sync(sqlite_store, monkeypatch, "radius", "--full")
    assert (repaired["added"], repaired["deleted"], repaired["changes"][0]["subscriber"]) == (1, 0, "small1")
    assert sorted(r[2:] for r in radius_rows(targets["radius"])) == sorted(r[2:] for r in have_radius)
    repaired = sync(sqlite_store, monkeypatch, "kea", "--full")
    assert (repaired["added"], repaired["deleted"]) == (2, 2)  # biz1's DHCPv4 and DHCPv6 hosts
    assert sorted(map(repr, (r[1:] for r in kea_rows(targets["kea"])))) == sorted(map(repr, (r[1:] for r in have_kea)))
    # the REST endpoint runs the same sync

    from v6ops.settings import Settings

    service.change_subscriber(sqlite_store, "biz1", SubscriberUpdate(status="suspended"))
    with api_client(Settings(database_url=sqlite_store.url)) as client:
        r = client.post("/api/v1/ipam/sync/radius?dry_run=true")
        assert r.status_code == 200 and {c["subscriber"] for c in r.json()["changes"]} == {"biz1"}
        assert client.post("/api/v1/ipam/sync/ldap").status_code == 400


def test_sync_after_change_setting_syncs_at_once_and_keeps_failures_queued(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(sqlite_store, PLAN)
    sync(sqlite_store, monkeypatch, "radius")
    monkeypatch.setenv("V6OPS_PROVISIONING_SYNC_AFTER_CHANGE", '["radius"]')
    service.change_subscriber(sqlite_store, "biz1", SubscriberUpdate(status="suspended"))
    checks = {(r[2], r[3]): r[5] for r in radius_rows(targets["radius"]) if r[0] == "check"}
    assert checks[("biz1", "Auth-Type")] == "Reject"  # no explicit sync: the setting did it
    # target down: the change itself succeeds, the failure is an event, the change stays queued
    monkeypatch.setenv("V6OPS_PROVISIONING_RADIUS_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    view = service.change_subscriber(sqlite_store, "biz1", SubscriberUpdate(status="active"))
    assert view["status"] == "active"
    assert service.list_events(sqlite_store, 1)[0]["kind"] == "sync-radius-failed"
    monkeypatch.setenv("V6OPS_PROVISIONING_RADIUS_DATABASE_URL", targets["radius"])
    monkeypatch.delenv("V6OPS_PROVISIONING_SYNC_AFTER_CHANGE")
    retried = sync(sqlite_store, monkeypatch, "radius")
    assert {c["subscriber"] for c in retried["changes"]} == {"biz1"}
    checks = {(r[2], r[3]): r[5] for r in radius_rows(targets["radius"]) if r[0] == "check"}
    assert checks[("biz1", "Auth-Type")] == "Accept"


def test_deleted_subscriber_leaves_radius_and_kea_and_nothing_else_changes(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(sqlite_store, PLAN)
    for target in ("radius", "kea"):
        sync(sqlite_store, monkeypatch, target)
    have_radius, have_kea = radius_rows(targets["radius"]), kea_rows(targets["kea"])
    code, out, err = cli(sqlite_store, monkeypatch, "ipam", "subscriber", "delete", "small1", "--json")
    assert code == 0 and json.loads(out)["status"] == "deleted", err
    assert cli(sqlite_store, monkeypatch, "ipam", "subscriber", "show", "small1")[0] == 2
    assert all(a["subscriber_id"] is None for a in service.list_allocations(sqlite_store, "small-business", 10))
    r = sync(sqlite_store, monkeypatch, "radius")
    k = sync(sqlite_store, monkeypatch, "kea")
    assert {c["subscriber"] for c in r["changes"] + k["changes"]} == {"small1"}
    assert (r["added"], k["added"]) == (0, 0)
    assert radius_rows(targets["radius"]) == [row for row in have_radius if row[2] != "small1"]
    assert kea_rows(targets["kea"]) == [row for row in have_kea if row[6] != "small1.isp.example"]
    code, _, err = cli(sqlite_store, monkeypatch, "ipam", "subscriber", "delete", "small1")
    assert code == 2 and "'small1'" in err
