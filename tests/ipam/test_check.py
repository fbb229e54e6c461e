"""ipam check: RADIUS, Kea and a real named audited against the IPAM; every finding names its fix, and the fix works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dns.query
import dns.tsigkeyring
import dns.update
import psycopg
import pytest

from tests.ipam.fixtures import PLAN
from tests.ipam.named import KEY_NAME, named
from tests.ipam.provisioning_fixtures import populate
from tests.ipam.test_interfaces import cli
from tests.ipam.test_sync import sync
from v6ops.ipam.provisioning import exports
from v6ops.ipam.provisioning.settings import load_provisioning_settings
from v6ops.store.db import Store

pytestmark = pytest.mark.requires("postgres", "kea-admin", "named")


def check(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(store, monkeypatch, "ipam", "check", "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def test_check_finds_each_difference_and_names_the_fix(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("V6OPS_PROVISIONING_NAMESERVER_ADDRESSES", '["192.0.2.53"]')
    populate(sqlite_store, PLAN)
    files = {f["path"]: f["content"] for f in exports.export(sqlite_store, "dns", load_provisioning_settings(), 1)}
    with named(tmp_path, files) as server:
        monkeypatch.setenv("V6OPS_PROVISIONING_DNS_SERVER", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("V6OPS_PROVISIONING_TSIG_KEY_NAME", KEY_NAME)
        monkeypatch.setenv("V6OPS_PROVISIONING_TSIG_SECRET", server.key_secret)
        code, result = check(sqlite_store, monkeypatch)
        assert code == 1 and {f["check"] for f in result["findings"]} == {"radius", "kea"}  # never synced
        assert all(f["fix"] in ("v6ops ipam sync radius --full", "v6ops ipam sync kea --full")
                   for f in result["findings"])
        sync(sqlite_store, monkeypatch, "radius")
        sync(sqlite_store, monkeypatch, "kea")
        code, result = check(sqlite_store, monkeypatch)
        assert (code, result["findings"]) == (0, [])
        # drift: sub123's IPv6 PTR deleted, a PTR for an unallocated subscriber address, a RADIUS reply row gone
        keyring = dns.tsigkeyring.from_text({KEY_NAME: server.key_secret})
        v6_zone = "1.0.0.0.1.0.f.f.8.b.d.0.1.0.0.2.ip6.arpa"
        update = dns.update.UpdateMessage(v6_zone, keyring=keyring)
        update.delete("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", "PTR")
        update.add("9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0", 300, "PTR", "stale.isp.example.")
        assert dns.query.tcp(update, "127.0.0.1", port=server.port, timeout=5).rcode() == 0
        with psycopg.connect(targets["radius"]) as conn:
            conn.execute("DELETE FROM radreply WHERE username = 'biz1' AND attribute = 'Delegated-IPv6-Prefix'")
        code, result = check(sqlite_store, monkeypatch)
        problems = {(f["check"], f["subject"], f["fix"]) for f in result["findings"]}
        assert code == 1 and problems == {
            ("dns", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." + v6_zone, "v6ops ipam sync dns"),
            ("dns", "9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0." + v6_zone,
             "v6ops ipam sync dns (removes PTRs of subscriber ranges that no subscriber has)"),
            ("radius", "biz1", "v6ops ipam sync radius --full"),
        }
        sync(sqlite_store, monkeypatch, "dns")
        sync(sqlite_store, monkeypatch, "radius", "--full")
        code, result = check(sqlite_store, monkeypatch)
        assert (code, result["findings"]) == (0, [])
        # a reverse zone layout that misses an allocated prefix is a finding too (exit 1), not a crash
        monkeypatch.setenv("V6OPS_PROVISIONING_REVERSE_ZONES", '["100.64.0.0/16"]')
        code, result = check(sqlite_store, monkeypatch)
        assert code == 1 and "not covered by any reverse zone" in result["findings"][0]["problem"]
