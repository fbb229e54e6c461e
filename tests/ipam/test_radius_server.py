"""A real FreeRADIUS on loopback reads what ``sync radius`` wrote: Access-Accept with the four attributes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyrad.client import Client
from pyrad.dictionary import Dictionary
from pyrad.packet import AccessAccept, AccessReject, AccessRequest

from tests.ipam.fixtures import PLAN
from tests.ipam.freeradius import PYRAD_DICTIONARY, SECRET, freeradius
from tests.ipam.provisioning_fixtures import PASSWORD, populate
from tests.ipam.test_sync import sync
from v6ops.ipam import service
from v6ops.ipam.provisioning import exports
from v6ops.ipam.provisioning.settings import load_provisioning_settings
from v6ops.ipam.subscribers import SubscriberUpdate
from v6ops.store.db import Store

pytestmark = pytest.mark.requires("postgres", "kea-admin", "freeradius")


def ask(client: Client, user: str, password: str) -> tuple[int, dict[str, list[object]]]:
    request = client.CreateAuthPacket(code=AccessRequest, User_Name=user)
    request["User-Password"] = request.PwCrypt(password)
    request["NAS-IP-Address"] = "127.0.0.1"
    reply = client.SendPacket(request)
    return reply.code, {key: reply[key] for key in reply.keys()}  # noqa: SIM118 (pyrad keys() gives names)


def test_access_accept_carries_the_allocated_addresses_and_suspension_rejects(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    made = populate(sqlite_store, PLAN)
    sync(sqlite_store, monkeypatch, "radius")
    dictionary = tmp_path / "dictionary"
    dictionary.write_text(PYRAD_DICTIONARY)
    (tmp_path / "raddb").mkdir()
    with freeradius(tmp_path / "raddb", targets["radius"]) as port:
        client = Client(server="127.0.0.1", authport=port, secret=SECRET, dict=Dictionary(str(dictionary)))
        client.timeout, client.retries = 5, 2
        code, attrs = ask(client, "user@example.com", PASSWORD)
        assert code == AccessAccept, attrs
        sub = made["sub123"]
        assert attrs["Framed-IP-Address"] == [sub["ipv4"]] == ["100.64.0.0"]
        assert attrs["Framed-IPv6-Address"] == [sub["ipv6_address"]]
        assert attrs["Framed-IPv6-Prefix"] == ["2001:db8:ff01:1::/64"]
        assert attrs["Delegated-IPv6-Prefix"] == [sub["ipv6_prefix"]] == ["2001:db8::/64"]
        assert ask(client, "user@example.com", "wrong")[0] == AccessReject
        assert ask(client, "gone", "pw-gone")[0] == AccessReject  # suspended
        code, attrs = ask(client, "biz1", "anything")  # NAS profile: the NAS's shared secret authenticates
        assert code == AccessAccept and attrs["Framed-Route"] == ["100.65.0.0/29 0.0.0.0 1"]
        code, attrs = ask(client, "v6only", "pw6")
        assert code == AccessAccept and "Framed-IP-Address" not in attrs
        assert attrs["Delegated-IPv6-Prefix"] == ["2001:db8:10::/64"]
        # suspend, sync: the next Access-Request is rejected; reactivate: accepted again
        service.change_subscriber(sqlite_store, "sub123", SubscriberUpdate(status="suspended"))
        sync(sqlite_store, monkeypatch, "radius")
        assert ask(client, "user@example.com", PASSWORD)[0] == AccessReject
        service.change_subscriber(sqlite_store, "sub123", SubscriberUpdate(status="active"))
        sync(sqlite_store, monkeypatch, "radius")
        assert ask(client, "user@example.com", PASSWORD)[0] == AccessAccept


def test_the_exported_users_file_gives_the_same_answers(
    sqlite_store: Store, targets: dict[str, str], tmp_path: Path,
) -> None:
    made = populate(sqlite_store, PLAN)
    files = {f["path"]: f["content"] for f in exports.export(sqlite_store, "radius", load_provisioning_settings())}
    users = tmp_path / "users"
    users.write_text(files["radius/users"])
    dictionary = tmp_path / "dictionary"
    dictionary.write_text(PYRAD_DICTIONARY)
    (tmp_path / "raddb").mkdir()
    with freeradius(tmp_path / "raddb", targets["radius"], users_file=users) as port:
        client = Client(server="127.0.0.1", authport=port, secret=SECRET, dict=Dictionary(str(dictionary)))
        client.timeout, client.retries = 5, 2
        code, attrs = ask(client, "user@example.com", PASSWORD)
        assert code == AccessAccept, attrs
        assert (attrs["Framed-IP-Address"], attrs["Framed-IPv6-Address"], attrs["Delegated-IPv6-Prefix"]) == (
            [made["sub123"]["ipv4"]], [made["sub123"]["ipv6_address"]], [made["sub123"]["ipv6_prefix"]])
        assert attrs["Framed-IPv6-Prefix"] == ["2001:db8:ff01:1::/64"]
        assert ask(client, "user@example.com", "wrong")[0] == AccessReject
        assert ask(client, "gone", "pw-gone")[0] == AccessReject
        code, attrs = ask(client, "biz1", "x")
        assert code == AccessAccept and attrs["Framed-Route"] == ["100.65.0.0/29 0.0.0.0 1"]
