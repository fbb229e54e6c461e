"""``v6ops policy host-plan --apply`` builds the namespace, bridge and routes; applying twice is harmless.

It runs inside a throwaway namespace so the host is untouched; the policy's own namespace name
carries our pid and is deleted afterwards. (The CI kernel has no 802.1Q or bridge VLAN filtering,
so the VLAN steps are checked as text in test_compile_nft.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.policy.kernel.netns import run, throwaway_netns


@pytest.mark.requires("netns")
def test_apply_is_idempotent(tmp_path: Path) -> None:
    tenant_ns = f"v6t-{os.getpid()}"
    policy = tmp_path / "p.yaml"
    policy.write_text(f"""\
profile: medium
source_validation:
  allowed_ingress_prefixes: ["2001:db8:77::/48"]
isolation:
  network_namespace: {tenant_ns}
  bridge_interface: br-t77
""")
    cli = [sys.executable, "-m", "v6ops.cli", "policy", "host-plan", "--policy", str(policy), "--apply", "--json"]
    try:
        with throwaway_netns("plan") as ns:
            for _ in range(2):
                done = subprocess.run(["ip", "netns", "exec", ns, *cli], capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
            steps = json.loads(done.stdout)
            assert any(s["command"] == "ip link add br-t77 type bridge" for s in steps)
            assert json.loads(run("ip", "-j", "link", "show", "br-t77", ns=ns))[0]["ifname"] == "br-t77"
            assert "2001:db8:77::/48 dev br-t77" in run("ip", "-6", "route", "show", ns=ns)
        assert tenant_ns in run("ip", "netns", "list")
    finally:
        subprocess.run(["ip", "netns", "del", tenant_ns], capture_output=True)
