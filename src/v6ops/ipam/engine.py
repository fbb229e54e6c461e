"""Allocate, reserve and release inside the ranges of the plan, keeping utilization exact.

Every function runs inside the caller's write transaction (``Store.write``): on SQLite
that transaction began with BEGIN IMMEDIATE; on PostgreSQL ``pool_with_ranges`` and
``lock_ranges`` take row locks on just the ranges involved, so different pools allocate in parallel.
Any exception rolls the whole transaction back, so a failed allocation changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Select, Table, bindparam, func, select
from sqlalchemy.orm import Session

from v6ops.addr import Prefix
from v6ops.ipam.errors import ConflictError, IpamError, NotFoundError, PoolExhaustedError
from v6ops.ipam.freespace import FreeSpace
from v6ops.ipam.rows import AllocationRow, PoolRow, RangeRow
from v6ops.store.db import Steps, is_postgres, pipelined, run_steps
from v6ops.store.models import Allocation, Event, PlanPrefix, Pool
from v6ops.store.types import db_time, network_from_key, network_key

RECLAIM_BATCH = 16


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class NetworkRow(Protocol):
    @property
    def family(self) -> int: ...
    @property
    def network(self) -> bytes: ...
    @property
    def length(self) -> int: ...


def range_prefix(row: NetworkRow) -> Prefix:
    return Prefix(row.family, network_from_key(row.network), row.length)


POOLS: Table = Pool.__table__  # type: ignore[assignment]
PREFIXES: Table = PlanPrefix.__table__  # type: ignore[assignment]

_INSERT_ALLOCATION = (
    "INSERT INTO allocations (vrf_id, prefix_id, family, network, length, cidr, kind, status, subscriber_id, "
    "device_id, dns_name, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?) RETURNING id"
)
_SAVE_RANGE = "UPDATE prefixes SET used_units = ?, alerting = ?, next_reclaim_at = ? WHERE id = ?"
_SAVE_RANGE_AND_INSERT_ALLOCATION = f"WITH saved AS ({_SAVE_RANGE}) {_INSERT_ALLOCATION}"


def _ranges(rows: Any) -> list[RangeRow]:
    return [RangeRow(**{c.name: row._mapping[c] for c in PREFIXES.c}) for row in rows]


@cache
def _lock_ranges_sql(postgres: bool) -> Select[Any]:
    stmt = select(PREFIXES).where(PREFIXES.c.id.in_(bindparam("ids", expanding=True))).order_by(PREFIXES.c.id)
    return stmt.with_for_update() if postgres else stmt


def lock_ranges(session: Session, ids: list[int]) -> list[RangeRow]:
    """The range rows, locked for this transaction in id order (no deadlock between two pools)."""
    return _ranges(session.connection().execute(_lock_ranges_sql(is_postgres(session)), {"ids": ids}))


def load_pool(session: Session, pool_id: int) -> PoolRow:
    row = session.connection().execute(select(POOLS).where(POOLS.c.id == pool_id)).one()
    return PoolRow(**row._mapping)


def record_event(
    session: Session, kind: str, severity: str, message: str, pool: Pool | PoolRow | None = None, subject: str = "",
    **data: object
) -> None:
    session.add(
        Event(at=utcnow(), kind=kind, severity=severity, pool_id=pool.id if pool else None, subject=subject,
              message=message, data=data)
    )


class RangeAllocator:
    """One locked range of a pool and its free space, for the duration of a transaction."""

    def __init__(self, session: Session, row: RangeRow, pool: PoolRow) -> None:
        if row.customer_length is None:
            raise IpamError(f"prefix {row.name} ({row.cidr}) is a container, not an allocatable range")
        self.session = session
        self.row = row
        self.pool = pool
        self.prefix = range_prefix(row)
        self.space = FreeSpace(session, row.id, self.prefix, row.customer_length)
        self._returning = self.space.cursor.connection.cursor()
        self._pending: AllocationRow | None = None

    def _check_length(self, length: int) -> None:
        if not self.prefix.length <= length <= self.prefix.width:
            raise IpamError(
                f"prefix length /{length} does not fit range {self.prefix} of pool {self.pool.name!r} "
                f"(must be /{self.prefix.length} to /{self.prefix.width})"
            )

    def allocate(self, length: int, kind: str, now: datetime, **owner: Any) -> AllocationRow:
        """First fit: the lowest-addressed free /length; exhaustion names the pool and its utilization."""
        return run_steps(allocate_each([(self, length, kind)], now, owner))[0]

    def reserve(self, prefix: Prefix, kind: str, now: datetime, **owner: Any) -> AllocationRow:
        """Take exactly ``prefix`` (a reservation or a manual assignment)."""
        if not self.prefix.contains(prefix):
            raise IpamError(f"{prefix} is not inside range {self.prefix} of pool {self.pool.name!r}")
        self.reclaim_expired(now)
        if not self.space.take_exact(prefix):
            raise ConflictError(
                f"{prefix} is not free in pool {self.pool.name!r}: it overlaps an allocation, a quarantined "
                f"release or an address the range keeps back"
            )
        return self._record(prefix, kind, now, owner)

    def _record(self, prefix: Prefix, kind: str, now: datetime, owner: dict[str, Any]) -> AllocationRow:
        """Insert the allocation (one statement, RETURNING its id) and settle the counter."""
        self._send_record(prefix, kind, now, owner)
        return self._end_record()

    def _send_record(self, prefix: Prefix, kind: str, now: datetime, owner: dict[str, Any]) -> None:
        """Send the allocation's INSERT (on its own cursor, so the next range's statements can follow it in
        a pipeline before the id is read) with the range's counter update; ``_end_record`` reads the id.
        On PostgreSQL both are one statement (the update in a WITH clause), elsewhere two."""
        space = self.space
        network = network_key(prefix.version, prefix.network)
        cidr = str(prefix)
        subscriber_id, device_id = owner.get("subscriber_id"), owner.get("device_id")
        dns_name, description = owner.get("dns_name"), owner.get("description") or ""
        values = (self.row.vrf_id, self.row.id, prefix.version, network, prefix.length, cidr, kind, subscriber_id,
                  device_id, dns_name, description, db_time(now, space.qmark))
        if space.qmark:
            self._settle(now)
            self._returning.execute(_INSERT_ALLOCATION, values)
        else:
            self._returning.execute(space._sql(_SAVE_RANGE_AND_INSERT_ALLOCATION), (*self._counted(now), *values))
        self._pending = AllocationRow(
            id=0, vrf_id=self.row.vrf_id, prefix_id=self.row.id, family=prefix.version, network=network,
            length=prefix.length, cidr=cidr, kind=kind, status="active", subscriber_id=subscriber_id,
            device_id=device_id, dns_name=dns_name, description=description, created_at=now, reusable_at=None,
        )

    def _end_record(self) -> AllocationRow:
        row = self._returning.fetchone()
        assert self._pending is not None and row is not None
        allocation, self._pending = replace(self._pending, id=row[0]), None
        return allocation

    def release(self, allocation: Allocation, now: datetime) -> None:
        """Quarantine the allocation, or free it at once when the pool has no quarantine."""
        if allocation.status != "active":
            raise ConflictError(f"allocation {allocation.id} ({allocation.cidr}) is already {allocation.status}")
        if self.pool.quarantine_seconds > 0:
            allocation.status = "quarantined"
            allocation.reusable_at = now + timedelta(seconds=self.pool.quarantine_seconds)
            due = self.row.next_reclaim_at
            self.row.next_reclaim_at = allocation.reusable_at if due is None else min(due, allocation.reusable_at)
            allocation.subscriber_id = None
            allocation.device_id = None
        else:
            self._free(allocation)
        self._settle(now, force=True)

    def _free(self, allocation: Allocation) -> None:
        self.space.give_back(range_prefix(allocation))
        self.session.delete(allocation)

    def reclaim_expired(self, now: datetime) -> int:
        """Free quarantined allocations whose time is up (only when one is due; bounded; indexed)."""
        due = self.row.next_reclaim_at
        if due is None or due > now:
            return 0
        expired = list(
            self.session.scalars(
                select(Allocation)
                .where(Allocation.prefix_id == self.row.id, Allocation.status == "quarantined",
                       Allocation.reusable_at <= now)
                .order_by(Allocation.reusable_at)
                .limit(RECLAIM_BATCH)
            )
        )
        for allocation in expired:
            self._free(allocation)
        self.session.flush()
        self.row.next_reclaim_at = self.session.scalar(
            select(func.min(Allocation.reusable_at))
            .where(Allocation.prefix_id == self.row.id, Allocation.status == "quarantined")
        )
        self._settle(now, force=True)
        return len(expired)

    def _settle(self, now: datetime, force: bool = False) -> None:
        """Apply the utilization change, raise or clear the threshold alert, and write the range row."""
        if self.space.unit_delta or force:
            self.space.run(_SAVE_RANGE, self._counted(now))

    def _counted(self, now: datetime) -> tuple[Any, ...]:
        """Apply the utilization change and raise or clear the threshold alert: the range row's new values,
        as ``_SAVE_RANGE`` takes them."""
        delta, self.space.unit_delta = self.space.unit_delta, 0
        row = self.row
        row.used_units += delta
        self._check_threshold()
        return str(row.used_units), row.alerting, db_time(row.next_reclaim_at, self.space.qmark), row.id

    def _check_threshold(self) -> None:
        row = self.row
        percent = 100.0 * row.used_units / row.total_units if row.total_units else 100.0
        above = percent >= self.pool.threshold_percent
        if above and not row.alerting:
            row.alerting = True
            record_event(
                self.session, "utilization-high", "warning",
                f"pool {self.pool.name!r} range {row.cidr} is {percent:.1f}% used "
                f"(threshold {self.pool.threshold_percent}%)",
                self.pool, row.cidr, percent=round(percent, 3), threshold=self.pool.threshold_percent,
            )
        elif not above and row.alerting:
            row.alerting = False
            record_event(
                self.session, "utilization-recovered", "info",
                f"pool {self.pool.name!r} range {row.cidr} is back to {percent:.1f}% used",
                self.pool, row.cidr, percent=round(percent, 3),
            )


def allocate_each(requests: Sequence[tuple[RangeAllocator, int, str]], now: datetime,
                  owner: dict[str, Any]) -> Steps[list[AllocationRow]]:
    """First fit in several ranges at once (a dual-stack provisioning's IPv4 address, IPv6 address and
    delegated prefix), or raise PoolExhaustedError naming the first range (in request order) without room.

    Same result as allocating one after the other; but inside a psycopg pipeline (``pipelined``) the
    ranges' find-and-delete statements travel together, and so do their INSERT ... RETURNING, so the
    whole costs two round trips under the pool lock instead of two per range. In two steps: a group
    commit's batch sends those of its callers in other pools in the same round trips.
    """
    for allocator, length, _ in requests:
        allocator._check_length(length)
        allocator.reclaim_expired(now)
    for allocator, length, _ in requests:
        allocator.space.start_take_first(length)
    yield
    networks = [allocator.space.end_take_first(length) for allocator, length, _ in requests]
    for (allocator, length, _), network in zip(requests, networks, strict=True):
        if network is None:
            allocator._settle(now)
            raise PoolExhaustedError(allocator.pool.name, str(allocator.prefix), allocator.row.used_units,
                                     allocator.row.total_units, length)
    for (allocator, length, kind), network in zip(requests, networks, strict=True):
        assert network is not None
        allocator._send_record(Prefix(allocator.prefix.version, network, length), kind, now, owner)
    yield
    return [allocator._end_record() for allocator, _, _ in requests]


@cache
def _pools_with_ranges_sql(lock: bool) -> Select[Any]:
    pool_columns = [c.label(f"pool_{c.name}") for c in POOLS.c]
    stmt = (
        select(*pool_columns, PREFIXES).join(PREFIXES, PREFIXES.c.pool_id == POOLS.c.id)
        .where(POOLS.c.name.in_(bindparam("names", expanding=True))).order_by(PREFIXES.c.id)
    )
    return stmt.with_for_update(of=PREFIXES) if lock else stmt


def _pools_with_ranges(session: Session, names: list[str], lock: bool) -> dict[str, tuple[PoolRow, dict[str, RangeRow]]]:
    """The named pools that exist, each with its ranges by purpose, in one query; with ``lock`` on PostgreSQL
    their range rows are locked in id order (the one order every transaction locks ranges in, as
    ``lock_ranges`` does), so two transactions locking overlapping sets of pools cannot deadlock: whoever
    waits holds no lock the other one still needs (PostgreSQL locks the rows as the ORDER BY yields them).
    With ``lock`` the result is also kept for the transaction (``pool_with_ranges``)."""
    rows = session.connection().execute(_pools_with_ranges_sql(lock and is_postgres(session)), {"names": names}).all()
    by_pool: dict[int, list[Any]] = {}
    for row in rows:
        by_pool.setdefault(row._mapping[PREFIXES.c.pool_id], []).append(row)
    found: dict[str, tuple[PoolRow, dict[str, RangeRow]]] = {}
    for pool_rows in by_pool.values():
        first = pool_rows[0]._mapping
        pool = PoolRow(**{c.name: first[f"pool_{c.name}"] for c in POOLS.c})
        found[pool.name] = (pool, {r.purpose: r for r in _ranges(pool_rows) if r.purpose})
    if lock:
        transaction = session.get_transaction()
        locked = session.info.setdefault(_LOCKED_POOLS, {})
        for name, (pool, ranges) in found.items():
            locked[name] = (transaction, pool, ranges)
    return found


def lock_pools(session: Session, names: list[str]) -> AbstractContextManager[object] | None:
    """Lock these pools for the transaction (names that are no pool are left out), all in one round trip
    and in the one deadlock-free order: a group commit's batch does this before its callers allocate,
    whatever order they came in and whichever pools they name (``Store.write_grouped``). Returns the
    pipeline the batch's allocations can share on PostgreSQL, when all of them can run in one."""
    found = _pools_with_ranges(session, names, lock=True)
    now = utcnow()
    if is_postgres(session) and all(pipelinable(pool, ranges, now) for pool, ranges in found.values()):
        return pipelined(session)
    return None


