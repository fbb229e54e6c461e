"""internet.nl-style domain checks against name servers and web servers started in a namespace.

server ns: the resolver (dnspython server) on 2001:db8:13::2 and 10.13.0.2, an authoritative name
server on [2001:db8:13::53]:53, serve-echo on port 80, a different web site on 10.13.0.3:80, and
nft dropping everything to 2001:db8:13::66.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.probe.netns import lab, sh
from tests.probe.servers import ROOT, dns_server, echo_server

pytestmark = [pytest.mark.requires("netns", "nft"), pytest.mark.slow]

SOA = "ns1.good.test. hostmaster.good.test. 1 3600 600 86400 60"
RESOLVER = [
    "good.test=NS:ns1.good.test.", "ns1.good.test=AAAA:2001:db8:13::53", "ns1.good.test=A:10.13.0.53",
    "good.test=AAAA:2001:db8:13::2", "good.test=A:10.13.0.2",
    "bad.test=NS:ns1.good.test.", "bad.test=NS:ns2.bad.test.", "bad.test=NS:ns3.bad.test.",
    "ns2.bad.test=A:10.13.0.9", "ns3.bad.test=AAAA:2001:db8:13::66",
    "bad.test=AAAA:2001:db8:13::66", "bad.test=A:10.13.0.2",
    "diff.test=NS:ns1.good.test.", "diff.test=AAAA:2001:db8:13::2", "diff.test=A:10.13.0.3",
]
AUTHORITATIVE = [f"{d}=SOA:{SOA}" for d in ("good.test", "bad.test", "diff.test")]
NFT = """table inet v6ops_domain_test {
  chain input {
    type filter hook input priority 0; policy accept;
    ip6 daddr 2001:db8:13::66 drop
  }
}
"""


def test_domain_checks(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><body>" + "A different site entirely. " * 20 + "</body></html>")
    with lab("dom") as topo:
        client, server = topo.ns("c"), topo.ns("s")
        topo.link(client, server, ["2001:db8:13::1/64", "10.13.0.1/24"],
                  ["2001:db8:13::2/64", "2001:db8:13::53/64", "2001:db8:13::66/64", "10.13.0.2/24", "10.13.0.3/24"])
        sh("nft", "-f", "-", ns=server, input=NFT)
        other = subprocess.Popen(["ip", "netns", "exec", server, sys.executable, "-m", "http.server", "--bind", "10.13.0.3",
                                  "80"], cwd=site, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with echo_server(listen=("2001:db8:13::2", "10.13.0.2"), port=80, netns=server), \
                    dns_server(RESOLVER, listen=("10.13.0.2", "2001:db8:13::2"), port=53, netns=server, tmp=tmp_path), \
                    dns_server(AUTHORITATIVE, listen=("2001:db8:13::53",), port=53, netns=server, tmp=tmp_path):
                cmd = ["ip", "netns", "exec", client, sys.executable, "-m", "v6ops.cli", "probe-domain", "--json",
                       "--resolver", "10.13.0.2", "--scheme", "http", "--timeout", "1",
                       "good.test", "bad.test", "diff.test", "gone.test"]
                out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        finally:
            other.terminate()
            other.wait(10)
    assert out.returncode == 0, out.stderr
    results = {r["domain"]: r for r in json.loads(out.stdout)["results"]}
    checks = {d: {c["id"]: c["ok"] for c in r["checks"]} for d, r in results.items()}

    assert results["good.test"]["verdict"] == "IPv6 ready" and results["good.test"]["passed"] == 5
    assert results["good.test"]["web"]["similarity"] >= 0.9  # serve-echo's page names the family: alike, not equal

    assert checks["bad.test"] == {"ns-aaaa": False, "ns-ipv6-reachable": False, "web-aaaa": True,
                                  "web-ipv6-reachable": False, "web-same-content": False}
    details = {c["id"]: c["detail"] for c in results["bad.test"]["checks"]}
    assert "missing on ns2.bad.test" in details["ns-aaaa"]
    assert "ns3.bad.test 2001:db8:13::66: no answer" in details["ns-ipv6-reachable"]

    assert checks["diff.test"] == {"ns-aaaa": True, "ns-ipv6-reachable": True, "web-aaaa": True,
                                   "web-ipv6-reachable": True, "web-same-content": False}
    assert results["diff.test"]["verdict"] == "not IPv6 ready"
    assert results["gone.test"]["verdict"] == "no such domain"
