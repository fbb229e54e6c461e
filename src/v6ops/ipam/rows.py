"""Plain rows of the allocation path: pools, ranges and new allocations outside the ORM session.

The allocation hot path reads these with one prebuilt Core select and writes with DB-API
statements; building ORM instances (and their unit of work) cost more than the SQL itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class PoolRow:
    id: int
    name: str
    role: str
    family_policy: str
    threshold_percent: int
    lab: bool
    quarantine_seconds: int
    description: str
    tenant: str | None = None


@dataclass(slots=True)
class RangeRow:
    """A pool range (a ``prefixes`` row with a pool); the allocator writes its counters back itself."""

    id: int
    vrf_id: int
    parent_id: int | None
    name: str
    family: int
    network: bytes
    length: int
    cidr: str
    role: str
    description: str
    pool_id: int | None
    purpose: str | None
    customer_length: int | None
    all_usable: bool
    used_units: int
    total_units: int
    alerting: bool
    next_reclaim_at: datetime | None


@dataclass(slots=True)
class AllocationRow:
    """An allocation just inserted (the same fields as the ``allocations`` table)."""

    id: int
    vrf_id: int
    prefix_id: int
    family: int
    network: bytes
    length: int
    cidr: str
    kind: str
    status: str
    subscriber_id: int | None
    device_id: int | None
    dns_name: str | None
    description: str
    created_at: datetime
    reusable_at: datetime | None = None
