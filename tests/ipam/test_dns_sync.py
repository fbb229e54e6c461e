"""sync dns: RFC 2136 UPDATEs with TSIG to a real named on loopback; records move with a rename."""

from __future__ import annotations

from pathlib import Path

import dns.query
import dns.tsigkeyring
import dns.update
import pytest

from tests.ipam.fixtures import PLAN
from tests.ipam.named import KEY_NAME, named
from tests.ipam.provisioning_fixtures import add, populate
from tests.ipam.test_interfaces import cli
from tests.ipam.test_sync import sync
from v6ops.addr import Address
from v6ops.ipam import service
from v6ops.ipam.provisioning import exports
from v6ops.ipam.provisioning.dnsupdate import Server, resolve
from v6ops.ipam.provisioning.settings import load_provisioning_settings
from v6ops.ipam.subscribers import SubscriberUpdate
from v6ops.store.db import Store

pytestmark = pytest.mark.requires("named", "named-checkzone")


def four(port: int, name: str, v4: str, v6: str) -> tuple[list[str], list[str], list[str], list[str]]:
    server = Server("127.0.0.1", port)
    return (resolve(server, name, "A"), resolve(server, name, "AAAA"),
            resolve(server, Address.parse(v4).reverse_name, "PTR"), resolve(server, Address.parse(v6).reverse_name, "PTR"))


def test_sync_dns_adds_moves_and_removes_exactly(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("V6OPS_PROVISIONING_NAMESERVER_ADDRESSES", '["192.0.2.53"]')
    made = populate(sqlite_store, PLAN)
    files = {f["path"]: f["content"] for f in exports.export(sqlite_store, "dns", load_provisioning_settings(), 1)}
    with named(tmp_path, files) as server:
        monkeypatch.setenv("V6OPS_PROVISIONING_DNS_SERVER", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("V6OPS_PROVISIONING_TSIG_KEY_NAME", KEY_NAME)
        monkeypatch.setenv("V6OPS_PROVISIONING_TSIG_SECRET", server.key_secret)
        sub = made["sub123"]
        v4, v6 = str(sub["ipv4"]), str(sub["ipv6_address"])
        assert four(server.port, "sub123.isp.example", v4, v6) == (
            [v4], [v6], ["sub123.isp.example."], ["sub123.isp.example."])
        # what export wrote is what sync wants: nothing to do
        first = sync(sqlite_store, monkeypatch, "dns")
        assert (first["added"], first["deleted"]) == (0, 0)
        # a record the operator made by hand, outside every subscriber range, is never touched
        keyring = dns.tsigkeyring.from_text({KEY_NAME: server.key_secret})
        update = dns.update.UpdateMessage("isp.example", keyring=keyring)
        update.add("www", 300, "A", "192.0.2.80")
        assert dns.query.tcp(update, "127.0.0.1", port=server.port, timeout=5).rcode() == 0
        # rename: all four records move, in a dry run first (which changes nothing)
        service.change_subscriber(sqlite_store, "sub123", SubscriberUpdate(dns_name="renamed.isp.example"))
        dry = sync(sqlite_store, monkeypatch, "dns", "--dry-run")
        assert (dry["added"], dry["deleted"]) == (4, 4) and {c["subscriber"] for c in dry["changes"]} == {"sub123"}
        assert resolve(Server("127.0.0.1", server.port), "sub123.isp.example", "A") == [v4]
        moved = sync(sqlite_store, monkeypatch, "dns")
        assert {**moved, "dry_run": True} == dry
        assert four(server.port, "renamed.isp.example", v4, v6) == (
            [v4], [v6], ["renamed.isp.example."], ["renamed.isp.example."])
        assert four(server.port, "sub123.isp.example", v4, v6)[:2] == ([], [])
        # a new subscriber appears; a suspended one disappears; the hand-made record stays
        new = add(sqlite_store, "late", "city-1-residential")
        service.change_subscriber(sqlite_store, "biz1", SubscriberUpdate(status="suspended"))
        changed = sync(sqlite_store, monkeypatch, "dns")
        assert {c["subscriber"] for c in changed["changes"]} == {"late", "biz1"}
        assert four(server.port, "late.isp.example", str(new["ipv4"]), str(new["ipv6_address"])) == (
            [new["ipv4"]], [new["ipv6_address"]], ["late.isp.example."], ["late.isp.example."])
        assert resolve(Server("127.0.0.1", server.port), "biz1.isp.example", "A") == []
        assert resolve(Server("127.0.0.1", server.port), "www.isp.example", "A") == ["192.0.2.80"]
        again = sync(sqlite_store, monkeypatch, "dns")
        assert (again["added"], again["deleted"]) == (0, 0)
        # a deleted subscriber: its A, AAAA and both PTRs go (the IPv4 PTR from an RFC 2317 child zone)
        small = made["small1"]
        assert four(server.port, "small1.isp.example", str(small["ipv4"]), str(small["ipv6_address"]))[1:] == (
            [small["ipv6_address"]], [], ["small1.isp.example."])  # the /26 PTR is at 64.64/26..., not 64.100...
        service.delete_subscriber(sqlite_store, "small1")
        gone = sync(sqlite_store, monkeypatch, "dns")
        assert (gone["added"], gone["deleted"]) == (0, 4) and {c["subscriber"] for c in gone["changes"]} == {"small1.isp.example"}
        assert resolve(Server("127.0.0.1", server.port), "64.64/26.100.51.198.in-addr.arpa", "PTR") == []
        assert four(server.port, "small1.isp.example", str(small["ipv4"]), str(small["ipv6_address"])) == (
            [], [], [], [])
        # a wrong key: refused, an event, nothing changed
        service.change_subscriber(sqlite_store, "late", SubscriberUpdate(dns_name="later.isp.example"))
        monkeypatch.setenv("V6OPS_PROVISIONING_TSIG_SECRET", "AAAA" + server.key_secret[4:])
        code, _, err = cli(sqlite_store, monkeypatch, "ipam", "sync", "dns")
        assert code == 2 and "AXFR" in err
        assert service.list_events(sqlite_store, 1)[0]["kind"] == "sync-dns-failed"
        assert resolve(Server("127.0.0.1", server.port), "late.isp.example", "A") == [new["ipv4"]]
        monkeypatch.setenv("V6OPS_PROVISIONING_TSIG_SECRET", server.key_secret)
        assert sync(sqlite_store, monkeypatch, "dns")["added"] == 4  # the next run catches up
        assert resolve(Server("127.0.0.1", server.port), "later.isp.example", "AAAA") == [new["ipv6_address"]]
    # the server is down now
    code, _, err = cli(sqlite_store, monkeypatch, "ipam", "sync", "dns")
    assert code == 2 and f"127.0.0.1:{server.port}" in err


def test_server_text_is_split_like_an_address() -> None:
    assert Server.parse("[2001:db8::53]:5353") == Server("2001:db8::53", 5353)
    assert Server.parse("127.0.0.1:53") == Server("127.0.0.1", 53) and Server.parse("2001:db8::53").port == 53
    with pytest.raises(ValueError, match="'host:99999'"):
        Server.parse("host:99999")
