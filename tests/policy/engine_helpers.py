"""Policies and helpers shared by the compiler/evaluator tests."""

from __future__ import annotations

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


def with_xt_guard(policy: NormalizedPolicy) -> NormalizedPolicy:
    """The policy with the xt queue backend, whose table ``nft -c`` accepts on any kernel.

    The native ``queue`` form needs CONFIG_NFT_QUEUE; its tests say so with ``requires("nft-queue")``.
    """
    return replace(policy, guard=replace(policy.guard, backend=QueueBackend.XT))
