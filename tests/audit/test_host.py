"""Host audit against what the real iptables, ip6tables, nft and ss print inside a network namespace."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import api_client
from v6ops.audit.host import HostInputs, collect_live, host_report, parse_ss, read_inputs
from v6ops.audit.host_rules import HostInputError, parse_iptables_save, parse_nft_json

pytestmark = [pytest.mark.requires("netns"), pytest.mark.requires("nft"), pytest.mark.requires("iptables"),
              pytest.mark.requires("ss")]

GOOD_NFT = """
table inet v6ops_test {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iifname "lo" accept
    rt type 0 drop
    icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request } accept
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } ip6 hoplimit 255 accept
    icmpv6 type mld-listener-query ip6 saddr fe80::/10 accept
    icmp type { destination-unreachable, time-exceeded, echo-request } accept
    tcp dport { 22, 80, 443 } accept
    udp dport 53 accept
  }
}
"""


class Netns:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *cmd: str, stdin: str | None = None) -> str:
        done = subprocess.run(["ip", "netns", "exec", self.name, *cmd], input=stdin, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{cmd}: {done.stderr}"
        return done.stdout

    def nft(self, ruleset: str) -> None:
        self.run("nft", "-f", "-", stdin=ruleset)

    def inputs(self) -> HostInputs:
        return HostInputs(self.run("iptables-save"), self.run("ip6tables-save"), self.run("nft", "-j", "list", "ruleset"),
                          self.run("ss", "-lntuH"))


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> Iterator[Netns]:
    name = f"v6ops-host-{os.getpid()}-{abs(hash(request.node.name)) % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        n = Netns(name)
        n.run("ip", "link", "set", "lo", "up")
        yield n
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


LISTEN = textwrap.dedent("""
    import socket, sys, time
    socks = []
    for fam, typ, addr, port, v6only in [
        (socket.AF_INET6, socket.SOCK_STREAM, "::", 22, 0),        # dual-stack: ss prints *:22
        (socket.AF_INET6, socket.SOCK_STREAM, "::", 80, 0),
        (socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0", 5432, None),  # IPv4 only
        (socket.AF_INET6, socket.SOCK_STREAM, "::", 8080, 1),      # IPV6_V6ONLY: ss prints [::]:8080
        (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", 631, None),  # loopback, IPv4 only
    ]:
        s = socket.socket(fam, typ)
        if v6only is not None:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
        s.bind((addr, port))
        if typ == socket.SOCK_STREAM:
            s.listen()
        socks.append(s)
    print("ready", flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def listeners(ns: Netns) -> Iterator[None]:
    proc = subprocess.Popen(["ip", "netns", "exec", ns.name, "python3", "-c", LISTEN], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def ids(report: dict[str, Any]) -> Counter[str]:
    return Counter(f["check_id"] for f in report["findings"])


def by_check(report: dict[str, Any], check_id: str) -> list[str]:
    return sorted(f["resource_id"] for f in report["findings"] if f["check_id"] == check_id)


def seed_mistake(ns: Netns) -> None:
    """IPv4 locked down with iptables, ip6tables left alone (the seed's most common mistake)."""
    for cmd in (["-P", "INPUT", "DROP"], ["-A", "INPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
                ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"], ["-A", "INPUT", "-p", "tcp", "-s", "10.0.0.0/8", "--dport", "22", "-j", "ACCEPT"],
                ["-N", "WEB"], ["-A", "INPUT", "-j", "WEB"], ["-A", "WEB", "-p", "tcp", "-m", "multiport", "--dports", "80,443", "-j", "ACCEPT"]):
        ns.run("iptables", *cmd)


def test_seed_mistake_ipv6_open_ipv4_filtered(ns: Netns, listeners: None) -> None:
    seed_mistake(ns)
    inputs = ns.inputs()
    report = host_report(HostInputs(inputs.iptables, inputs.ip6tables, None, inputs.ss))
    assert by_check(report, "host.fw.ipv6_open_ipv4_filtered") == ["tcp/22", "tcp/5432", "tcp/8080"]
    assert by_check(report, "host.fw.ipv6_default_accept") == ["ipv6 input"]
    assert by_check(report, "host.fw.rh0_not_dropped") == ["ipv6 input"]
    assert by_check(report, "host.listen.ipv4_only") == ["tcp/5432", "udp/631"]
    assert by_check(report, "host.listen.ipv6_only") == ["tcp/8080"]
    assert "host.fw.icmpv6_essential_dropped" not in ids(report)  # IPv6 accepts everything
    assert "host.fw.ipv4_open_ipv6_filtered" not in ids(report)
    assert report["compliance_status"] == "NON_COMPLIANT"
    f = next(x for x in report["findings"] if x["resource_id"] == "tcp/22" and x["check_id"] == "host.fw.ipv6_open_ipv4_filtered")
    assert f["evidence"]["ipv4"] == {"verdict": "drop", "by": "filter INPUT: policy drop"}
    assert f["evidence"]["listening"] == ["*:22"]
    # The same host through nft -j: iptables-nft keeps its rules in nft tables; with iptables-save given they are skipped,
    # alone they are read from nft (the xt 'conntrack' match is listed as unevaluated, not guessed).
    both = host_report(inputs)
    assert [(x["check_id"], x["resource_id"]) for x in both["findings"]] == [(x["check_id"], x["resource_id"]) for x in report["findings"]]


def test_good_inet_ruleset_is_clean(ns: Netns) -> None:
    ns.nft(GOOD_NFT)
    ss = "tcp LISTEN 0 128 *:22 *:*\ntcp LISTEN 0 128 *:443 *:*\nudp UNCONN 0 0 *:53 *:*\n"
    inputs = ns.inputs()
    report = host_report(HostInputs(None, None, inputs.nft_json, ss))
    assert report["findings"] == [], [f["message"] for f in report["findings"]]


NO_RELATED = ("established,related", "established")


@pytest.mark.parametrize(("changes", "expected"), [
    ([("packet-too-big, ", "")], {}),  # conntrack still accepts it as related to a flow
    ([("packet-too-big, ", ""), NO_RELATED], {"host.fw.icmpv6_essential_dropped": 1}),
    ([NO_RELATED], {}),  # the errors are also accepted by type
    ([("rt type 0 drop", "")], {"host.fw.rh0_not_dropped": 1}),
    ([("policy drop;", "policy accept;")], {"host.fw.ipv6_default_accept": 1}),
    ([("nd-neighbor-solicit, ", "")], {"host.fw.icmpv6_essential_dropped": 1}),
    ([("ip6 hoplimit 255", "ip6 hoplimit 64")], {"host.fw.icmpv6_essential_dropped": 3}),
], ids=["ptb-related", "ptb", "no-related", "rh0", "policy", "ns", "hoplimit"])
def test_nft_variants(ns: Netns, changes: list[tuple[str, str]], expected: dict[str, int]) -> None:
    ruleset = GOOD_NFT
    for old, new in changes:
        assert old in ruleset
        ruleset = ruleset.replace(old, new)
    ns.nft(ruleset)
    report = host_report(HostInputs(None, None, ns.run("nft", "-j", "list", "ruleset"), None))
    assert dict(ids(report)) == expected, [f["message"] for f in report["findings"]]


def test_nft_ipv6_only_port_is_caught(ns: Netns) -> None:
    ns.nft(GOOD_NFT.replace("udp dport 53 accept", "udp dport 53 accept\n    meta nfproto ipv6 tcp dport 3306 accept"))
    report = host_report(HostInputs(None, None, ns.run("nft", "-j", "list", "ruleset"), None))
    assert by_check(report, "host.fw.ipv6_open_ipv4_filtered") == ["tcp/3306"]


def test_ip6tables_without_icmpv6_drops_the_essentials(ns: Netns) -> None:
    for cmd in (["-P", "INPUT", "DROP"], ["-A", "INPUT", "-m", "state", "--state", "ESTABLISHED", "-j", "ACCEPT"],
                ["-A", "INPUT", "-p", "tcp", "--dport", "443", "-j", "ACCEPT"]):
        ns.run("ip6tables", *cmd)
        ns.run("iptables", *cmd)
    report = host_report(HostInputs(ns.run("iptables-save"), ns.run("ip6tables-save"), None, None))
    assert ids(report) == {"host.fw.icmpv6_essential_dropped": 9, "host.fw.rh0_not_dropped": 1}
    # ... and the seed's fix (accept ipv6-icmp) plus RH0 drop clears it
    ns.run("ip6tables", "-I", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT")
    ns.run("ip6tables", "-I", "INPUT", "-m", "rt", "--rt-type", "0", "-j", "DROP")
    assert host_report(HostInputs(ns.run("iptables-save"), ns.run("ip6tables-save"), None, None))["findings"] == []


def test_ipv4_only_service_in_the_firewall(ns: Netns) -> None:
    ns.nft(GOOD_NFT.replace("udp dport 53 accept", "udp dport 53 accept\n    ip saddr 0.0.0.0/0 tcp dport 25 accept"))
    report = host_report(HostInputs(None, None, ns.run("nft", "-j", "list", "ruleset"), None))
    assert by_check(report, "host.fw.ipv4_open_ipv6_filtered") == ["tcp/25"]


def test_live_mode_matches_files(ns: Netns, listeners: None, tmp_path: Path) -> None:
    seed_mistake(ns)
    live = host_report(collect_live(ns.name), mode="live")
    for name, text in (("v4", ns.run("iptables-save")), ("v6", ns.run("ip6tables-save")),
                       ("nft.txt", ns.run("nft", "list", "ruleset")), ("ss", ns.run("ss", "-lntuH"))):
        (tmp_path / name).write_text(text)
    files = host_report(read_inputs(tmp_path / "v4", tmp_path / "v6", tmp_path / "nft.txt", tmp_path / "ss"))
    assert [(f["check_id"], f["resource_id"]) for f in live["findings"]] == [(f["check_id"], f["resource_id"]) for f in files["findings"]]
    assert live["findings"]


def test_ss_parsing() -> None:
    got = parse_ss("tcp LISTEN 0 4096 [fe80::1%eth0]:8443 [::]:*\nudp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:*\n"
                   "udp UNCONN 0 0 *:* *:*\n", "ss.txt")
    assert [(x.address, x.port, x.family) for x in got] == [("fe80::1", 8443, 6), ("127.0.0.53", 53, 4)]
    with pytest.raises(HostInputError, match=r"ss.txt line 1: not 'ss -lntuH' output"):
        parse_ss("Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\n", "ss.txt")


def test_bad_inputs_are_named() -> None:
    with pytest.raises(HostInputError, match=r"v6.txt line 1: '-A INPUT -j ACCEPT' outside a \*table"):
        parse_iptables_save("-A INPUT -j ACCEPT\n", 6, "v6.txt")
    with pytest.raises(HostInputError, match=r"v6.txt line 3: rule for undeclared chain NOPE"):
        parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n-A NOPE -j ACCEPT\nCOMMIT\n", 6, "v6.txt")
    with pytest.raises(HostInputError, match=r"nft.json: not 'nft -j list ruleset' output"):
        parse_nft_json('{"nftables": ', "nft.json")
    assert socket.has_ipv6


def test_cli_and_api_return_the_same_report(ns: Netns, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from v6ops.cli.main import app
    from v6ops.settings import Settings

    seed_mistake(ns)
    (tmp_path / "v4").write_text(ns.run("iptables-save"))
    (tmp_path / "v6").write_text(ns.run("ip6tables-save"))
    out = CliRunner().invoke(app, ["audit", "host", "--iptables", str(tmp_path / "v4"), "--ip6tables", str(tmp_path / "v6"), "--json"])
    assert out.exit_code == 0, out.output
    cli = json.loads(out.stdout)
    api = api_client(Settings(data_dir=tmp_path)).post("/api/v1/audit/host", json={
        "iptables_save": (tmp_path / "v4").read_text(), "ip6tables_save": (tmp_path / "v6").read_text()}).json()
    assert [(f["check_id"], f["resource_id"]) for f in cli["findings"]] == [(f["check_id"], f["resource_id"]) for f in api["findings"]]
    live = CliRunner().invoke(app, ["audit", "host", "--live", "--netns", ns.name, "--json"])
    assert live.exit_code == 0 and json.loads(live.stdout)["findings"]
    bad = CliRunner().invoke(app, ["audit", "host", "--ip6tables", str(tmp_path / "nothere")])
    assert bad.exit_code == 2 and "nothere: cannot read" in bad.stderr


PROBE = textwrap.dedent("""
    import json, socket, sys
    out = {}
    for family, addr in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8:ffff::1")):
        for port in json.loads(sys.argv[1]):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(0.7)
            try:
                s.connect((addr, port))
                out[f"{4 if family == socket.AF_INET else 6}/{port}"] = "accept"
            except OSError:
                out[f"{4 if family == socket.AF_INET else 6}/{port}"] = "drop"
            finally:
                s.close()
    print(json.dumps(out))
""")

SERVE = textwrap.dedent("""
    import json, socket, sys
    socks = []
    for port in json.loads(sys.argv[1]):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        s.listen(64)
        socks.append(s)
    print("ready", flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def wire(ns: Netns) -> Iterator[Netns]:
    """A client namespace joined to ``ns`` by a veth pair: 192.0.2.2 / 2001:db8:ffff::2 -> .1 / ::1."""
    client = Netns(f"{ns.name}-c")
    subprocess.run(["ip", "netns", "add", client.name], check=True)
    try:
        ns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", client.name)
        for n, host in ((ns, "1"), (client, "2")):
            n.run("ip", "link", "set", "lo", "up")
            n.run("ip", "addr", "add", f"192.0.2.{host}/24", "dev", "eth0")
            n.run("ip", "addr", "add", f"2001:db8:ffff::{host}/64", "dev", "eth0", "nodad")
            n.run("ip", "link", "set", "eth0", "up")
        yield client
    finally:
        subprocess.run(["ip", "netns", "del", client.name], check=False)


@pytest.mark.parametrize("scenario", ["seed-mistake", "good-inet", "ipv6-only-port", "ipv4-only-port"])
def test_the_kernel_agrees_with_the_verdicts(ns: Netns, wire: Netns, scenario: str) -> None:
    """Connect over each family from a second namespace: what the kernel lets through is what the audit says."""
    from v6ops.addr import Address
    from v6ops.audit.host_rules import Packet, verdict

    ports = [22, 25, 80, 443, 3306, 5432, 8080]
    if scenario == "seed-mistake":
        seed_mistake(ns)
    elif scenario == "good-inet":
        ns.nft(GOOD_NFT)
    elif scenario == "ipv6-only-port":
        ns.nft(GOOD_NFT.replace("udp dport 53 accept", "udp dport 53 accept\n    meta nfproto ipv6 tcp dport 3306 accept"))
    else:
        ns.nft(GOOD_NFT.replace("udp dport 53 accept", "udp dport 53 accept\n    ip saddr 192.0.2.0/24 tcp dport 25 accept"))
    inputs = ns.inputs()
    rulesets = HostInputs(inputs.iptables, inputs.ip6tables, inputs.nft_json, None).rulesets()
    server = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, "-c", SERVE, json.dumps(ports)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        seen = json.loads(wire.run(sys.executable, "-c", PROBE, json.dumps(ports)))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    said = {}
    for family, source in ((4, "192.0.2.2"), (6, "2001:db8:ffff::2")):
        for port in ports:
            v = verdict(rulesets, Packet(family, 6, port, saddr=Address.parse(source)))
            assert not v.unknown, v.unknown
            said[f"{family}/{port}"] = v.action
    assert said == seen
    assert "accept" in seen.values() and (scenario == "good-inet" or "drop" in seen.values())


def test_dropped_neighbour_solicitation_cuts_ipv6_off(ns: Netns, wire: Netns) -> None:
    """What the ICMPv6 finding means: without NS the kernel never answers ND, so every IPv6 connect fails."""
    ns.nft(GOOD_NFT.replace("nd-neighbor-solicit, ", ""))
    report = host_report(HostInputs(None, None, ns.run("nft", "-j", "list", "ruleset"), None))
    assert by_check(report, "host.fw.icmpv6_essential_dropped") == ["icmpv6 nd-neighbor-solicit"]
    server = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, "-c", SERVE, "[443]"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        seen = json.loads(wire.run(sys.executable, "-c", PROBE, "[443]"))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    assert seen == {"4/443": "accept", "6/443": "drop"}
