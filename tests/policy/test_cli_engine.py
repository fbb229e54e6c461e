"""The engine's CLI commands print tables by default and the same objects with --json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap
from typer.testing import CliRunner

from v6ops.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
runner = CliRunner()
ENV = {"SIEM_AUTH_TOKEN": "t"}


def test_host_plan_table_and_json() -> None:
    args = ["policy", "host-plan", "--policy", str(EXAMPLES / "ipv6-multi-tenant.yaml")]
    table = runner.invoke(app, args, env=ENV)
    assert table.exit_code == 0, table.output
    # Off a terminal each step is one whole line: target, why, the full command.
    lines = table.stdout.splitlines()
    assert lines[:2] == ["# host plan", "target        step                                        command"]
    assert re.fullmatch(r"customer-002 +tenant bridge with VLAN filtering \(802\.1Q\) +"
                        r"ip link add br-cust-002 type bridge vlan_filtering 1", lines[7])
    data = json.loads(runner.invoke(app, [*args, "--json"], env=ENV).output)
    assert {"target", "why", "command", "check"} <= set(data[0])
    assert any(step["command"] == "ip netns add customer-002" for step in data)


def test_compile_iptables_and_evaluate_table(tmp_path: Path) -> None:
    policy = EXAMPLES / "ipv6-production.yaml"
    out = tmp_path / "rules.v6"
    done = runner.invoke(app, ["policy", "compile", "--policy", str(policy), "--format", "iptables", "-o", str(out)],
                         env=ENV)
    assert done.exit_code == 0, done.output
    assert "*filter" in out.read_text() and "wrote iptables" in done.output
    capture = tmp_path / "c.pcap"
    wrpcap(str(capture), [Ether() / IPv6(src="2001:db8:1000::5", dst="2001:db8:1000::6") / UDP(dport=53),
                          Ether() / IPv6(src="2a00:1450::1", dst="2001:db8:1000::6") / UDP(dport=53)])
    table = runner.invoke(app, ["policy", "evaluate", "--policy", str(policy), str(capture)], env=ENV)
    assert table.exit_code == 0, table.output
    assert "bcp38-spoofed-source" in table.output
    data = json.loads(runner.invoke(app, ["policy", "evaluate", "--policy", str(policy), str(capture), "--json"],
                                    env=ENV).output)
    assert [p["verdict"] for p in data["packets"]] == ["accept", "drop"]
    event = data["events"][0]
    assert (event["event_type"], event["severity"], event["source_ip"]) == ("source_validation_failed", "error",
                                                                           "2a00:1450::1")
    lines = tmp_path / "events.jsonl"
    done = runner.invoke(app, ["policy", "evaluate", "--policy", str(policy), str(capture), "--events", str(lines),
                               "--json"], env=ENV)
    assert json.loads(done.output)["summary"]["events_written"] == 1
    assert [json.loads(x) for x in lines.read_text().splitlines()] == data["events"]  # same ids on a replay


def test_evaluate_needs_one_target_for_multi_tenant_files(tmp_path: Path) -> None:
    capture = tmp_path / "c.pcap"
    wrpcap(str(capture), [Ether() / IPv6() / UDP()])
    done = runner.invoke(app, ["policy", "evaluate", "--policy", str(EXAMPLES / "ipv6-multi-tenant.yaml"),
                               str(capture)], env=ENV)
    assert done.exit_code == 2 and "--target" in done.output
