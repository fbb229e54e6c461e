"""Exports judged by the real tools: kea-dhcp4/6 -t, named-checkzone, wg-quick strip; CLI == REST."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api_client import api_client
from tests.ipam.fixtures import PLAN
from tests.ipam.helpers import snapshot
from tests.ipam.provisioning_fixtures import populate, wg_public_key
from tests.ipam.test_interfaces import cli
from v6ops.ipam.provisioning import exports
from v6ops.ipam.provisioning.settings import load_provisioning_settings
from v6ops.settings import Settings
from v6ops.store.db import Store

pytestmark = pytest.mark.requires("kea-dhcp6", "kea-dhcp4", "named-checkzone", "wg-quick")


@pytest.fixture
def populated(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    server_key = wg_public_key()
    monkeypatch.setenv("V6OPS_PROVISIONING_WIREGUARD_ENDPOINT", "[2001:db8::1]:51820")
    monkeypatch.setenv("V6OPS_PROVISIONING_WIREGUARD_SERVER_PUBLIC_KEY", server_key)
    monkeypatch.setenv("V6OPS_PROVISIONING_NAMESERVER_ADDRESSES", '["192.0.2.53", "2001:db8::53"]')
    populate(store, PLAN, wg_key=wg_public_key())
    return store


@pytest.fixture
def client(populated: Store, tmp_path: Path) -> Iterator[TestClient]:
    with api_client(Settings(database_url=populated.url, data_dir=tmp_path)) as c:
        yield c


def files_of(store: Store, target: str) -> dict[str, str]:
    return {f["path"]: f["content"] for f in exports.export(store, target, load_provisioning_settings(), serial=42)}


def test_every_file_has_a_header_and_cli_equals_rest(
    populated: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    for target in exports.TARGETS:
        rest = client.get(f"/api/v1/ipam/export/{target}?serial=42")
        assert rest.status_code == 200, rest.text
        code, out, err = cli(populated, monkeypatch, "ipam", "export", target, "--serial", "42", "--json",
                             "-o", str(tmp_path / "out"))
        assert code == 0, err
        assert json.loads(out) == rest.json() and rest.json()
        for f in rest.json():
            assert "v6ops 0.1.0 (v6ops ipam export" in f["content"].splitlines()[0], f["path"]
            assert (tmp_path / "out" / f["path"]).read_text() == f["content"]
    assert client.get("/api/v1/ipam/export/bind").status_code == 400


def test_radius_users_file_and_rows(populated: Store) -> None:
    files = files_of(populated, "radius")
    users = files["radius/users"]
    assert "secure_password" not in users and "pw-small" not in users
    entry = users.split('"user@example.com"')[1].split("\n\n")[0]
    assert "SSHA2-256-Password :=" in entry
    for attribute, value in (("Framed-IP-Address", "100.64.0.0"), ("Framed-IPv6-Address", "2001:db8:ff01:1::1"),
                             ("Framed-IPv6-Prefix", "2001:db8:ff01:1::/64"), ("Delegated-IPv6-Prefix", "2001:db8::/64")):
        assert f"\t{attribute} = {value}" in entry
    assert '"gone"\tAuth-Type := Reject\n' in users  # suspended: reject, no reply items
    assert '"biz1"\tAuth-Type := Accept' in users  # NAS profile
    rows = files["radius/radius-rows.sql"]
    assert "biz1\tFramed-Route\t=\t100.65.0.0/29 0.0.0.0 1" in rows
    assert "v6only\tFramed-IP-Address" not in rows and "v6only\tDelegated-IPv6-Prefix\t=\t2001:db8:10::/64" in rows


def test_kea_configs_pass_kea_t(populated: Store, tmp_path: Path) -> None:
    files = files_of(populated, "kea")
    for family in (4, 6):
        path = tmp_path / f"kea-dhcp{family}.conf"
        path.write_text(files[f"kea/kea-dhcp{family}.conf"])
        checked = subprocess.run([f"kea-dhcp{family}", "-t", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    v6 = json.loads(files["kea/kea-dhcp6.conf"].split("\n", 1)[1])["Dhcp6"]
    residential = next(s for s in v6["subnet6"] if s["subnet"] == "2001:db8:ff01:1::/64")
    assert residential["pd-pools"] == [{"prefix": "2001:db8::", "prefix-len": 48, "delegated-len": 64,
                                        "client-class": "KNOWN"}]
    assert {"duid": "00:03:00:01:00:11:22:33:44:55", "ip-addresses": ["2001:db8:ff01:1::1"],
            "prefixes": ["2001:db8::/64"], "hostname": "sub123.isp.example"} in residential["reservations"]
    assert all(r["duid"] != "00:01:00:01:2a:3b:4c:5d:00:11:22:33:44:77" for r in residential["reservations"])
    v4 = json.loads(files["kea/kea-dhcp4.conf"].split("\n", 1)[1])["Dhcp4"]
    reservations = [r for s in v4["subnet4"] for r in s.get("reservations", [])]
    assert {"client-id": "01:00:11:22:33:44:66", "ip-address": "100.65.0.1", "hostname": "biz1.isp.example"} in reservations
    assert {"circuit-id": "'olt7/1/3'", "ip-address": "198.51.100.64", "hostname": "small1.isp.example"} in reservations
    # a config that is wrong must fail the same judge (the judge can fail)
    bad = tmp_path / "bad.conf"
    bad.write_text(files["kea/kea-dhcp6.conf"].replace('"delegated-len": 64', '"delegated-len": 40'))
    assert subprocess.run(["kea-dhcp6", "-t", str(bad)], capture_output=True).returncode != 0


def test_zones_pass_named_checkzone_with_nibble_and_rfc2317_cuts(populated: Store, tmp_path: Path) -> None:
    files = files_of(populated, "dns")
    zones = dict(re.findall(r'zone "([^"]+)" \{ type primary; file "([^"]+)"; \};', files["dns/named.conf.zones"]))
    for zone, name in zones.items():
        path = tmp_path / name
        path.write_text(files[f"dns/{name}"])
        checked = subprocess.run(["named-checkzone", zone, str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout
    # /47 delegation range: two /48 zones; IPv4 /20: sixteen /24 zones; /26: one RFC 2317 child zone
    assert {"2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "3.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"} <= set(zones)
    assert sum(z.endswith(".65.100.in-addr.arpa") for z in zones) == 16
    child = "64/26.100.51.198.in-addr.arpa"
    assert child in zones
    assert "64.64/26.100.51.198.in-addr.arpa.\tIN\tPTR\tsmall1.isp.example." in files["dns/" + zones[child]]
    parent = files[f"dns/{zones[child]}.parent"]
    assert "64.100.51.198.in-addr.arpa.\tIN\tCNAME\t64.64/26.100.51.198.in-addr.arpa." in parent
    forward = files["dns/isp.example.zone"]
    assert "sub123.isp.example.\tIN\tA\t100.64.0.0" in forward and "sub123.isp.example.\tIN\tAAAA\t2001:db8:ff01:1::1" in forward
    assert "gone.isp.example" not in forward  # suspended: no records
    ptr6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.1.0.f.f.8.b.d.0.1.0.0.2.ip6.arpa.\tIN\tPTR\tsub123.isp.example."
    assert ptr6 in files["dns/1.0.0.0.1.0.f.f.8.b.d.0.1.0.0.2.ip6.arpa.zone"]


def test_reverse_zone_not_covering_a_prefix_is_refused(
    populated: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = snapshot(populated)
    monkeypatch.setenv("V6OPS_PROVISIONING_REVERSE_ZONES", '["100.64.0.0/16", "2001:db8::/36"]')
    code, _, err = cli(populated, monkeypatch, "ipam", "export", "dns", "--json")
    assert code == 2 and "100.65.0.0/20" in err and "not covered" in err
    r = client.get("/api/v1/ipam/export/dns")
    assert r.status_code == 422 and "not covered by any reverse zone" in r.json()["detail"]
    monkeypatch.setenv("V6OPS_PROVISIONING_REVERSE_ZONES", '["100.64.0.0/17"]')
    code, _, err = cli(populated, monkeypatch, "ipam", "export", "dns", "--json")
    assert code == 2 and "/17 is not on an octet" in err
    assert snapshot(populated) == before


def test_wireguard_configs_pass_wg_quick_strip(populated: Store, tmp_path: Path) -> None:
    files = files_of(populated, "wireguard")
    assert set(files) == {"wireguard/server/wg0.conf", "wireguard/sub123/wg0.conf"}
    for path, content in files.items():
        conf = tmp_path / path
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(content)
        conf.chmod(0o600)
        stripped = subprocess.run(["wg-quick", "strip", str(conf)], capture_output=True, text=True)
        assert stripped.returncode == 0, stripped.stderr
        assert "MTU" not in stripped.stdout and "Address" not in stripped.stdout
    assert "MTU = 1420" in files["wireguard/sub123/wg0.conf"]
    assert "Address = 100.64.0.0/32, 2001:db8:ff01:1::1/128" in files["wireguard/sub123/wg0.conf"]
    assert "AllowedIPs = 100.64.0.0/32, 2001:db8:ff01:1::1/128, 2001:db8::/64" in files["wireguard/server/wg0.conf"]


def test_notice_from_default_and_operator_template(
    populated: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    text = files_of(populated, "notice")["notice/sub123.txt"]
    assert text.startswith("X-Generated-By: v6ops") and "Subject: Your Internet Connection Now Supports IPv6" in text
    assert "- IPv4 Address: 100.64.0.0\n- IPv6 Address: 2001:db8:ff01:1::1\n- IPv6 Prefix: 2001:db8::/64" in text
    assert "IPv4 Address" not in files_of(populated, "notice")["notice/v6only.txt"]
    template = tmp_path / "notice.j2"
    template.write_text("Subject: IPv6 for {{ name }}\n\n{{ ipv6_prefix }} is yours.\n")
    monkeypatch.setenv("V6OPS_PROVISIONING_NOTICE_TEMPLATE", str(template))
    assert files_of(populated, "notice")["notice/sub123.txt"].endswith("Subject: IPv6 for sub123\n\n2001:db8::/64 is yours.\n")
    template.write_text("{{ nosuch }}")
    code, _, err = cli(populated, monkeypatch, "ipam", "export", "notice")
    assert code == 2 and "nosuch" in err
