"""Kea with its PostgreSQL hosts backend filled by ``sync kea`` serves real DHCP clients in a network namespace.

kea-dhcp6 / kea-dhcp4 run inside a namespace the test creates (a veth pair, both ends inside it), so
port 547/67 of the machine are never touched; they reach PostgreSQL through its Unix socket (the file
system is shared). The clients are scapy scripts run in the same namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.ipam.fixtures import PLAN
from tests.ipam.provisioning_fixtures import populate
from tests.ipam.test_sync import sync
from v6ops.ipam.provisioning import kea
from v6ops.ipam.provisioning.inventory import load_inventory
from v6ops.store.db import Store

pytestmark = pytest.mark.requires("postgres", "kea-admin", "netns", "kea-dhcp6", "kea-dhcp4")
SOCKET_DIR = "/var/run/postgresql"

CLIENT6 = """
import json, sys, time
from scapy.all import AsyncSniffer, Ether, IPv6, UDP, conf, sendp
from scapy.layers.dhcp6 import (DHCP6_Advertise, DHCP6_Reply, DHCP6_Request, DHCP6_Solicit, DHCP6OptClientId,
    DHCP6OptElapsedTime, DHCP6OptIA_NA, DHCP6OptIA_PD, DHCP6OptIAAddress, DHCP6OptIAPrefix, DHCP6OptServerId, DUID_LL)
conf.verb = 0
iface, mac = sys.argv[1], sys.argv[2]
duid = DUID_LL(lladdr=sys.argv[3])
base = Ether(src=mac, dst="33:33:00:01:00:02") / IPv6(src="fe80::c", dst="ff02::1:2") / UDP(sport=546, dport=547)
ask = DHCP6OptClientId(duid=duid) / DHCP6OptIA_NA(iaid=1) / DHCP6OptIA_PD(iaid=2) / DHCP6OptElapsedTime()


def exchange(packet, kind, trid):
    sniffer = AsyncSniffer(iface=iface, filter="udp and dst port 546",
                           lfilter=lambda p: p.haslayer(kind) and p[kind].trid == trid)
    sniffer.start()
    time.sleep(0.5)
    for _ in range(3):
        sendp(packet, iface=iface)
        time.sleep(2)
        if sniffer.results:
            break
    sniffer.stop()
    return sniffer.results[0] if sniffer.results else None


out = {}
adv = exchange(base / DHCP6_Solicit(trid=0x1234) / ask, DHCP6_Advertise, 0x1234)
out["advertise"] = adv is not None
if adv is not None:
    rep = exchange(base / DHCP6_Request(trid=0x1235) / DHCP6OptClientId(duid=duid) / adv[DHCP6OptServerId]
                   / DHCP6OptIA_NA(iaid=1) / DHCP6OptIA_PD(iaid=2) / DHCP6OptElapsedTime(), DHCP6_Reply, 0x1235)
    if rep is not None:
        out["address"] = rep[DHCP6OptIAAddress].addr if rep.haslayer(DHCP6OptIAAddress) else None
        if rep.haslayer(DHCP6OptIAPrefix):
            out["prefix"] = f"{rep[DHCP6OptIAPrefix].prefix}/{rep[DHCP6OptIAPrefix].plen}"
print(json.dumps(out))
"""

CLIENT4 = """
import json, sys, time
from scapy.all import BOOTP, DHCP, IP, UDP, AsyncSniffer, Ether, conf, mac2str, sendp
conf.verb = 0
iface, mac = sys.argv[1], sys.argv[2]
discover = (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
            / UDP(sport=68, dport=67) / BOOTP(chaddr=mac2str(mac), xid=0x4321, flags=0x8000)
            / DHCP(options=[("message-type", "discover"), "end"]))
sniffer = AsyncSniffer(iface=iface, filter="udp and dst port 68", lfilter=lambda p: p.haslayer(BOOTP) and p[BOOTP].xid == 0x4321)
sniffer.start()
time.sleep(0.5)
for _ in range(3):
    sendp(discover, iface=iface)
    time.sleep(2)
    if sniffer.results:
        break
