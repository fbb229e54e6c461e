"""IPAM operations as the CLI and the REST API call them: each one transaction, each returns plain objects."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from v6ops.addr import Prefix
from v6ops.ipam import devices as device_ops
from v6ops.ipam.dnsname import check_dns_name
from v6ops.ipam.engine import RangeAllocator, load_pool, lock_ranges, range_for, range_prefix, utcnow
from v6ops.ipam.errors import IpamError, NotFoundError
from v6ops.ipam.freespace import FreeSpace
from v6ops.ipam.identities import identity_view, set_identities
from v6ops.ipam.lookup import by_name
from v6ops.ipam.plan import Plan, apply_plan, diff_plan
from v6ops.ipam.provision import allocate_dual_stack, find_allocation
from v6ops.ipam.provisioning.queue import enqueue
from v6ops.ipam.provisioning.service import sync_after_change
from v6ops.ipam.subscribers import (
    SubscriberSpec,
    SubscriberUpdate,
    create_subscriber,
    subscriber_by_name,
    update_subscriber,
)
from v6ops.ipam.utilization import adoption, prefix_utilizations
from v6ops.ipam.views import allocation_view, device_view, subscriber_view
from v6ops.store.db import Store
from v6ops.store.models import Allocation, Device, Event, PlanPrefix, Pool, Subscriber, Vrf
from v6ops.store.provisioning_models import SubscriberIdentity

MAX_LIST = 1000


@cache
def open_store(url: str) -> Store:
    """One migrated Store per database URL per process."""
    store = Store(url)
    store.migrate()
    return store


def _vrf(session: Session, name: str) -> Vrf:
    return by_name(session, Vrf, name, "VRF")


def _prefix_row(session: Session, name: str) -> PlanPrefix:
    return by_name(session, PlanPrefix, name, "prefix", " (use the name from the plan, e.g. 'pool-name/ipv6-address')")


def _pool_names(session: Session) -> dict[int, str]:
    return {p.id: p.name for p in session.scalars(select(Pool))}


def plan_diff(store: Store, plan: Plan) -> list[dict[str, str]]:
    with store.read() as session:
        return [c.as_dict() for c in diff_plan(session, plan)]


def plan_apply(store: Store, plan: Plan) -> list[dict[str, str]]:
    with store.write() as session:
        return [c.as_dict() for c in apply_plan(session, plan)]


def list_prefixes(store: Store) -> list[dict[str, Any]]:
    with store.read() as session:
        return prefix_utilizations(session)


def available_prefixes(store: Store, name: str, length: int | None, limit: int) -> list[str]:
    """The first free prefixes of a range (default length: its customer size), lowest first."""
    with store.read() as session:
        row = _prefix_row(session, name)
        if row.customer_length is None:
            raise IpamError(f"prefix {name!r} is a container; ask one of its pool ranges")
        prefix = range_prefix(row)
        length = row.customer_length if length is None else length
        if not prefix.length <= length <= prefix.width:
            raise IpamError(f"prefix length /{length} does not fit {prefix} (must be /{prefix.length} to /{prefix.width})")
        space = FreeSpace(session, row.id, prefix, row.customer_length)
        return [str(p) for p in space.available(length, min(limit, MAX_LIST))]


def available_ips(store: Store, name: str, limit: int) -> list[str]:
    width = {4: 32, 6: 128}
    with store.read() as session:
        row = _prefix_row(session, name)
        if row.customer_length is None:
            raise IpamError(f"prefix {name!r} is a container; ask one of its pool ranges")
        space = FreeSpace(session, row.id, range_prefix(row), row.customer_length)
        return [str(p.first) for p in space.available(width[row.family], min(limit, MAX_LIST))]


def provision(store: Store, pool: str, subscriber: str | None = None, device: str | None = None,
              dns_name: str | None = None) -> dict[str, Any]:
    with store.write() as session:
        sub = subscriber_by_name(session, subscriber) if subscriber else None
        dev = device_ops.device_by_name(session, device) if device else None
        got = allocate_dual_stack(session, pool, subscriber=sub, device=dev, dns_name=dns_name)
        if sub is not None:
            enqueue(session, [sub.id])
    if subscriber:
        sync_after_change(store)
    return got


def add_subscriber(store: Store, spec: SubscriberSpec) -> dict[str, Any]:
    """Create the subscriber (with its identities) and, with ``spec.pool``, provision it in the same transaction."""
    with store.write() as session:
        subscriber = create_subscriber(session, spec)
        if not spec.identities.is_empty():
            set_identities(session, subscriber, spec.identities)
        enqueue(session, [subscriber.id])
        view = subscriber_view(subscriber, [], _identities(session, [subscriber.id]).get(subscriber.id))
        if spec.pool:
            got = allocate_dual_stack(session, spec.pool, subscriber=subscriber)
            view.update({k: got[k] for k in ("ipv4", "ipv6_address", "ipv6_prefix")})
    sync_after_change(store)
    return view


def _identities(session: Session, subscriber_ids: list[int]) -> dict[int, dict[str, str | None]]:
    rows: dict[int, list[SubscriberIdentity]] = {i: [] for i in subscriber_ids}
    for r in session.scalars(select(SubscriberIdentity).where(SubscriberIdentity.subscriber_id.in_(subscriber_ids))):
        rows[r.subscriber_id].append(r)
    return {i: identity_view(rs) for i, rs in rows.items()}


def _subscriber_view(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    allocations = list(session.scalars(select(Allocation).where(Allocation.subscriber_id == subscriber.id)))
    return subscriber_view(subscriber, allocations, _identities(session, [subscriber.id])[subscriber.id])


def change_subscriber(store: Store, name: str, change: SubscriberUpdate) -> dict[str, Any]:
    """Change status, tier, tenant, DNS name, rate limits or identities; a suspended or terminated
    subscriber leaves the adoption counts. A new DNS name is also written to its allocations."""
    with store.write() as session:
        subscriber = subscriber_by_name(session, name)
        update_subscriber(subscriber, change)
        if change.dns_name is not None:
            session.execute(update(Allocation).where(Allocation.subscriber_id == subscriber.id)
                            .values(dns_name=change.dns_name))
        previous = set_identities(session, subscriber, change.identities) if change.identities is not None else []
        enqueue(session, [subscriber.id], previous)
        session.flush()
        view = _subscriber_view(session, subscriber)
    sync_after_change(store)
    return view


def delete_subscriber(store: Store, name: str) -> dict[str, Any]:
    """Release the subscriber's allocations (into the pool's quarantine), drop its identities and the
    subscriber; the sync queue keeps the identities it had, so the next sync removes its RADIUS rows and
    Kea hosts (and the DNS sync its records). Returns the subscriber as it was, with status 'deleted'."""
    with store.write() as session:
        subscriber = subscriber_by_name(session, name)
        view = _subscriber_view(session, subscriber)
        now = utcnow()
        for allocation in session.scalars(select(Allocation).where(
                Allocation.subscriber_id == subscriber.id, Allocation.status == "active")).all():
            row = range_for(session, allocation.vrf_id, range_prefix(allocation))
            assert row.pool_id is not None
            RangeAllocator(session, row, load_pool(session, row.pool_id)).release(allocation, now)
        identities = list(session.scalars(select(SubscriberIdentity).where(
            SubscriberIdentity.subscriber_id == subscriber.id)))
        enqueue(session, [subscriber.id], [f"{i.kind}:{i.value}" for i in identities])
        for identity in identities:
            session.delete(identity)
        session.flush()
        session.delete(subscriber)
        session.flush()
    sync_after_change(store)
    return {**view, "status": "deleted"}


def get_subscriber(store: Store, name: str) -> dict[str, Any]:
    with store.read() as session:
        return _subscriber_view(session, subscriber_by_name(session, name))


def list_subscribers(store: Store, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    with store.read() as session:
        subs = list(session.scalars(select(Subscriber).order_by(Subscriber.id).offset(offset).limit(min(limit, MAX_LIST))))
        allocations: dict[int, list[Allocation]] = {}
        if subs:
            for a in session.scalars(select(Allocation).where(Allocation.subscriber_id.in_([s.id for s in subs]))):
                allocations.setdefault(a.subscriber_id or 0, []).append(a)
        identities = _identities(session, [s.id for s in subs])
        return [subscriber_view(s, allocations.get(s.id, []), identities[s.id]) for s in subs]


def add_device(store: Store, raw: dict[str, Any], pool: str | None, vrf: str = "global") -> dict[str, Any]:
    row = device_ops.check_device(raw)
    with store.write() as session:
        device = device_ops.register_device(session, row, _vrf(session, vrf).id)
        if pool:
            allocate_dual_stack(session, pool, device=device)
        return device_view(device)


def list_devices(store: Store, region: str | None, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    with store.read() as session:
        stmt = select(Device).order_by(Device.id).offset(offset).limit(min(limit, MAX_LIST))
        if region:
            stmt = stmt.where(Device.region == region)
        return [device_view(d) for d in session.scalars(stmt)]


def device_seen(store: Store, name: str, at: str | None = None) -> dict[str, Any]:
    """Record that the device was seen (now, or at the given ISO 8601 time); feeds the 24 h stats."""
    try:
        seen = device_ops.parse_time(at) if at else utcnow()
    except ValueError as exc:
        raise IpamError(f"seen time {at!r} is not an ISO 8601 time") from exc
    with store.write() as session:
        device = device_ops.device_by_name(session, name)
        device.last_seen = seen
        return device_view(device)


def device_stats(store: Store) -> list[dict[str, Any]]:
    with store.read() as session:
        return device_ops.connectivity_stats(session)


def reserve(store: Store, text: str, vrf: str, description: str) -> dict[str, Any]:
    prefix = Prefix.parse(text)
    with store.write() as session:
        row = range_for(session, _vrf(session, vrf).id, prefix)
        assert row.pool_id is not None
        pool = load_pool(session, row.pool_id)
        allocation = RangeAllocator(session, row, pool).reserve(prefix, "reservation", utcnow(),
                                                                 description=description)
        return allocation_view(allocation, pool.name)


def take_next(store: Store, name: str, length: int | None, description: str,
              dns_name: str | None = None, address: bool = False) -> dict[str, Any]:
    """First fit in one range (NetBox's POST available-prefixes / available-ips).

    ``address`` takes one address; otherwise a /length, by default the range's customer size.
    """
    with store.write() as session:
        row = _prefix_row(session, name)
        if row.pool_id is None or row.customer_length is None:
            raise IpamError(f"prefix {name!r} is a container; ask one of its pool ranges")
        locked = lock_ranges(session, [row.id])[0]
        assert locked.pool_id is not None and locked.customer_length is not None
        pool = load_pool(session, locked.pool_id)
        owner = {"dns_name": check_dns_name(dns_name) if dns_name else None, "description": description}
        if address:
            length = range_prefix(locked).width
        allocation = RangeAllocator(session, locked, pool).allocate(
            locked.customer_length if length is None else length, "address" if address else "prefix", utcnow(),
            **owner)
        return allocation_view(allocation, pool.name)


def release(store: Store, text: str, vrf: str) -> dict[str, Any]:
    prefix = Prefix.parse(text)
    with store.write() as session:
        vrf_id = _vrf(session, vrf).id
        row = range_for(session, vrf_id, prefix)
        allocation = find_allocation(session, vrf_id, prefix)
        assert row.pool_id is not None
        pool = load_pool(session, row.pool_id)
        view = allocation_view(allocation, pool.name)
        owner = allocation.subscriber_id
        RangeAllocator(session, row, pool).release(allocation, utcnow())
        view["status"] = "quarantined" if pool.quarantine_seconds else "released"
        if owner is not None:
            enqueue(session, [owner])
        view["reusable_at"] = allocation.reusable_at.isoformat() if allocation.reusable_at else None
    if owner is not None:
        sync_after_change(store)
    return view


def list_allocations(store: Store, pool: str | None, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    with store.read() as session:
        names = _pool_names(session)
        range_pool = {r.id: r.pool_id for r in session.scalars(select(PlanPrefix).where(PlanPrefix.pool_id.is_not(None)))}
        stmt = select(Allocation).order_by(Allocation.id).offset(offset).limit(min(limit, MAX_LIST))
        if pool:
            ids = [rid for rid, pid in range_pool.items() if names.get(pid or -1) == pool]
            if not ids:
                raise NotFoundError(f"unknown pool {pool!r}")
            stmt = stmt.where(Allocation.prefix_id.in_(ids))
        return [allocation_view(a, names.get(range_pool.get(a.prefix_id) or -1)) for a in session.scalars(stmt)]


def import_devices(store: Store, path: Path, pool: str, progress: Callable[[int], None] | None = None,
                   per_transaction: int = device_ops.DEVICES_PER_TRANSACTION) -> dict[str, Any]:
    return device_ops.import_devices(store, path, pool, progress, per_transaction=per_transaction).as_dict()


def adoption_metrics(store: Store) -> dict[str, Any]:
    with store.read() as session:
        return adoption(session)


def list_events(store: Store, limit: int) -> list[dict[str, Any]]:
    with store.read() as session:
        names = _pool_names(session)
        events = session.scalars(select(Event).order_by(Event.id.desc()).limit(min(limit, MAX_LIST)))
        return [{"id": e.id, "at": e.at.isoformat(), "kind": e.kind, "severity": e.severity,
                 "pool": names.get(e.pool_id or -1), "subject": e.subject, "message": e.message, "data": e.data}
                for e in events]
