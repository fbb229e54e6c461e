"""Exact utilization of every prefix, dual-stack adoption, and their Prometheus gauges.

A range counts customer blocks of its customer size (a /64 pool counts /64s, never
/128s); a delegated prefix or a subnet with one address used counts as a whole block.
A container is the address fraction its ranges have handed out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from v6ops.ipam.devices import connectivity_stats
from v6ops.ipam.engine import range_prefix, utcnow
from v6ops.ipam.views import prefix_view
from v6ops.store.models import Allocation, Event, PlanPrefix, Pool, Subscriber, Vrf


def prefix_utilizations(session: Session, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every prefix of the plan; for a tenant only the ranges of its own pools (containers are shared)."""
    rows = list(session.scalars(select(PlanPrefix).order_by(PlanPrefix.vrf_id, PlanPrefix.family, PlanPrefix.network,
                                                            PlanPrefix.length)))
    vrfs = {v.id: v.name for v in session.scalars(select(Vrf))}
    all_pools = list(session.scalars(select(Pool)))
    pools = {p.id: p.name for p in all_pools}
    ranges = [r for r in rows if r.pool_id is not None]
    if tenant is not None:
        own = {p.id for p in all_pools if p.tenant == tenant}
        rows = [r for r in rows if r.pool_id in own]
    out = []
    for row in rows:
        prefix = range_prefix(row)
        if row.pool_id is not None:
            share = Fraction(row.used_units, row.total_units) if row.total_units else Fraction(1)
        else:
            used = sum(
                r.used_units << (prefix.width - (r.customer_length or prefix.width))
                for r in ranges if r.vrf_id == row.vrf_id and prefix.contains(range_prefix(r))
            )
            share = Fraction(used, prefix.num_addresses)
        out.append(prefix_view(row, vrfs[row.vrf_id], pools.get(row.pool_id or -1), float(share * 100)))
    return out


def adoption(session: Session, tenant: str | None = None) -> dict[str, Any]:
    """Dual-stack, IPv4-only and IPv6-only active subscribers (the seed's adoption metrics)."""
    scope = [Subscriber.tenant == tenant] if tenant is not None else []
    per_subscriber = (
        select(
            Allocation.subscriber_id,
            func.max(case((Allocation.family == 4, 1), else_=0)).label("v4"),
            func.max(case((Allocation.family == 6, 1), else_=0)).label("v6"),
        )
        .join(Subscriber, Subscriber.id == Allocation.subscriber_id)
        .where(Allocation.status == "active", Subscriber.status == "active", *scope)
        .group_by(Allocation.subscriber_id)
        .subquery()
    )
    dual, v4, v6 = session.execute(
        select(
            func.coalesce(func.sum(case(((per_subscriber.c.v4 == 1) & (per_subscriber.c.v6 == 1), 1), else_=0)), 0),
            func.coalesce(func.sum(case(((per_subscriber.c.v4 == 1) & (per_subscriber.c.v6 == 0), 1), else_=0)), 0),
            func.coalesce(func.sum(case(((per_subscriber.c.v4 == 0) & (per_subscriber.c.v6 == 1), 1), else_=0)), 0),
        )
    ).one()
    total = dual + v4 + v6
    return {
        "dual_stack_subscribers": int(dual), "ipv4_only_subscribers": int(v4), "ipv6_only_subscribers": int(v6),
        "dual_stack_percentage": round(100.0 * dual / total, 2) if total else 0.0,
        "ipv6_enabled_percentage": round(100.0 * (dual + v6) / total, 2) if total else 0.0,
    }


def provisioning_stats(session: Session, since: datetime) -> dict[str, Any]:
    """Since ``since``: subscribers and devices provisioned, provisionings that failed for lack of
    space (kept as ``provisioning-failed`` events), and IPv6 allocations made."""
    owners = session.execute(
        select(func.count(func.distinct(Allocation.subscriber_id)), func.count(func.distinct(Allocation.device_id)))
        .where(Allocation.created_at >= since)
    ).one()
    failed = session.scalar(select(func.count()).select_from(Event)
                            .where(Event.at >= since, Event.kind == "provisioning-failed")) or 0
    v6 = session.scalar(select(func.count()).select_from(Allocation)
                        .where(Allocation.created_at >= since, Allocation.family == 6)) or 0
    succeeded = int(owners[0]) + int(owners[1])
    attempts = succeeded + int(failed)
    return {"succeeded": succeeded, "failed": int(failed), "attempts": attempts, "ipv6_allocations": int(v6),
            "success_rate": round(100.0 * succeeded / attempts, 2) if attempts else 100.0}


def metrics_registry(session: Session) -> CollectorRegistry:
    """The IPAM gauges, computed from the database at scrape time (right whichever worker answers)."""
    registry = CollectorRegistry()
    util = Gauge("v6ops_ipam_range_utilization_ratio", "Used share of a pool range in customer blocks",
                 ["pool", "range", "family"], registry=registry)
    used = Gauge("v6ops_ipam_range_used_blocks", "Customer blocks in use", ["pool", "range"], registry=registry)
    total = Gauge("v6ops_ipam_range_total_blocks", "Customer blocks in the range", ["pool", "range"], registry=registry)
    threshold = Gauge("v6ops_ipam_pool_threshold_ratio", "Utilization at which the pool alerts", ["pool"],
                      registry=registry)
    for pool in session.scalars(select(Pool)):
        threshold.labels(pool.name).set(pool.threshold_percent / 100)
    for p in prefix_utilizations(session):
        if p["pool"] is not None:
            util.labels(p["pool"], p["prefix"], str(p["family"])).set(p["utilization_percent"] / 100)
            used.labels(p["pool"], p["prefix"]).set(p["used"])
            total.labels(p["pool"], p["prefix"]).set(p["total"])
    subs = Gauge("v6ops_ipam_subscribers", "Active subscribers by IP stack", ["stack"], registry=registry)
    a = adoption(session)
    for stack in ("dual_stack", "ipv4_only", "ipv6_only"):
        subs.labels(stack.replace("_", "-")).set(a[f"{stack}_subscribers"])
    Gauge("v6ops_ipam_dual_stack_ratio", "Share of active subscribers that are dual-stack",
          registry=registry).set(a["dual_stack_percentage"] / 100)
    devices = Gauge("v6ops_ipam_devices", "Active devices", ["region"], registry=registry)
    seen = Gauge("v6ops_ipam_devices_seen_24h", "Devices seen in the last 24 h", ["region"], registry=registry)
    for r in connectivity_stats(session):
        devices.labels(r["region"]).set(r["total_devices"])
        seen.labels(r["region"]).set(r["last_seen_24h"])
    hour = provisioning_stats(session, utcnow() - timedelta(hours=1))
    Gauge("v6ops_ipam_provisioning_attempts_1h", "Subscriber and device provisionings tried in the last hour",
          registry=registry).set(hour["attempts"])
    Gauge("v6ops_ipam_provisioning_failures_1h", "Provisionings that failed for lack of space in the last hour",
          registry=registry).set(hour["failed"])
    Gauge("v6ops_ipam_ipv6_allocations_1h", "IPv6 allocations made in the last hour",
          registry=registry).set(hour["ipv6_allocations"])
    return registry