sniffer.stop()
print(json.dumps({"offer": sniffer.results[0][BOOTP].yiaddr if sniffer.results else None}))
"""


def ns(name: str, *cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", name, *cmd], capture_output=True, text=True, **kw)  # type: ignore[call-overload]


@pytest.fixture
def netns() -> Iterator[tuple[str, str, str]]:
    name, server, client = f"v6ops-kea-{os.getpid()}", f"ks{os.getpid()}", f"kc{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "link", "add", server, "type", "veth", "peer", "name", client], check=True)
        subprocess.run(["ip", "link", "set", server, "netns", name], check=True)
        subprocess.run(["ip", "link", "set", client, "netns", name], check=True)
        for cmd in (["sysctl", "-qw", f"net.ipv6.conf.{server}.accept_dad=0"],  # link-locals usable at once
                    ["sysctl", "-qw", f"net.ipv6.conf.{client}.accept_dad=0"],
                    ["ip", "link", "set", "lo", "up"], ["ip", "link", "set", server, "up"],
                    ["ip", "link", "set", client, "address", "02:00:00:00:0c:01"], ["ip", "link", "set", client, "up"],
                    ["ip", "-6", "addr", "add", "2001:db8:ff01:1::fffe/64", "dev", server, "nodad"],
                    ["ip", "-6", "addr", "add", "fe80::c/64", "dev", client, "nodad"],
                    ["ip", "addr", "add", "100.64.255.254/16", "dev", server]):
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=True)
        yield name, server, client
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def start_kea(namespace: str, family: int, config: dict[str, object], tmp: Path) -> subprocess.Popen[str]:
    path = tmp / f"kea{family}.json"
    path.write_text(json.dumps(config))
    checked = ns(namespace, f"kea-dhcp{family}", "-t", str(path))
    assert checked.returncode == 0, checked.stdout[-2000:]
    env = {**os.environ, "KEA_LOCKFILE_DIR": str(tmp), "KEA_PIDFILE_DIR": str(tmp)}
    log = (tmp / f"kea{family}.log").open("w")
    proc = subprocess.Popen(["ip", "netns", "exec", namespace, f"kea-dhcp{family}", "-c", str(path)],
                            stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 20
    while "started" not in (tmp / f"kea{family}.log").read_text().lower():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp / f"kea{family}.log").read_text()[-3000:])
        time.sleep(0.2)
    return proc


def test_dhcp_clients_get_the_reserved_address_prefix_and_ipv4(
    sqlite_store: Store, targets: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    netns: tuple[str, str, str],
) -> None:
    url = urlsplit(targets["kea"])
    if not Path(SOCKET_DIR, f".s.PGSQL.{url.port or 5432}").exists():
        pytest.fail(f"PostgreSQL's Unix socket is not in {SOCKET_DIR}: Kea in the namespace cannot reach the database")
    made = populate(sqlite_store, PLAN)
    sync(sqlite_store, monkeypatch, "kea")
    namespace, server, client = netns
    database = {"type": "postgresql", "name": url.path.lstrip("/"), "host": SOCKET_DIR,
                "user": url.username or "postgres", "password": url.password or ""}
    with sqlite_store.read() as session:
        inventory = load_inventory(session)
    procs = []
    try:
        for family in (6, 4):
            config = kea.kea_config(inventory, family, inline_reservations=False, hosts_database=database,
                                    interfaces=[server], lease_file=str(tmp_path / f"leases{family}.csv"))
            body = config[f"Dhcp{family}"]
            assert isinstance(body, dict)
            subnets = [s for s in body[f"subnet{family}"] if s["user-context"]["v6ops-pool"] == "city-1-residential"]
            subnets[0]["interface"] = server
            body[f"subnet{family}"] = subnets
            if family == 6:
                body["server-id"] = {"type": "LLT", "persist": False}  # not /var/lib/kea
            procs.append(start_kea(namespace, family, config, tmp_path))
        sub = made["sub123"]
        got6 = ns(namespace, sys.executable, "-c", CLIENT6, client, "02:00:00:00:0c:01", "00:11:22:33:44:55",
                  timeout=60)
        assert got6.returncode == 0, got6.stderr[-2000:]
        assert json.loads(got6.stdout) == {"advertise": True, "address": sub["ipv6_address"],
                                           "prefix": sub["ipv6_prefix"]}
        # an unknown DUID gets nothing: the pools serve KNOWN clients only
        other = ns(namespace, sys.executable, "-c", CLIENT6, client, "02:00:00:00:0c:01", "00:11:22:33:44:99",
                   timeout=60)
        assert json.loads(other.stdout).get("address") is None
        got4 = ns(namespace, sys.executable, "-c", CLIENT4, client, "00:11:22:33:44:55", timeout=60)
        assert got4.returncode == 0, got4.stderr[-2000:]
        assert json.loads(got4.stdout) == {"offer": sub["ipv4"]}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