def pipelinable(pool: PoolRow, ranges: dict[str, RangeRow], now: datetime) -> bool:
    """Whether allocating in the pool needs only plain DB-API statements, which can run in a psycopg
    pipeline (``pipelined``): not the savepoint of prefer-dual-stack, nor the ORM queries that free
    expired quarantines."""
    return pool.family_policy != "prefer-dual-stack" and not any(
        r.next_reclaim_at is not None and r.next_reclaim_at <= now for r in ranges.values())


def pool_with_ranges(session: Session, name: str, lock: bool) -> tuple[PoolRow, dict[str, RangeRow]]:
    """The pool and its ranges by purpose (ipv4, ipv6-address, ipv6-delegation) in one query
    (a plan never makes a pool without ranges).

    With ``lock`` on PostgreSQL the range rows are locked (FOR UPDATE) in id order: this is the
    per-pool lock; other pools allocate in parallel. SQLite already holds its write lock.
    Locked rows cannot change under this transaction but through the allocators, which keep the
    row objects in step with what they write; so a transaction asks the database once per pool
    (a group commit's batch provisions many subscribers, locking all their pools at once: ``lock_pools``).
    """
    locked: dict[str, tuple[Any, PoolRow, dict[str, RangeRow]]] = session.info.setdefault(_LOCKED_POOLS, {})
    if lock and (hit := locked.get(name)) is not None and hit[0] is session.get_transaction():
        return hit[1], hit[2]
    found = _pools_with_ranges(session, [name], lock).get(name)
    if found is None:
        raise NotFoundError(f"unknown pool {name!r}")
    return found


def forget_locked_pool(session: Session, name: str) -> None:
    """After a savepoint rollback: the kept rows may hold counters the database no longer has."""
    session.info.get(_LOCKED_POOLS, {}).pop(name, None)


_LOCKED_POOLS = "v6ops.locked_pools"


def range_for(session: Session, vrf_id: int, prefix: Prefix) -> RangeRow:
    """The pool range of this VRF that contains ``prefix`` (ranges never overlap), locked."""
    key = network_key(prefix.version, prefix.network)
    candidates = session.connection().execute(
        select(PREFIXES.c.id, PREFIXES.c.family, PREFIXES.c.network, PREFIXES.c.length).where(
            PREFIXES.c.vrf_id == vrf_id, PREFIXES.c.family == prefix.version,
            PREFIXES.c.pool_id.is_not(None), PREFIXES.c.network <= key,
        )
    )
    for row_id, family, network, length in candidates:
        if Prefix(family, network_from_key(network), length).contains(prefix):
            return lock_ranges(session, [row_id])[0]
    raise NotFoundError(f"{prefix} is not inside any pool range of this VRF")
