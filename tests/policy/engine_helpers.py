"""Policies and helpers shared by the compiler/evaluator tests."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import replace
from typing import Any

from scapy.packet import Packet

from v6ops.addr import Address, Prefix
from v6ops.policy.evaluator import Evaluator
from v6ops.policy.normalized import (
    ExtensionHeaderPolicy,
    GuardPolicy,
    NormalizedPolicy,
    QueueBackend,
    RAPolicy,
    RateLimits,
    ReversePath,
    Service,
    SourcePolicy,
)


def strict_policy(**changes: Any) -> NormalizedPolicy:
    """The kernel test's policy, built directly (no schema), for focused tests."""
    base = NormalizedPolicy(
        name="strict",
        ra=RAPolicy(allowed_routers=(Address.parse("fe80::1"),), max_per_minute=600, burst=5,
                    blocked_options=frozenset({3, 5, 24, 25})),
        source=SourcePolicy(strict_ingress=True, ingress_prefixes=(Prefix.parse("2001:db8:1::/64"),
                                                                   Prefix.parse("2001:db8:1000::/48")),
                            block_private=True, block_bogons=True, reverse_path=ReversePath.STRICT,
                            routed_prefixes=(Prefix.parse("2001:db8:1::/64"), Prefix.parse("2001:db8:1000::/48"))),
        exthdr=ExtensionHeaderPolicy(allowed=frozenset({0, 43, 44, 60}), max_chain_length=3),
        rates=RateLimits(pps=100, pps_burst=20, bytes_per_second=10_000_000, bytes_burst=1_000_000,
                         connections=1000),
        services=(Service(6, (443,)), Service(17, (53,))),
        guard=GuardPolicy(queue_num=7, backend=QueueBackend.XT),
    )
    return replace(base, **changes)


def decide(packets: list[Packet] | Packet, policy: NormalizedPolicy | None = None,
           gap_ns: int = 50_000_000) -> list[tuple[str, str]]:
    """(verdict, rule) for each packet, fed as if captured ``gap_ns`` apart."""
    evaluator = Evaluator(policy or strict_policy())
    items = packets if isinstance(packets, list) else [packets]
    out = []
    for i, pkt in enumerate(items):
        v = evaluator.evaluate(bytes(pkt), 1_000_000_000 + i * gap_ns, i)
        out.append((v.verdict, v.rule))
    return out


@functools.cache
def nft_queue_supported() -> bool:
    """Kernels built without CONFIG_NFT_QUEUE reject ``queue``; the tests then compile for the xt backend."""
    probe = "table inet v6ops_probe { chain c { type filter hook input priority 0; queue num 9 bypass } }\n"
    from tests.policy.kernel.netns import run, throwaway_netns

    with throwaway_netns("probe") as ns:
        try:
            run("nft", "-c", "-f", "-", ns=ns, input_text=probe)
        except RuntimeError:
            return False
    return True


def checkable(policy: NormalizedPolicy) -> NormalizedPolicy:
    """The policy with the queue backend this kernel can check."""
    if policy.guard.backend is QueueBackend.NFT and not nft_queue_supported():
        return replace(policy, guard=replace(policy.guard, backend=QueueBackend.XT))
    return policy


def nft_available() -> bool:
    return subprocess.run(["which", "nft"], capture_output=True).returncode == 0
