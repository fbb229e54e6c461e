"""Rollout on a fleet of VMs in network namespaces: the kernel's named counters decide.

Four VMs, each a receiver namespace with its compiled table loaded by ``nft -f``; the rollout
enables source validation in batches of two. The second batch's VMs receive traffic from a private
(ULA) source, which the new policy drops: the kernel counts the drops, the counters feed the metrics,
the rollout sees the event rate pass its threshold, rolls that batch back (the old tables are loaded
again) and stops. The first batch keeps the new policy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.policy.kernel.netns import RECEIVER_ADDR, netns_pair, run
from tests.policy.vm_fixtures import web_config
from v6ops.events.audit import AuditLog, read_records
from v6ops.policy.metrics import SecurityMetrics
from v6ops.policy.normalized import GuardPolicy, QueueBackend
from v6ops.policy.rollout import ExpositionReader, Rollout, plan
from v6ops.policy.vms import VmSecurityService
from v6ops.store.db import Store

ULA_SOURCE = "fd00:99::1"
SENDER = """
import socket, sys, time
src, dst, pps = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((src, 0))
while True:
    s.sendto(b"probe", (dst, 9))
    time.sleep(1 / pps)
"""


def vm_config(interface: str) -> dict:
    cfg = web_config(profile="SECURITY_PROFILE_CUSTOM",
                     source_validation={"strict_ingress": False, "block_private_addresses": False,
                                        "allowed_ingress_prefixes": ["2001:db8:1::/64"]})
    cfg["addresses"] = [f"{RECEIVER_ADDR}/64"]
    cfg["interface"] = {"name": interface}
    return cfg


def counters(ns: str) -> dict:
    return json.loads(run("nft", "-j", "list", "counters", ns=ns))


def private_rule_loaded(ns: str) -> bool:
    return "private6" in run("nft", "list", "ruleset", ns=ns)


@pytest.mark.requires("netns", "nft")
@pytest.mark.slow
def test_rollout_stops_at_the_regressing_batch_and_rolls_it_back(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'fleet.db'}")
    store.migrate()
    audit = AuditLog(tmp_path / "audit.jsonl")
    # this kernel may lack nft_queue: queue through ip6tables (xt), as the kernel agreement test does
    service = VmSecurityService(store, audit, guard=GuardPolicy(backend=QueueBackend.XT))
    metrics = SecurityMetrics()
    senders: list[subprocess.Popen[bytes]] = []
    with ExitStack() as stack:
        pairs = {f"vm-{n}": stack.enter_context(netns_pair(f"ro{n}")) for n in range(4)}

        def load(vm_id: str, table: str) -> None:
            run("nft", "-f", "-", ns=pairs[vm_id].receiver, input_text=table)

        for vm_id, pair in pairs.items():
            service.create(vm_id, "acme", vm_config(pair.receiver_if), tier="premium")
            load(vm_id, service.compiled_table(vm_id))
        try:
            for vm_id, pair in pairs.items():
                # every VM gets ordinary traffic from the allowed prefix; vm-2 also from a ULA source
                sources = ["2001:db8:1::1"] + ([ULA_SOURCE] if vm_id == "vm-2" else [])
                if vm_id == "vm-2":
                    run("ip", "-6", "addr", "add", f"{ULA_SOURCE}/128", "dev", pair.sender_if, "nodad", ns=pair.sender)
                for src in sources:
                    senders.append(subprocess.Popen(["ip", "netns", "exec", pair.sender, sys.executable, "-c", SENDER,
                                                     src, RECEIVER_ADDR, "50"]))
            time.sleep(1.0)

            def refresh(vm_ids: list[str]) -> None:
                for vm in vm_ids:
                    metrics.observe_nft_counters(vm, "acme", counters(pairs[vm].receiver))

            reader = ExpositionReader(lambda: metrics.exposition().decode(), refresh=refresh)
            state = plan(service, ["source_validation"], "premium", 2, 2.0, max_event_rate=5.0, max_latency_s=0.1)
            result = Rollout(service, tmp_path / "state.json", reader, audit, apply=load).run(state)
        finally:
            for proc in senders:
                proc.terminate()
                proc.wait(timeout=10)

        assert result.status == "stopped" and result.stopped_at == 1, result.model_dump()
        first, second = result.batches
        assert first.vm_ids == ["vm-0", "vm-1"] and first.status == "done"
        assert first.measured is not None and first.measured.event_rate <= 5.0
        assert second.status == "rolled_back" and second.measured is not None and second.measured.event_rate > 5.0
        for vm in ("vm-0", "vm-1"):
            assert service.get(vm).ipv6_config["security"]["source_validation"]["block_private_addresses"] is True
            assert private_rule_loaded(pairs[vm].receiver)  # the kernel keeps the new table
        for vm in ("vm-2", "vm-3"):
            assert service.get(vm).ipv6_config["security"]["source_validation"]["block_private_addresses"] is False
            assert not private_rule_loaded(pairs[vm].receiver)  # the old table is back in the kernel
    audit.close()
    steps = [(r["step"], r["batch"]) for r in read_records(tmp_path / "audit.jsonl") if r["kind"] == "rollout"]
    assert steps == [("apply", 0), ("done", 0), ("apply", 1), ("rolled_back", 1)]
    store.close()
