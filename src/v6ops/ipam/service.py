"""IPAM operations as the CLI and the REST API call them: each one transaction, each returns plain objects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from v6ops.addr import Prefix
from v6ops.ipam import devices as device_ops
from v6ops.ipam.dnsname import check_dns_name
from v6ops.ipam.engine import (
    RangeAllocator,
    load_pool,
    lock_pools,
    lock_ranges,
    range_for,
    range_prefix,
    record_event,
    utcnow,
)
from v6ops.ipam.errors import ForbiddenTenantError, IpamError, NotFoundError, PoolExhaustedError
from v6ops.ipam.freespace import FreeSpace
from v6ops.ipam.identities import identity_view, set_identities
from v6ops.ipam.lookup import by_name
from v6ops.ipam.plan import Plan, apply_plan, diff_plan
from v6ops.ipam.provision import allocate_dual_stack, dual_stack_steps, find_allocation
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
from v6ops.store.db import Steps, Store, run_steps
from v6ops.store.models import Allocation, Device, Event, PlanPrefix, Pool, Subscriber, Vrf
from v6ops.store.provisioning_models import SubscriberIdentity

MAX_LIST = 1000
# Provisionings share transactions (``Store.write_grouped``) whatever their pools: a batch locks its pools
# at once in the deadlock-free order (``lock_pools``), so callers alone in their pools share commits too.
PROVISIONING = "provision"


def _vrf(session: Session, name: str) -> Vrf:
    return by_name(session, Vrf, name, "VRF")


def _prefix_row(session: Session, name: str) -> PlanPrefix:
    return by_name(session, PlanPrefix, name, "prefix", " (use the name from the plan, e.g. 'pool-name/ipv6-address')")


def _pool_names(session: Session) -> dict[int, str]:
    return {p.id: p.name for p in session.scalars(select(Pool))}


# Tenant scoping: ``tenant`` None is the whole installation; a tenant sees only its subscribers, devices
# and pools (with their ranges, allocations and events). Another tenant's object is "unknown" (404),
# exactly as a missing one, so a scoped caller cannot even learn that it exists.


def _contains(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own % and _ taken literally (escape character \\)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _tenant_pool_ids(session: Session, tenant: str) -> set[int]:
    return set(session.scalars(select(Pool.id).where(Pool.tenant == tenant)))


def _check_pool(session: Session, name: str, tenant: str | None) -> None:
    if tenant is not None and session.scalar(select(Pool.tenant).where(Pool.name == name)) != tenant:
        raise NotFoundError(f"unknown pool {name!r}")


def _check_range_pool(session: Session, pool_id: int | None, tenant: str | None, what: str) -> None:
    if tenant is not None and (pool_id is None or session.scalar(select(Pool.tenant).where(Pool.id == pool_id)) != tenant):
        raise NotFoundError(f"unknown {what}")


def _scoped_prefix_row(session: Session, name: str, tenant: str | None) -> PlanPrefix:
    row = _prefix_row(session, name)
    _check_range_pool(session, row.pool_id, tenant, f"prefix {name!r}")
    return row


def _own_subscriber(session: Session, name: str, tenant: str | None) -> Subscriber:
    subscriber = subscriber_by_name(session, name)
    if tenant is not None and subscriber.tenant != tenant:
        raise NotFoundError(f"unknown subscriber {name!r}")
    return subscriber


def _own_device(session: Session, name: str, tenant: str | None) -> Device:
    device = device_ops.device_by_name(session, name)
    if tenant is not None and device.tenant != tenant:
        raise NotFoundError(f"unknown device {name!r}")
    return device


def _tenant_for_new(requested: str | None, tenant: str | None) -> str:
    """The tenant a new subscriber or device gets: the caller's own, or (whole installation) the one asked for."""
    if tenant is None:
        return requested or "default"
    if requested not in (None, tenant):
        raise ForbiddenTenantError(f"tenant {requested!r}: this caller acts for tenant {tenant!r} only")
    return tenant


def record_provisioning_failure(store: Store, pool: str, subject: str, error: IpamError) -> None:
    """A provisioning that failed for lack of space is kept as an event (its own transaction: the failed one
    rolled back), so /health/ipv6 and the failure-rate alert can count it."""
    with store.write() as session:
        row = session.scalar(select(Pool).where(Pool.name == pool))
        record_event(session, "provisioning-failed", "warning", str(error), pool=row, subject=subject)


def plan_diff(store: Store, plan: Plan) -> list[dict[str, str]]:
    with store.read() as session:
        return [c.as_dict() for c in diff_plan(session, plan)]


def plan_apply(store: Store, plan: Plan) -> list[dict[str, str]]:
    with store.write() as session:
        return [c.as_dict() for c in apply_plan(session, plan)]


