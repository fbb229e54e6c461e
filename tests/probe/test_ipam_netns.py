"""``v6ops probe --from-ipam``: every active subscriber's addresses, pinged per family as in the seed's
``check_subscriber_connectivity``, in namespaces where the subscribers' addresses live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.probe.netns import lab, sh
from tests.probe.servers import ROOT
from v6ops.ipam import service
from v6ops.ipam.plan import load_plan
from v6ops.ipam.subscribers import SubscriberSpec
from v6ops.store.db import open_store

pytestmark = [pytest.mark.requires("netns"), pytest.mark.slow]
PLAN = ROOT / "docs" / "ipam-plan.yaml"


def test_from_ipam_probes_each_subscriber_per_family(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'v6ops.db'}")
    try:
        service.plan_apply(store, load_plan(PLAN))
        ok = service.add_subscriber(store, SubscriberSpec(name="sub-ok", pool="city-1-residential"))
        down = service.add_subscriber(store, SubscriberSpec(name="sub-v6down", pool="city-1-residential"))
        service.add_subscriber(store, SubscriberSpec(name="sub-gone", pool="city-1-residential", status="suspended"))
    finally:
        open_store.cache_clear()
        store.close()
    with lab("ipam") as topo:
        client, cpe = topo.ns("c"), topo.ns("cpe")
        # The CPE side answers for sub-ok on both families and for sub-v6down on IPv4 only.
        topo.link(client, cpe, ["100.64.255.254/16", "2001:db8:ff01:1::ffff/64"],
                  [f"{ok['ipv4']}/16", f"{ok['ipv6_address']}/64", f"{down['ipv4']}/16"])
        env = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path), "V6OPS_DATABASE_URL": ""}
        cmd = ["ip", "netns", "exec", client, sys.executable, "-m", "v6ops.cli", "probe", "--from-ipam", "--icmp-only",
               "--timeout", "1", "--json"]
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert sh("ip", "netns", "list").returncode == 0
    assert out.returncode == 0, out.stderr
    results = {r["target"]: r for r in json.loads(out.stdout)["results"]}
    assert set(results) == {"subscriber/sub-ok", "subscriber/sub-v6down"}  # the suspended one is skipped
    assert results["subscriber/sub-ok"]["verdict"] == "dual-stack ok"
    assert results["subscriber/sub-v6down"]["verdict"] == "IPv6 broken"
    rows = {r["address"]: r for r in results["subscriber/sub-v6down"]["addresses"]}
    assert rows[down["ipv6_address"]]["icmp_error"] == "no reply in 1 s" and rows[down["ipv4"]]["icmp_rtt_ms"] is not None
    assert all(r["tcp_connect_ms"] is None for r in rows.values())  # --icmp-only: no TCP
