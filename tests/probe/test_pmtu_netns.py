"""PMTU check across client ── router ── server namespaces, the router's link to the client 1280 bytes.

The server's packets are 1500 bytes (the client's MSS says so); the router cannot forward them
onto the 1280-byte link and answers Packet Too Big. With nft dropping ICMPv6 type 2 at the
server, the large response never arrives: a PMTU black hole. The kernel's own route cache on
the server is the second judge (``ip -6 route get`` shows ``mtu 1280`` only after a PTB).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.probe.netns import lab, sh
from tests.probe.servers import ROOT, echo_server

pytestmark = [pytest.mark.requires("netns", "nft"), pytest.mark.slow]

CLIENT, SERVER = "2001:db8:c1::2", "2001:db8:51::2"
DROP_PTB = """table inet v6ops_pmtu_test {
  chain input {
    type filter hook input priority 0; policy accept;
    icmpv6 type packet-too-big drop
  }
}
"""


@pytest.mark.parametrize(("drop_ptb", "expected"), [(False, "pmtu ok"), (True, "PMTU black hole")])
def test_pmtu_verdict(drop_ptb, expected):
    with lab("mtu") as topo:
        client, router, server = topo.ns("c"), topo.ns("r"), topo.ns("s")
        topo.link(client, router, [f"{CLIENT}/64"], ["2001:db8:c1::1/64"], b_mtu=1280)
        topo.link(router, server, ["2001:db8:51::1/64"], [f"{SERVER}/64"])
        sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", ns=router)
        sh("ip", "-6", "route", "add", "default", "via", "2001:db8:c1::1", ns=client)
        sh("ip", "-6", "route", "add", "default", "via", "2001:db8:51::1", ns=server)
        if drop_ptb:
            sh("nft", "-f", "-", ns=server, input=DROP_PTB)
        with echo_server(listen=("::",), port=8080, netns=server):
            cmd = ["ip", "netns", "exec", client, sys.executable, "-m", "v6ops.cli", "probe", "--json", "--pmtu",
                   "--no-icmp", "--pmtu-timeout", "3", f"http://[{SERVER}]:8080/payload?bytes=20000"]
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
            cached = sh("ip", "-6", "route", "get", CLIENT, ns=server).stdout
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)["results"][0]
    assert result["verdict"] == "IPv6 only"  # the connection itself works either way
    assert result["pmtu"] == expected, result["pmtu_checks"]
    check = result["pmtu_checks"][0]
    if drop_ptb:
        assert check["bytes"] < 1280 and "only" in check["reason"]
        assert "mtu 1280" not in cached
    else:
        assert check["bytes"] > 20000 and "mtu 1280" in cached