def list_prefixes(store: Store, tenant: str | None = None) -> list[dict[str, Any]]:
    with store.read() as session:
        return prefix_utilizations(session, tenant)


def available_prefixes(store: Store, name: str, length: int | None, limit: int, tenant: str | None = None) -> list[str]:
    """The first free prefixes of a range (default length: its customer size), lowest first."""
    with store.read() as session:
        row = _scoped_prefix_row(session, name, tenant)
        if row.customer_length is None:
            raise IpamError(f"prefix {name!r} is a container; ask one of its pool ranges")
        prefix = range_prefix(row)
        length = row.customer_length if length is None else length
        if not prefix.length <= length <= prefix.width:
            raise IpamError(f"prefix length /{length} does not fit {prefix} (must be /{prefix.length} to /{prefix.width})")
        space = FreeSpace(session, row.id, prefix, row.customer_length)
        return [str(p) for p in space.available(length, min(limit, MAX_LIST))]


def available_ips(store: Store, name: str, limit: int, tenant: str | None = None) -> list[str]:
    width = {4: 32, 6: 128}
    with store.read() as session:
        row = _scoped_prefix_row(session, name, tenant)
        if row.customer_length is None:
            raise IpamError(f"prefix {name!r} is a container; ask one of its pool ranges")
        space = FreeSpace(session, row.id, range_prefix(row), row.customer_length)
        return [str(p.first) for p in space.available(width[row.family], min(limit, MAX_LIST))]


def provision(store: Store, pool: str, subscriber: str | None = None, device: str | None = None,
              dns_name: str | None = None, tenant: str | None = None) -> dict[str, Any]:
    def prepare(session: Session) -> tuple[Subscriber | None, Device | None]:
        _check_pool(session, pool, tenant)
        sub = _own_subscriber(session, subscriber, tenant) if subscriber else None
        if sub is not None:
            enqueue(session, [sub.id])
        return sub, _own_device(session, device, tenant) if device else None

    def finish(session: Session, owners: tuple[Subscriber | None, Device | None]) -> Steps[dict[str, Any]]:
        return (yield from dual_stack_steps(session, pool, subscriber=owners[0], device=owners[1], dns_name=dns_name))

    try:
        got = store.write_grouped(PROVISIONING, prepare, finish, pool, lock_pools)
    except PoolExhaustedError as exc:
        record_provisioning_failure(store, pool, subscriber or device or "", exc)
        raise
    if subscriber:
        sync_after_change(store)
    return got


def add_subscriber(store: Store, spec: SubscriberSpec, tenant: str | None = None) -> dict[str, Any]:
    """Create the subscriber (with its identities) and, with ``spec.pool``, provision it in the same
    transaction (shared with other provisionings arriving meanwhile: ``Store.write_grouped``)."""
    owner = _tenant_for_new(spec.tenant if "tenant" in spec.model_fields_set else None, tenant)
    if owner != spec.tenant:
        spec = spec.model_copy(update={"tenant": owner})

    def prepare(session: Session) -> tuple[Subscriber, dict[str, Any]]:
        if spec.pool:
            _check_pool(session, spec.pool, tenant)
        subscriber = create_subscriber(session, spec)
        if not spec.identities.is_empty():
            set_identities(session, subscriber, spec.identities)
        enqueue(session, [subscriber.id])
        identities = _identities(session, [subscriber.id])[subscriber.id] if not spec.identities.is_empty() \
            else identity_view([])
        return subscriber, subscriber_view(subscriber, [], identities)

    def finish(session: Session, made: tuple[Subscriber, dict[str, Any]]) -> Steps[dict[str, Any]]:
        subscriber, view = made
        if spec.pool:
            got = yield from dual_stack_steps(session, spec.pool, subscriber=subscriber)
            view.update({k: got[k] for k in ("ipv4", "ipv6_address", "ipv6_prefix")})
        return view

    if not spec.pool:
        with store.write() as session:
            view = run_steps(finish(session, prepare(session)))
    else:
        try:
            view = store.write_grouped(PROVISIONING, prepare, finish, spec.pool, lock_pools)
        except PoolExhaustedError as exc:
            record_provisioning_failure(store, spec.pool, spec.name, exc)
            raise
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


def change_subscriber(store: Store, name: str, change: SubscriberUpdate, tenant: str | None = None) -> dict[str, Any]:
    """Change status, tier, tenant, DNS name, rate limits or identities; a suspended or terminated
    subscriber leaves the adoption counts. A new DNS name is also written to its allocations."""
    if tenant is not None and change.tenant not in (None, tenant):
        raise ForbiddenTenantError(f"tenant {change.tenant!r}: this caller acts for tenant {tenant!r} only")
    with store.write() as session:
        subscriber = _own_subscriber(session, name, tenant)
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


