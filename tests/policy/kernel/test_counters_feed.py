"""A host's kernel counters reach the service's metrics: `v6ops policy counters` reads `nft -j list counters`
in the VM's namespace and posts it; the spoofed packets the kernel dropped appear in /metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api_client import bearer, make_token
from tests.policy.kernel.netns import RECEIVER_ADDR, netns_pair, run
from tests.policy.prometheus import serve_app
from tests.policy.vm_fixtures import web_config
from v6ops.api.app import create_app
from v6ops.policy.normalized import GuardPolicy, QueueBackend
from v6ops.policy.vms import compile_config
from v6ops.settings import Settings
from v6ops.store.db import open_store

SPOOFED = "2a00:1450::99"  # global, not a bogon, outside the VM's allowed ingress prefix 2001:db8:1::/64


@pytest.mark.requires("netns", "nft")
def test_counters_from_the_kernel_reach_the_metrics(tmp_path: Path) -> None:
    api = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    token = make_token(api.state.settings.resolved_database_url(), "operator")
    auth = bearer(token)
    with netns_pair("cnt") as pair, serve_app(api) as base:
        cfg = web_config(source_validation={"strict_ingress": True, "allowed_ingress_prefixes": ["2001:db8:1::/64"]})
        cfg["addresses"], cfg["interface"] = [f"{RECEIVER_ADDR}/64"], {"name": pair.receiver_if}
        httpx.post(f"{base}/api/v1/vms", headers=auth, json={"id": "vm-c", "customer_id": "acme",
                                                             "config": {"ipv6_config": cfg}}).raise_for_status()
        # the host loads the VM's table (xt queue backend: this kernel may lack nft_queue)
        table = compile_config("vm-c", cfg, guard=GuardPolicy(backend=QueueBackend.XT)).table
        run("nft", "-f", "-", ns=pair.receiver, input_text=table)
        run("ip", "-6", "addr", "add", f"{SPOOFED}/128", "dev", pair.sender_if, "nodad", ns=pair.sender)
        send = ("import socket,time\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n"
                f"s.bind(('{SPOOFED}',0))\nfor _ in range(20):\n s.sendto(b'x',('{RECEIVER_ADDR}',9)); time.sleep(0.01)\n")
        # resolve the neighbour from the sender's own address first: a Neighbor Solicitation from the
        # spoofed source would itself be dropped, and the UDP packets would never leave
        legit = send.replace(SPOOFED, "2001:db8:1::1").replace("range(20)", "range(3)")
        run(sys.executable, "-c", legit, ns=pair.sender)
        time.sleep(0.3)
        run(sys.executable, "-c", send, ns=pair.sender)
        time.sleep(0.3)
        env = {**os.environ, "V6OPS_TOKEN": token}
        unauthenticated = subprocess.run([sys.executable, "-m", "v6ops.cli", "policy", "counters", "vm-c", "--api", base,
                                          "--netns", pair.receiver], capture_output=True, text=True, timeout=60)
        assert unauthenticated.returncode == 2 and "HTTP 401" in unauthenticated.stderr
        out = subprocess.run([sys.executable, "-m", "v6ops.cli", "policy", "counters", "vm-c", "--api", base,
                              "--netns", pair.receiver, "--json"], capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0, out.stderr
        rules = json.loads(out.stdout)["rules"]
        assert rules.get("bcp38-spoofed-source") == 20, {k: v for k, v in rules.items() if v}
        metrics = httpx.get(f"{base}/metrics", headers=auth).text
        assert ('metald_ipv6_source_validation_violations_total{customer_id="acme",source_ip="",'
                'violation_type="spoofing",vm_id="vm-c"} 20.0') in metrics
        bad = subprocess.run([sys.executable, "-m", "v6ops.cli", "policy", "counters", "nope", "--api", base,
                              "--netns", pair.receiver], capture_output=True, text=True, timeout=60, env=env)
        assert bad.returncode == 2 and "HTTP 404" in bad.stderr
    open_store.cache_clear()
