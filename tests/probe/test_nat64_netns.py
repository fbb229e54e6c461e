"""An IPv6-only client reaches an IPv4 literal through a real NAT64 (TAYGA) with the prefix it learned via DNS64.

client (IPv6 only) ── router: TAYGA on 2001:db8:6464::/96, DNS64's ipv4only.arpa answer ── server (IPv4 only)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.probe.netns import lab, sh
from tests.probe.servers import ROOT, dns_server, echo_server

pytestmark = [pytest.mark.requires("netns", "tayga"), pytest.mark.slow]

PREFIX = "2001:db8:6464::/96"


def test_ipv4_literal_through_nat64_with_the_discovered_prefix(tmp_path: Path):
    conf = tmp_path / "tayga.conf"
    conf.write_text(f"tun-device nat64\nipv4-addr 192.168.255.1\nprefix {PREFIX}\ndynamic-pool 192.168.255.0/24\n"
                    f"data-dir {tmp_path}\n")
    with lab("nat") as topo:
        client, router, server = topo.ns("c"), topo.ns("r"), topo.ns("s")
        topo.link(client, router, ["2001:db8:64::2/64"], ["2001:db8:64::1/64"])
        topo.link(router, server, ["10.64.0.1/24"], ["10.64.0.2/24"])
        for key in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
            sh("sysctl", "-qw", key, ns=router)
        sh("ip", "-6", "route", "add", "default", "via", "2001:db8:64::1", ns=client)
        sh("ip", "route", "add", "default", "via", "10.64.0.1", ns=server)
        sh("tayga", "--config", str(conf), "--mktun", ns=router)
        sh("ip", "link", "set", "nat64", "up", ns=router)
        sh("ip", "route", "add", "192.168.255.0/24", "dev", "nat64", ns=router)
        sh("ip", "-6", "route", "add", PREFIX, "dev", "nat64", ns=router)
        tayga = subprocess.Popen(["ip", "netns", "exec", router, "tayga", "--config", str(conf), "--nodetach"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with echo_server(listen=("0.0.0.0",), port=8080, netns=server), \
                    dns_server(["ipv4only.arpa=AAAA:2001:db8:6464::c000:aa"], listen=("2001:db8:64::1",), port=53,
                               netns=router, tmp=tmp_path):
                cmd = ["ip", "netns", "exec", client, sys.executable, "-m", "v6ops.cli", "probe", "--json", "--no-icmp",
                       "--resolver", "[2001:db8:64::1]:53", "--timeout", "2", "http://10.64.0.2:8080/health"]
                out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        finally:
            tayga.terminate()
            tayga.wait(10)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)["results"][0]
    he = result["happy_eyeballs"]
    assert he["nat64_prefix"] == PREFIX
    assert he["winner"] == "2001:db8:6464::a40:2" and he["attempts"][0]["synthesized"]
    rows = {r["address"]: r for r in result["addresses"]}
    # The synthesized address is probed beside the literal: through NAT64 the page is served, natively nothing.
    assert rows["2001:db8:6464::a40:2"]["http_status"] == 200 and rows["2001:db8:6464::a40:2"]["synthesized"]
    assert rows["10.64.0.2"]["tcp_error"] is not None
    assert result["verdict"] == "IPv4 broken"
