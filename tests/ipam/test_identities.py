"""Subscriber identities: RFC 8415 DUIDs, MACs, client-ids checked at the edge; no identity shared."""

from __future__ import annotations

import json
import struct
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from tests.ipam.helpers import snapshot
from tests.ipam.test_interfaces import cli, client  # noqa: F401  (fixture)
from v6ops.ipam.errors import IpamError
from v6ops.ipam.identities import colon_hex, hash_password, parse_duid, parse_mac, password_matches
from v6ops.store.db import Store

SUBS = "/api/v1/ipam/subscribers"


# Independent builders of the four DUID layouts of RFC 8415 s11.2-11.5.
def llt(hw: bytes, secs: int) -> bytes:
    return struct.pack("!HHI", 1, 1, secs) + hw


def en(pen: int, ident: bytes) -> bytes:
    return struct.pack("!HI", 2, pen) + ident


def ll(hw: bytes) -> bytes:
    return struct.pack("!HH", 3, 1) + hw


def uuid_duid(u: uuid.UUID) -> bytes:
    return struct.pack("!H", 4) + u.bytes


macs = st.binary(min_size=6, max_size=6)
duids = st.one_of(
    st.builds(llt, macs, st.integers(0, 2**32 - 1)),
    st.builds(en, st.integers(0, 2**32 - 1), st.binary(min_size=1, max_size=124)),
    st.builds(ll, macs),
    st.builds(uuid_duid, st.uuids()),
)


@given(duids, st.sampled_from([":", "-", ""]))
def test_every_rfc8415_duid_type_round_trips(duid: bytes, sep: str) -> None:
    text = sep.join(f"{b:02X}" for b in duid)
    assert parse_duid(text) == duid
    assert colon_hex(parse_duid(text)) == duid.hex(":")


@pytest.mark.parametrize("text,words", [
    ("00:05:01:02", "type 5"),
    ("00:01", "2 octets"),
    ("00:03:00:01:aa:bb", "6-octet address"),
    ("00:04:" + "11:" * 15 + "11" + ":22", "exactly 16"),
    ("00:02:00:00:09", "enterprise number"),
    ("00:01:00:01:0g", "not hex"),
    ("0" * 262 + "01", "octets"),
])
def test_bad_duids_name_the_value(text: str, words: str) -> None:
    with pytest.raises(IpamError, match=words) as info:
        parse_duid(text)
    assert repr(text) in str(info.value)


def test_mac_forms_and_rejections() -> None:
    assert parse_mac("0011.2233.4455") == parse_mac("00-11-22-33-44-55") == bytes.fromhex("001122334455")
    for bad in ("01:00:5e:00:00:01", "00:00:00:00:00:00", "00:11:22:33:44", "00:11:22:33:44:5g"):
        with pytest.raises(IpamError, match=repr(bad).replace(".", r"\.")):
            parse_mac(bad)


def test_password_is_stored_as_a_salted_hash() -> None:
    stored = hash_password("s3cret")
    assert "s3cret" not in stored and stored != hash_password("s3cret")
    assert password_matches("s3cret", stored) and not password_matches("s3cre", stored)


