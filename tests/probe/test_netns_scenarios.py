"""Probe verdicts and Happy Eyeballs timing in network namespaces the test builds.

client ns ── link 1 (2001:db8:13::/64, 10.13.0.0/24) ── server ns
          └─ link 2 (2001:db8:14::/64, 100 ms delay) ───────┘

The delay on link 2 is ``tc netem`` where the kernel has it; this kernel (and CI's, the same
machine kind) is built without sch_netem, so there an NFQUEUE delay line in the server
namespace (tests/probe/delayer.py) holds each packet the server sends from 2001:db8:14::2.

The server namespace runs the dnspython DNS server and ``v6ops serve-echo``; nft there drops
everything to 2001:db8:13::66 (a black-holed IPv6 address). Each name points at one situation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.probe.netns import lab, sh
from tests.probe.servers import ROOT, dns_server, echo_server

pytestmark = [pytest.mark.requires("netns", "nft", "tc", "iptables"), pytest.mark.slow]

NETEM_MS = 100
RECORDS = [
    "dual.test=AAAA:2001:db8:13::2", "dual.test=A:10.13.0.2",
    "broken.test=AAAA:2001:db8:13::66", "broken.test=A:10.13.0.2",
    "slow.test=AAAA:2001:db8:14::2", "slow.test=A:10.13.0.2",
    "v4only.test=A:10.13.0.2",
    "v6only.test=AAAA:2001:db8:13::2",
    "deadv6.test=AAAA:2001:db8:13::66",
    "ipv4only.arpa=AAAA:64:ff9b::c000:aa", "ipv4only.arpa=AAAA:64:ff9b::c000:ab",  # a DNS64's answer (RFC 7050)
]
NFT = """table inet v6ops_probe_test {
  chain input {
    type filter hook input priority 0; policy accept;
    ip6 daddr 2001:db8:13::66 drop
  }
}
"""


@contextmanager
def delayed(ns: str, ifname: str, source: str) -> Iterator[None]:
    """Delay what ``ns`` sends from ``source`` by NETEM_MS: netem on ``ifname``, else an NFQUEUE delay line."""
    if sh("tc", "qdisc", "add", "dev", ifname, "root", "netem", "delay", f"{NETEM_MS}ms", ns=ns, check=False).returncode == 0:
        yield
        return
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "tests.probe.delayer", "--queue", "13",
                             "--delay", str(NETEM_MS / 1000)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None and "ready" in proc.stderr.readline()
        sh("ip6tables", "-A", "OUTPUT", "-s", source, "-p", "tcp", "-j", "NFQUEUE", "--queue-num", "13", ns=ns)
        yield
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("netns")
    with lab("he") as topo:
        client, server = topo.ns("c"), topo.ns("s")
        topo.link(client, server, ["2001:db8:13::1/64", "10.13.0.1/24"], ["2001:db8:13::2/64", "2001:db8:13::66/64", "10.13.0.2/24"])
        _, slow_if = topo.link(client, server, ["2001:db8:14::1/64"], ["2001:db8:14::2/64"])
        sh("nft", "-f", "-", ns=server, input=NFT)
        # A default IPv6 route, so a NAT64 destination is usable (RFC 6724 rule 1) though nothing translates it.
        sh("ip", "-6", "route", "add", "default", "via", "2001:db8:13::2", ns=client)
        with delayed(server, slow_if, "2001:db8:14::2"), echo_server(listen=("::", "0.0.0.0"), port=8080, netns=server), \
                dns_server(RECORDS, listen=("10.13.0.2", "2001:db8:13::2"), port=53, netns=server, tmp=tmp), \
                dns_server(RECORDS, listen=("10.13.0.2",), port=5353, netns=server, tmp=tmp, delays=["AAAA=0.2"]):
            yield {"client": client, "server": server}


def probe(net, *args: str) -> dict:
    cmd = ["ip", "netns", "exec", net["client"], sys.executable, "-m", "v6ops.cli", "probe", "--json", "--timeout", "1.5",
           "--samples", "3", *args]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {r["target"]: r for r in json.loads(result.stdout)["results"]}


def test_verdicts_per_scenario(net):
    results = probe(net, "--resolver", "10.13.0.2", "http://dual.test:8080/health", "broken.test:8080", "slow.test:8080",
                    "v4only.test:8080", "v6only.test:8080", "deadv6.test:8080", "gone.test:8080")
    verdicts = {t: r["verdict"] for t, r in results.items()}
    slow = verdicts.pop("slow.test:8080")
    assert verdicts == {
        "http://dual.test:8080/health": "dual-stack ok",
        "broken.test:8080": "IPv6 broken",
        "v4only.test:8080": "IPv4 only",
        "v6only.test:8080": "IPv6 only",
        "deadv6.test:8080": "IPv6 broken",
        "gone.test:8080": "no address",
    }
    gap = results["slow.test:8080"]["ipv6_slower_ms"]
    assert slow == f"IPv6 slower by {round(gap)} ms" and NETEM_MS * 0.9 <= gap <= NETEM_MS * 2.5

    dual = results["http://dual.test:8080/health"]
    assert {a["address"]: a["http_status"] for a in dual["addresses"]} == {"2001:db8:13::2": 200, "10.13.0.2": 200}
    assert all(a["icmp_rtt_ms"] is not None for a in dual["addresses"])  # root in the netns may ping
    assert dual["happy_eyeballs"]["winner"] == "2001:db8:13::2"

    broken = results["broken.test:8080"]
    row = next(a for a in broken["addresses"] if a["family"] == "IPv6")
    assert row["tcp_error"] == "timed out after 1.5 s" and row["icmp_error"] == "no reply in 1.5 s"
    # IPv6 is black-holed: IPv4 starts after the attempt delay and wins.
    he = broken["happy_eyeballs"]
    assert he["winner"] == "10.13.0.2" and [a["outcome"] for a in he["attempts"]] == ["cancelled", "connected"]
    assert he["attempts"][1]["scheduled_ms"] == pytest.approx(he["attempts"][0]["started_ms"] + 250, abs=0.01)
    assert he["connected_ms"] >= he["attempts"][0]["started_ms"] + 250  # (the + 50 ms bound: the test below)

    # 100 ms slower IPv6 still wins the race: it answers before the 250 ms attempt delay.
    assert results["slow.test:8080"]["happy_eyeballs"]["winner"] == "2001:db8:14::2"


def races(results: dict) -> list[dict]:
    return [r["happy_eyeballs"] for r in results.values()]


@pytest.mark.parametrize("delay_ms", [100, 400])
def test_fallback_lands_within_the_configured_attempt_delay_plus_50ms(net, delay_ms):
    # Three races (the same name under three spellings): the schedule must be exact in each, and on this
    # shared, busy machine the best of three shows the loop's own lateness, which must stay under 50 ms.
    targets = ["broken.test:8080", "BROKEN.test:8080", "broken.test.:8080"]
    runs = races(probe(net, "--resolver", "10.13.0.2", "--no-icmp", "--attempt-delay-ms", str(delay_ms), *targets))
    for he in runs:
        first, second = he["attempts"]
        assert (first["address"], second["address"], he["winner"]) == ("2001:db8:13::66", "10.13.0.2", "10.13.0.2")
        assert second["scheduled_ms"] == pytest.approx(first["started_ms"] + delay_ms, abs=0.01)
    best = min(runs, key=lambda he: he["connected_ms"] - he["attempts"][0]["started_ms"])
    assert delay_ms <= best["connected_ms"] - best["attempts"][0]["started_ms"] < delay_ms + 50


def test_resolution_delay_with_a_slow_aaaa_answer(net):
    # This server holds AAAA answers back 200 ms: A comes first, IPv4 is due 50 ms later, the AAAA is merged late.
    targets = ["dual.test:8080", "DUAL.test:8080", "dual.test.:8080"]
    runs = races(probe(net, "--resolver", "10.13.0.2:5353", "--no-icmp", *targets))
    for he in runs:
        queries = {q["rdtype"]: q for q in he["queries"]}
        assert [q["rdtype"] for q in he["queries"]] == ["AAAA", "A"] and he["resolution_delay_used"]
        first = he["attempts"][0]
        assert first["address"] == "10.13.0.2" and he["winner"] == "10.13.0.2"
        assert first["scheduled_ms"] - queries["A"]["answered_ms"] == pytest.approx(50, abs=1)
        assert queries["AAAA"]["answered_ms"] is None or queries["AAAA"]["answered_ms"] > first["scheduled_ms"]
    assert min(he["attempts"][0]["started_ms"] - he["attempts"][0]["scheduled_ms"] for he in runs) < 30


@pytest.mark.parametrize("prefix_args", [[], ["--nat64-prefix", "64:ff9b::/96"]], ids=["discovered", "given"])
def test_ipv4_literal_races_its_nat64_synthesis_first(net, prefix_args):
    # The prefix comes from ipv4only.arpa (the default) or the command line. The synthesized address
    # sorts first (precedence 40 over 35) but nothing translates it here, so the literal wins after the delay.
    he = probe(net, "--resolver", "10.13.0.2", "--no-icmp", *prefix_args, "--attempt-delay-ms", "100", "10.13.0.2:8080")
    trace = he["10.13.0.2:8080"]["happy_eyeballs"]
    assert trace["nat64_prefix"] == "64:ff9b::/96"
    assert [a["address"] for a in trace["attempts"]] == ["64:ff9b::a0d:2", "10.13.0.2"]
    assert trace["attempts"][0]["synthesized"] and trace["winner"] == "10.13.0.2"


def test_name_servers_are_reachable_over_ipv6_too(net):
    results = probe(net, "--resolver", "[2001:db8:13::2]:53", "--no-icmp", "v6only.test:8080")
    assert results["v6only.test:8080"]["verdict"] == "IPv6 only"


def test_namespaces_are_deleted_afterwards():
    with lab("gone") as topo:
        name = topo.ns("c")
        assert name in sh("ip", "netns", "list").stdout and str(os.getpid()) in name
    assert name not in sh("ip", "netns", "list").stdout
