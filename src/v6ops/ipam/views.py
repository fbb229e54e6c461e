"""The JSON-ready objects that both ``v6ops ipam ... --json`` and ``/api/v1/ipam`` return."""

from __future__ import annotations

from typing import Any

from v6ops.addr import Address
from v6ops.ipam.engine import range_prefix
from v6ops.ipam.identities import identity_view
from v6ops.ipam.rows import AllocationRow
from v6ops.store.models import Allocation, Device, PlanPrefix, Subscriber
from v6ops.store.types import network_from_key


def prefix_view(row: PlanPrefix, vrf: str, pool: str | None, utilization: float | None) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "vrf": vrf, "prefix": row.cidr, "family": row.family, "role": row.role,
        "parent_id": row.parent_id, "pool": pool, "purpose": row.purpose, "customer_length": row.customer_length,
        "used": row.used_units if row.pool_id else None, "total": row.total_units if row.pool_id else None,
        "utilization_percent": None if utilization is None else round(utilization, 4),
        "description": row.description,
    }


def allocation_view(a: Allocation | AllocationRow, pool: str | None = None) -> dict[str, Any]:
    prefix = range_prefix(a)
    return {
        "id": a.id, "prefix": str(prefix), "address": str(prefix.first) if prefix.length == prefix.width else None,
        "family": a.family, "kind": a.kind, "status": a.status, "pool": pool, "range_id": a.prefix_id,
        "subscriber_id": a.subscriber_id, "device_id": a.device_id, "dns_name": a.dns_name,
        "description": a.description, "created_at": a.created_at.isoformat(),
        "reusable_at": a.reusable_at.isoformat() if a.reusable_at else None,
    }


def subscriber_view(s: Subscriber, allocations: list[Allocation],
                    identities: dict[str, str | None] | None = None) -> dict[str, Any]:
    def first(kind: str, family: int) -> str | None:
        for a in allocations:
            if a.kind == kind and a.family == family and a.status == "active":
                p = range_prefix(a)
                return str(p.first) if p.length == p.width else str(p)
        return None

    return {
        "id": s.id, "name": s.name, "tenant": s.tenant, "service_tier": s.service_tier, "status": s.status,
        "dns_name": s.dns_name,
        "rate_limits": {
            "ipv4": {"download_bps": s.ipv4_download_bps, "upload_bps": s.ipv4_upload_bps},
            "ipv6": {"download_bps": s.ipv6_download_bps, "upload_bps": s.ipv6_upload_bps},
        },
        "ipv4": first("address", 4), "ipv6_address": first("address", 6),
        "ipv6_prefix": first("delegated-prefix", 6), "created_at": s.created_at.isoformat(),
        "identities": identities if identities is not None else identity_view([]),
    }


def device_view(d: Device) -> dict[str, Any]:
    return {
        "id": d.id, "name": d.name, "region": d.region, "dns_name": d.dns_name, "status": d.status,
        "ipv4": str(Address(4, network_from_key(d.ipv4))) if d.ipv4 else None,
        "ipv6": str(Address(6, network_from_key(d.ipv6))) if d.ipv6 else None,
        "last_seen": d.last_seen.isoformat() if d.last_seen else None, "created_at": d.created_at.isoformat(),
    }