def test_identities_via_rest_and_cli_and_duplicates_refused(
    client: TestClient, planned: Store, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    made = client.post(SUBS, json={"name": "sub1", "pool": "city-1-residential", "dns_name": "sub1.isp.example",
                                   "identities": {"radius_username": "sub1@isp.example", "radius_password": "pw1",
                                                  "duid": "0003 0001 0011 2233 4455".replace(" ", ""),
                                                  "mac": "00-11-22-33-44-55", "circuit_id": "olt1/1/1"}})
    assert made.status_code == 201, made.text
    ids = made.json()["identities"]
    assert ids == {"radius_username": "sub1@isp.example", "duid": "00:03:00:01:00:11:22:33:44:55",
                   "dhcpv4_client_id": None, "mac": "00:11:22:33:44:55", "circuit_id": "olt1/1/1",
                   "remote_id": None, "wireguard_public_key": None, "radius_auth": "password"}
    assert "pw1" not in made.text
    before = snapshot(planned)
    # the same MAC in another notation is the same identity
    dup = client.post(SUBS, json={"name": "sub2", "pool": "city-1-residential",
                                  "identities": {"mac": "0011.2233.4455"}})
    assert dup.status_code == 409 and "00:11:22:33:44:55" in dup.json()["detail"] and "sub1" in dup.json()["detail"]
    bad = client.post(SUBS, json={"name": "sub2", "identities": {"duid": "00:09:aa"}})
    assert bad.status_code == 422 and "00:09:aa" in bad.text
    nopw = client.post(SUBS, json={"name": "sub2", "identities": {"radius_username": "u2"}})
    assert nopw.status_code == 400 and "'u2'" in nopw.json()["detail"]
    assert snapshot(planned) == before
    code, _, err = cli(planned, monkeypatch, "ipam", "subscriber", "add", "sub3", "--duid", "00:03:00:01:00:11:22:33:44:55")
    assert code == 2 and "00:03:00:01:00:11:22:33:44:55" in err and "sub1" in err
    code, _, err = cli(planned, monkeypatch, "ipam", "subscriber", "add", "sub3", "--mac", "01:00:5e:00:00:01")
    assert code == 2 and "01:00:5e:00:00:01" in err
    assert snapshot(planned) == before
    code, out, err = cli(planned, monkeypatch, "ipam", "subscriber", "add", "sub3", "--radius-username", "sub3",
                         "--radius-auth", "nas", "--client-id", "01:00:11:22:33:44:66", "--json")
    assert code == 0, err
    assert json.loads(out)["identities"]["radius_auth"] == "nas"
    code, out, err = cli(planned, monkeypatch, "ipam", "subscriber", "set", "sub3", "--client-id", "",
                         "--dns-name", "three.isp.example", "--json")
    assert code == 0, err
    assert json.loads(out)["identities"]["dhcpv4_client_id"] is None and json.loads(out)["dns_name"] == "three.isp.example"
    # suspended subscribers keep their identities
    code, out, _ = cli(planned, monkeypatch, "ipam", "subscriber", "set", "sub1", "--status", "suspended", "--json")
    assert code == 0 and json.loads(out)["identities"]["mac"] == "00:11:22:33:44:55"


def test_bulk_import_takes_identities_and_refuses_duplicates_whole(
    client: TestClient, planned: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,  # noqa: F811
) -> None:
    good = tmp_path / "subs.csv"
    good.write_text("name,pool,dns_name,radius_username,radius_password,duid,mac\n"
                    "a1,city-1-residential,a1.isp.example,a1@isp,pw,00:03:00:01:02:00:00:00:00:01,02:00:00:00:00:01\n"
                    "a2,city-1-residential,a2.isp.example,a2@isp,pw,00:03:00:01:02:00:00:00:00:02,0200.0000.0002\n")
    code, out, err = cli(planned, monkeypatch, "ipam", "subscriber", "import", str(good), "--json")
    assert code == 0, err
    assert json.loads(out)["imported"] == 2
    shown = client.get(f"{SUBS}/a2").json()
    assert shown["identities"]["mac"] == "02:00:00:00:00:02" and shown["ipv6_prefix"] is not None
    before = snapshot(planned)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"name": "b1", "identities": {"mac": "02:00:00:00:00:09"}}\n'
                   '{"name": "b2", "identities": {"mac": "02-00-00-00-00-09"}}\n'
                   '{"name": "b3", "identities": {"duid": "00:07"}}\n')
    code, out, err = cli(planned, monkeypatch, "ipam", "subscriber", "import", str(dup), "--json")
    reasons = [r["reason"] for r in json.loads(out)["rejections"]]
    assert code == 2 and "'02:00:00:00:00:09' is also on line 1" in reasons[0] and "00:07" in reasons[1]
    clash = tmp_path / "clash.jsonl"
    clash.write_text('{"name": "c1", "identities": {"duid": "00:03:00:01:02:00:00:00:00:05"}}\n'
                     '{"name": "c2", "pool": "city-1-residential", "identities": {"mac": "02:00:00:00:00:01"}}\n')
    code, _, err = cli(planned, monkeypatch, "ipam", "subscriber", "import", str(clash))
    assert code == 2 and "02:00:00:00:00:01" in err and "'a1'" in err
    r = client.post(f"{SUBS}/import", content=clash.read_bytes(), headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 409 and "02:00:00:00:00:01" in r.json()["detail"]
    assert snapshot(planned) == before