def delete_subscriber(store: Store, name: str, tenant: str | None = None) -> dict[str, Any]:
    """Release the subscriber's allocations (into the pool's quarantine), drop its identities and the
    subscriber; the sync queue keeps the identities it had, so the next sync removes its RADIUS rows and
    Kea hosts (and the DNS sync its records). Returns the subscriber as it was, with status 'deleted'."""
    with store.write() as session:
        subscriber = _own_subscriber(session, name, tenant)
        view = _subscriber_view(session, subscriber)
        now = utcnow()
        # Ranges locked in id order, as every transaction does (``lock_pools``): no deadlock with a batch.
        for allocation in session.scalars(select(Allocation).where(
                Allocation.subscriber_id == subscriber.id, Allocation.status == "active")
                .order_by(Allocation.prefix_id)).all():
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


_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
_ALLOCATIONS: Table = Allocation.__table__  # type: ignore[assignment]
_SUBSCRIBER_BY_NAME = select(_SUBSCRIBERS).where(_SUBSCRIBERS.c.name == bindparam("name"))
# Only what the view reads: the cidr column would be parsed back into a Prefix for nothing.
_ALLOCATIONS_OF = select(_ALLOCATIONS.c.kind, _ALLOCATIONS.c.family, _ALLOCATIONS.c.network, _ALLOCATIONS.c.length,
                         _ALLOCATIONS.c.status).where(_ALLOCATIONS.c.subscriber_id == bindparam("id"))
_IDENTITIES: Table = SubscriberIdentity.__table__  # type: ignore[assignment]
_IDENTITIES_OF = select(_IDENTITIES.c.kind, _IDENTITIES.c.value, _IDENTITIES.c.auth).where(
    _IDENTITIES.c.subscriber_id == bindparam("id"))


def get_subscriber(store: Store, name: str, tenant: str | None = None) -> dict[str, Any]:
    """The API's most frequent read: three prebuilt Core selects on one pooled connection, no ORM session
    (the unit of work cost four times the SQL; the rows have the attributes the view reads)."""
    with store.engine.connect() as conn:
        row = conn.execute(_SUBSCRIBER_BY_NAME, {"name": name}).first()
        if row is None or (tenant is not None and row.tenant != tenant):
            raise NotFoundError(f"unknown subscriber {name!r}")
        allocations = conn.execute(_ALLOCATIONS_OF, {"id": row.id}).all()
        identities = conn.execute(_IDENTITIES_OF, {"id": row.id}).all()
    return subscriber_view(row, allocations, identity_view(identities))  # type: ignore[arg-type]


def list_subscribers(store: Store, limit: int, offset: int = 0, tenant: str | None = None,
                     search: str | None = None) -> list[dict[str, Any]]:
    """Subscribers in id order; ``search`` matches a part of the name or DNS name (case-insensitive)."""
    with store.read() as session:
        stmt = select(Subscriber).order_by(Subscriber.id).offset(offset).limit(min(limit, MAX_LIST))
        if tenant is not None:
            stmt = stmt.where(Subscriber.tenant == tenant)
        if search:
            pattern = _contains(search)
            stmt = stmt.where(Subscriber.name.ilike(pattern, escape="\\") | Subscriber.dns_name.ilike(pattern, escape="\\"))
        subs = list(session.scalars(stmt))
        allocations: dict[int, list[Allocation]] = {}
        if subs:
            for a in session.scalars(select(Allocation).where(Allocation.subscriber_id.in_([s.id for s in subs]))):
                allocations.setdefault(a.subscriber_id or 0, []).append(a)
        identities = _identities(session, [s.id for s in subs])
        return [subscriber_view(s, allocations.get(s.id, []), identities[s.id]) for s in subs]


def add_device(store: Store, raw: dict[str, Any], pool: str | None, vrf: str = "global", tenant: str | None = None,
               owner: str | None = None) -> dict[str, Any]:
    """Register a device for ``owner`` (default: the caller's tenant) and, with ``pool``, allocate its addresses."""
    row = device_ops.check_device(raw)
    device_tenant = _tenant_for_new(owner, tenant)
    try:
        with store.write() as session:
            if pool:
                _check_pool(session, pool, tenant)
            device = device_ops.register_device(session, row, _vrf(session, vrf).id, device_tenant)
            if pool:
                allocate_dual_stack(session, pool, device=device)
            return device_view(device)
    except PoolExhaustedError as exc:
        record_provisioning_failure(store, pool or "", row.name, exc)
        raise


def list_devices(store: Store, region: str | None, limit: int, offset: int = 0, tenant: str | None = None,
                 search: str | None = None) -> list[dict[str, Any]]:
    with store.read() as session:
        stmt = select(Device).order_by(Device.id).offset(offset).limit(min(limit, MAX_LIST))
        if region:
            stmt = stmt.where(Device.region == region)
        if tenant is not None:
            stmt = stmt.where(Device.tenant == tenant)
        if search:
            pattern = _contains(search)
            stmt = stmt.where(Device.name.ilike(pattern, escape="\\") | Device.dns_name.ilike(pattern, escape="\\"))
        return [device_view(d) for d in session.scalars(stmt)]


