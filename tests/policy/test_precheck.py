"""precheck: real probes on this host judged against independent attempts; missing tools named with a fix."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from tests.policy.kernel.netns import run, throwaway_netns
from v6ops.cli.main import app as cli
from v6ops.policy.precheck import precheck

runner = CliRunner()
QUEUE_TABLE = "table inet v6pct { chain c { type filter hook input priority 0; policy accept; queue num 0 bypass; } }\n"


@pytest.mark.requires("netns", "nft")
def test_probes_agree_with_the_kernel(tmp_path):
    report = precheck()
    items = {i.name: i for i in report.items}
    assert items["IPv6 enabled"].ok and items["nftables"].ok and items["network namespaces"].ok
    assert items["nft: named counters"].ok and items["nft: IPv6 extension header matching"].ok
    # NFQUEUE in nft form: whatever this kernel says when a table with a queue statement is loaded for real
    with throwaway_netns("pcq") as ns:
        loaded = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=QUEUE_TABLE, text=True,
                                capture_output=True).returncode == 0
    assert items["nft: NFQUEUE (nft queue statement)"].ok == loaded
    if not loaded:
        assert "xt" in items["nft: NFQUEUE (nft queue statement)"].fix and not report.ok
    # 802.1Q: can a VLAN really be made here?
    with throwaway_netns("pcv") as ns:
        run("ip", "link", "add", "pva", "type", "veth", "peer", "name", "pvb", ns=ns)
        vlan = subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "add", "link", "pva", "name", "pva.7", "type",
                               "vlan", "id", "7"], capture_output=True).returncode == 0
    assert items["802.1Q VLANs"].ok == vlan
    assert not any(n.startswith(f"v6pc-{os.getpid()}") for n in run("ip", "netns", "list").split())  # cleaned up


def test_missing_nft_is_named_with_what_to_install():
    def runner_without_nft(argv, stdin):
        if argv[0] == "nft" or (argv[:2] == ["ip", "netns"] and "nft" in argv):
            return 127, "nft: not found"
        if argv[:3] == ["ip", "netns", "add"]:
            return 1, "mkdir /run/netns failed: Permission denied"
        return 0, ""

    report = precheck(runner=runner_without_nft)
    items = {i.name: i for i in report.items}
    assert not report.ok
    assert items["nftables"].fix.startswith("apt-get install nftables")
    assert "nft: named counters" not in items  # nothing to probe without nft
    assert not items["network namespaces"].ok and "Permission denied" in items["network namespaces"].evidence


@pytest.mark.requires("netns", "nft")
def test_cli_checks_what_the_policy_uses(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("ra_guard: {enabled: true, max_ra_rate: 10}\nsource_validation: {strict_ingress: true, "
                      "allowed_ingress_prefixes: ['2001:db8::/32']}\n")
    out = runner.invoke(cli, ["policy", "precheck", "--policy", str(policy), "--queue-backend", "xt", "--json"])
    report = json.loads(out.stdout)
    items = {i["name"]: i for i in report["items"]}
    assert items["nft: interval sets"]["needed"] is True  # the ingress prefixes are an interval set
    assert items["nft: NFQUEUE (nft queue statement)"]["needed"] is False  # xt backend chosen
    assert items["NFQUEUE (xt form, ip6tables -j NFQUEUE)"]["needed"] is True
    assert out.exit_code == (0 if report["ok"] else 1)
