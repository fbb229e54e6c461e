"""Dual-stack provisioning: IPv4, IPv6 address and delegated prefix under one DNS name, in one transaction."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from v6ops.addr import Prefix
from v6ops.ipam.engine import (
    RangeAllocator,
    allocate_each,
    forget_locked_pool,
    pipelinable,
    pool_with_ranges,
    range_prefix,
    record_event,
    utcnow,
)
from v6ops.ipam.errors import IpamError, NotFoundError, PoolExhaustedError
from v6ops.ipam.rows import AllocationRow, PoolRow, RangeRow
from v6ops.store.db import Steps, pipelined, run_steps
from v6ops.store.models import Allocation, Device, Subscriber
from v6ops.store.types import network_key

KIND_BY_PURPOSE = {"ipv4": "address", "ipv6-address": "address", "ipv6-delegation": "delegated-prefix"}


def allocate_dual_stack(
    session: Session, pool_name: str, *, subscriber: Subscriber | None = None, device: Device | None = None,
    dns_name: str | None = None,
) -> dict[str, Any]:
    """Allocate what the pool's family policy asks for, or raise and leave the database unchanged.

    ``prefer-dual-stack`` falls back to IPv4 only when the IPv6 ranges are exhausted and
    records a warning event; every other shortage raises PoolExhaustedError.
    """
    return run_steps(dual_stack_steps(session, pool_name, subscriber=subscriber, device=device, dns_name=dns_name))


def dual_stack_steps(
    session: Session, pool_name: str, *, subscriber: Subscriber | None = None, device: Device | None = None,
    dns_name: str | None = None,
) -> Steps[dict[str, Any]]:
    """``allocate_dual_stack`` in steps (``allocate_each``'s), for a group commit's batch."""
    if (subscriber is None) == (device is None):
        raise IpamError("allocate_dual_stack needs exactly one of a subscriber or a device")
    pool, ranges = pool_with_ranges(session, pool_name, lock=True)
    subject = subscriber.name if subscriber else device.name if device else ""
    dns_name = dns_name or (subscriber.dns_name if subscriber else device.dns_name if device else None)
    owner: dict[str, object] = {"subscriber_id": subscriber.id if subscriber else None,
                                "device_id": device.id if device else None, "dns_name": dns_name}
    now = utcnow()
    policy = pool.family_policy
    got: dict[str, AllocationRow] = {}
    warnings: list[str] = []
    purposes = ([] if policy == "ipv6-only" else ["ipv4"]) + \
        ([] if policy == "ipv4-only" else [p for p in ("ipv6-delegation", "ipv6-address") if p in ranges])
    with pipelined(session) if pipelinable(pool, ranges, now) else nullcontext():
        if policy == "prefer-dual-stack":  # never in a pipeline (``pipelinable``): no steps to share
            got.update(run_steps(_allocate(session, pool, ranges, purposes[:1], now, owner)))
            savepoint = session.begin_nested()
            try:
                got.update(run_steps(_allocate(session, pool, ranges, purposes[1:], now, owner)))
                savepoint.commit()
            except PoolExhaustedError as exc:
                savepoint.rollback()
                forget_locked_pool(session, pool.name)
                warnings.append(f"IPv6 unavailable, provisioned IPv4 only: {exc}")
                record_event(session, "ipv6-fallback", "warning", f"{subject}: {warnings[-1]}", pool, subject)
        else:
            got.update((yield from _allocate(session, pool, ranges, purposes, now, owner)))
    if device is not None:
        if "ipv4" in got:
            device.ipv4 = got["ipv4"].network
        if "ipv6-address" in got:
            device.ipv6 = got["ipv6-address"].network
    return {
        "pool": pool.name, "family_policy": policy, "subscriber": subscriber.name if subscriber else None,
        "device": device.name if device else None, "dns_name": dns_name,
        "ipv4": _text(got.get("ipv4")), "ipv6_address": _text(got.get("ipv6-address")),
        "ipv6_prefix": _text(got.get("ipv6-delegation")),
        "allocation_ids": sorted(a.id for a in got.values()), "warnings": warnings,
    }


def _allocate(session: Session, pool: PoolRow, ranges: dict[str, RangeRow], purposes: list[str], now: datetime,
              owner: dict[str, object]) -> Steps[dict[str, AllocationRow]]:
    """One customer block from each purpose's range (``allocate_each``: their round trips shared)."""
    requests = []
    for purpose in purposes:
        row = ranges.get(purpose)
        if row is None:
            raise IpamError(f"pool {pool.name!r} has no {purpose} range")
        assert row.customer_length is not None
        requests.append((RangeAllocator(session, row, pool), row.customer_length, KIND_BY_PURPOSE[purpose]))
    return dict(zip(purposes, (yield from allocate_each(requests, now, owner)), strict=True))


def _text(allocation: AllocationRow | None) -> str | None:
    if allocation is None:
        return None
    prefix = range_prefix(allocation)
    return str(prefix.first) if prefix.length == prefix.width else str(prefix)


def find_allocation(session: Session, vrf_id: int, prefix: Prefix) -> Allocation:
    allocation = session.query(Allocation).filter_by(
        vrf_id=vrf_id, family=prefix.version, network=network_key(prefix.version, prefix.network), length=prefix.length
    ).one_or_none()
    if allocation is None:
        raise NotFoundError(f"no allocation {prefix} in this VRF")
    return allocation
