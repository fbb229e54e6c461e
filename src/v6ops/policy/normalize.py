"""Schema (validated ``PolicyTarget``) -> ``NormalizedPolicy``: every interpretation decided here, once.

Decisions the seed leaves open, and what we chose:

* ``allowed_types`` mixes extension headers with upper layers (the seed lists
  ``[0, 6, 17, 44]``); only IANA extension-header numbers count, upper layers are
  never filtered by this list.
* Fragments are blocked when ``fragment_policy`` is BLOCK, when the mode is
  BLOCK_ALL, or when SELECTIVE omits 44; UNSPECIFIED means REASSEMBLE.
* Bogon sources are dropped whenever ``strict_ingress`` or ``block_private_addresses``
  is on; the operator's ``allowed_ingress_prefixes`` win over the registry (the seed's
  own examples allow documentation prefixes).
* ``reverse_path_filtering`` is strict uRPF with ``strict_ingress``, loose otherwise (BCP 84).
* ``inter_tenant_policy`` SELECTIVE has no selectors in the schema, so nothing is
  selected: it isolates like BLOCK_ALL.
* nftables only has token buckets; LEAKY_BUCKET and SLIDING_WINDOW compile to the same
  bucket (rate = the limit, depth = ``burst_packets``) and the evaluator models that.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from v6ops.addr import Address, Prefix
from v6ops.policy.normalized import (
    EXTENSION_HEADERS,
    FRAGMENT,
    ND_OPT_MTU,
    ND_OPT_PREFIX_INFO,
    ND_OPT_RDNSS,
    ND_OPT_ROUTE_INFO,
    ExtensionHeaderPolicy,
    FragmentHandling,
    GuardPolicy,
    ICMPv6Policy,
    InterTenant,
    Isolation,
    NormalizedPolicy,
    RAPolicy,
    RateLimits,
    ReversePath,
    Service,
    SourcePolicy,
)
from v6ops.policy.schema import (
    ExtensionHeaderMode,
    FragmentPolicy,
    InterTenantPolicy,
    PolicyDocument,
    PolicyTarget,
    SecurityProfile,
)

RA_BURST_MAX = 5


@functools.lru_cache(maxsize=65536)
def _prefix(text: str) -> Prefix:
    return Prefix.parse(text, strict=False)


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> Address:
    return Address.parse(text)


def _prefixes(texts: Iterable[str]) -> tuple[Prefix, ...]:
    return tuple(_prefix(t) for t in texts)


def _interface_prefixes(addresses: Iterable[str]) -> tuple[Prefix, ...]:
    """``2001:db8::10/64`` -> the on-link prefix the host routes to the VM."""
    out = []
    for text in addresses:
        prefix = Prefix.parse(text if "/" in text else f"{text}/128", strict=False)
        out.append(prefix)
    return tuple(out)


def normalize_target(
    target: PolicyTarget,
    *,
    services: tuple[Service, ...] | None = None,
    guard: GuardPolicy | None = None,
    other_tenant_prefixes: tuple[Prefix, ...] = (),
) -> NormalizedPolicy:
    sec = target.security
    ra_cfg = sec.ra_guard
    block = ra_cfg.block_config
    blocked = {opt for flag, opt in ((block.block_prefix_info, ND_OPT_PREFIX_INFO), (block.block_mtu_options, ND_OPT_MTU),
                                     (block.block_route_info, ND_OPT_ROUTE_INFO), (block.block_rdnss, ND_OPT_RDNSS))
               if flag}
    ra = RAPolicy(
        enabled=ra_cfg.enabled,
        block_all=ra_cfg.block_all_ra,
        allowed_routers=tuple(_address(a) for a in ra_cfg.allowed_routers),
        max_per_minute=ra_cfg.max_ra_rate,
        burst=max(1, min(ra_cfg.max_ra_rate, RA_BURST_MAX)),
        blocked_options=frozenset(blocked),
    )
    sv = sec.source_validation
    ingress = _prefixes(sv.allowed_ingress_prefixes)
    rpf = ReversePath.OFF
    if sv.reverse_path_filtering:
        rpf = ReversePath.STRICT if sv.strict_ingress else ReversePath.LOOSE
    source = SourcePolicy(
        strict_ingress=sv.strict_ingress,
        strict_egress=sv.strict_egress,
        ingress_prefixes=ingress,
        egress_prefixes=_prefixes(sv.allowed_egress_prefixes),
        block_private=sv.block_private_addresses,
        block_bogons=sv.strict_ingress or sv.block_private_addresses,
        reverse_path=rpf,
        routed_prefixes=ingress + _interface_prefixes(target.addresses),
    )
    eh = sec.extension_headers
    if eh.mode is ExtensionHeaderMode.BLOCK_ALL:
        allowed: frozenset[int] = frozenset()
    elif eh.mode is ExtensionHeaderMode.SELECTIVE:
        allowed = frozenset(eh.allowed_types) & EXTENSION_HEADERS
    else:
        allowed = EXTENSION_HEADERS
    if eh.fragment_policy is FragmentPolicy.BLOCK or FRAGMENT not in allowed:
        fragments = FragmentHandling.BLOCK
    elif eh.fragment_policy is FragmentPolicy.ALLOW:
        fragments = FragmentHandling.ALLOW
    else:
        fragments = FragmentHandling.REASSEMBLE
    exthdr = ExtensionHeaderPolicy(allowed=allowed, max_chain_length=eh.max_chain_length, fragments=fragments)
    rl = sec.rate_limits
    burst = rl.burst_config
    pps_burst = burst.burst_packets or max(5, rl.max_pps_per_vm // 10)
    bytes_burst = (rl.max_bandwidth_per_vm * burst.burst_duration_ms // 1000 if burst.burst_duration_ms
                   else rl.max_bandwidth_per_vm // 10)
    rates = RateLimits(
        pps=rl.max_pps_per_vm,
        pps_burst=pps_burst,
        bytes_per_second=rl.max_bandwidth_per_vm,
        bytes_burst=bytes_burst,
        connections=rl.max_connections_per_vm,
        method=rl.method.value.lower(),
    )
    iso = sec.isolation
    inter = {InterTenantPolicy.ALLOW_ALL: InterTenant.ALLOW_ALL, InterTenantPolicy.SELECTIVE: InterTenant.SELECTIVE,
             InterTenantPolicy.BLOCK_ALL: InterTenant.BLOCK_ALL}.get(iso.inter_tenant_policy, InterTenant.ALLOW_ALL)
    if inter is InterTenant.SELECTIVE:
        inter = InterTenant.BLOCK_ALL
    isolation = Isolation(
        tenant=target.name, vlan=iso.customer_vlan, additional_vlans=tuple(iso.additional_vlans),
        namespace=iso.network_namespace, bridge=iso.bridge_interface, inter_tenant=inter,
        other_tenant_prefixes=other_tenant_prefixes,
    )
    return NormalizedPolicy(
        name=target.name,
        ra=ra,
        source=source,
        exthdr=exthdr,
        icmpv6=ICMPv6Policy(strict=sec.profile is not SecurityProfile.LOW),
        rates=rates,
        isolation=isolation,
        guard=guard or GuardPolicy(),
        services=services,
        interface=target.interface.name if target.interface else "",
        counters=True,
    )


def normalize_document(
    document: PolicyDocument,
    *,
    services: tuple[Service, ...] | None = None,
    guard: GuardPolicy | None = None,
) -> list[NormalizedPolicy]:
    """Every enabled target; each tenant's isolation set is the other tenants' ingress prefixes."""
    targets = [t for t in document.targets if t.enabled]
    own = {t.name: _prefixes(t.security.source_validation.allowed_ingress_prefixes) for t in targets}
    out = []
    for t in targets:
        others = tuple(p for name, prefixes in own.items() if name != t.name for p in prefixes
                       if not any(p.overlaps(mine) for mine in own[t.name]))
        out.append(normalize_target(t, services=services, guard=guard, other_tenant_prefixes=others))
    return out