def device_seen(store: Store, name: str, at: str | None = None, tenant: str | None = None) -> dict[str, Any]:
    """Record that the device was seen (now, or at the given ISO 8601 time); feeds the 24 h stats."""
    try:
        seen = device_ops.parse_time(at) if at else utcnow()
    except ValueError as exc:
        raise IpamError(f"seen time {at!r} is not an ISO 8601 time") from exc
    with store.write() as session:
        device = _own_device(session, name, tenant)
        device.last_seen = seen
        return device_view(device)


def device_stats(store: Store, tenant: str | None = None) -> list[dict[str, Any]]:
    with store.read() as session:
        return device_ops.connectivity_stats(session, tenant=tenant)


def reserve(store: Store, text: str, vrf: str, description: str, tenant: str | None = None) -> dict[str, Any]:
    prefix = Prefix.parse(text)
    with store.write() as session:
        row = range_for(session, _vrf(session, vrf).id, prefix)
        _check_range_pool(session, row.pool_id, tenant, f"pool range for {prefix}")
        assert row.pool_id is not None
        pool = load_pool(session, row.pool_id)
        allocation = RangeAllocator(session, row, pool).reserve(prefix, "reservation", utcnow(),
                                                                 description=description)
        return allocation_view(allocation, pool.name)


def take_next(store: Store, name: str, length: int | None, description: str,
              dns_name: str | None = None, address: bool = False, tenant: str | None = None) -> dict[str, Any]:
    """First fit in one range (NetBox's POST available-prefixes / available-ips).

    ``address`` takes one address; otherwise a /length, by default the range's customer size.
    """
    with store.write() as session:
        row = _scoped_prefix_row(session, name, tenant)
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


def release(store: Store, text: str, vrf: str, tenant: str | None = None) -> dict[str, Any]:
    prefix = Prefix.parse(text)
    with store.write() as session:
        vrf_id = _vrf(session, vrf).id
        row = range_for(session, vrf_id, prefix)
        _check_range_pool(session, row.pool_id, tenant, f"allocation {prefix}")
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


def list_allocations(store: Store, pool: str | None, limit: int, offset: int = 0,
                     tenant: str | None = None) -> list[dict[str, Any]]:
    with store.read() as session:
        names = _pool_names(session)
        range_pool = {r.id: r.pool_id for r in session.scalars(select(PlanPrefix).where(PlanPrefix.pool_id.is_not(None)))}
        if tenant is not None:
            own = _tenant_pool_ids(session, tenant)
            range_pool = {rid: pid for rid, pid in range_pool.items() if pid in own}
            names = {pid: name for pid, name in names.items() if pid in own}
        stmt = select(Allocation).order_by(Allocation.id).offset(offset).limit(min(limit, MAX_LIST))
        if tenant is not None and not pool:
            stmt = stmt.where(Allocation.prefix_id.in_(list(range_pool)))
        if pool:
            ids = [rid for rid, pid in range_pool.items() if names.get(pid or -1) == pool]
            if not ids:
                raise NotFoundError(f"unknown pool {pool!r}")
            stmt = stmt.where(Allocation.prefix_id.in_(ids))
        return [allocation_view(a, names.get(range_pool.get(a.prefix_id) or -1)) for a in session.scalars(stmt)]


def import_devices(store: Store, path: Path, pool: str, progress: Callable[[int], None] | None = None,
                   per_transaction: int = device_ops.DEVICES_PER_TRANSACTION, tenant: str | None = None) -> dict[str, Any]:
    """Devices from a file into ``pool``; they belong to the pool's tenant."""
    if tenant is not None:
        with store.read() as session:
            _check_pool(session, pool, tenant)
    return device_ops.import_devices(store, path, pool, progress, per_transaction=per_transaction).as_dict()


def adoption_metrics(store: Store, tenant: str | None = None) -> dict[str, Any]:
    with store.read() as session:
        return adoption(session, tenant)


def list_events(store: Store, limit: int, tenant: str | None = None) -> list[dict[str, Any]]:
    """Newest first; a tenant sees the events of its own pools only."""
    with store.read() as session:
        names = _pool_names(session)
        stmt = select(Event).order_by(Event.id.desc()).limit(min(limit, MAX_LIST))
        if tenant is not None:
            stmt = stmt.where(Event.pool_id.in_(list(_tenant_pool_ids(session, tenant))))
        events = session.scalars(stmt)
        return [{"id": e.id, "at": e.at.isoformat(), "kind": e.kind, "severity": e.severity,
                 "pool": names.get(e.pool_id or -1), "subject": e.subject, "message": e.message, "data": e.data}
                for e in events]
