"""The IPAM schema. Networks are stored twice on purpose: a sortable big-endian key that
the allocator indexes, and a ``cidr`` column that PostgreSQL's exclusion constraints check.

Times are naive UTC on both databases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v6ops.store.types import BigCount, Cidr


class Base(DeclarativeBase):
    """The metadata every v6ops table belongs to (one Alembic history)."""


class Vrf(Base):
    """A routing domain ("space"): prefixes in different VRFs may overlap."""

    __tablename__ = "vrfs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")


class Pool(Base):
    """What a customer gets: up to one IPv4, one IPv6-address and one IPv6-delegation range."""

    __tablename__ = "pools"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    family_policy: Mapped[str] = mapped_column(String(20), default="dual-stack")
    threshold_percent: Mapped[int] = mapped_column(SmallInteger, default=80)
    lab: Mapped[bool] = mapped_column(Boolean, default=False)
    quarantine_seconds: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(String(255), default="")
    # The tenant whose pool this is; NULL: the operator's own (tenant-scoped callers do not see it).
    tenant: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PlanPrefix(Base):
    """A prefix of the plan: a container (aggregate, region, city) or an allocatable range of a pool."""

    __tablename__ = "prefixes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vrf_id: Mapped[int] = mapped_column(ForeignKey("vrfs.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("prefixes.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    family: Mapped[int] = mapped_column(SmallInteger)
    network: Mapped[bytes] = mapped_column(LargeBinary(16))
    length: Mapped[int] = mapped_column(SmallInteger)
    cidr: Mapped[str] = mapped_column(Cidr())
    role: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(255), default="")
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), nullable=True, index=True)
    purpose: Mapped[str | None] = mapped_column(String(20), nullable=True)
    customer_length: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    # NetBox's "is pool": every address usable, no network/broadcast/subnet-router exclusion.
    all_usable: Mapped[bool] = mapped_column(Boolean, default=True)
    used_units: Mapped[int] = mapped_column(BigCount(), default=0)
    total_units: Mapped[int] = mapped_column(BigCount(), default=0)
    alerting: Mapped[bool] = mapped_column(Boolean, default=False)
    # Earliest end of a quarantine in this range, so allocations look for expired ones only when due.
    next_reclaim_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    __table_args__ = (UniqueConstraint("vrf_id", "family", "network", "length", name="uq_prefix_vrf_network"),)


class FreeBlock(Base):
    """Maximal aligned free block of a range (buddy system), by size (the primary key) and by address
    (first fit: ``ipam.freespace``)."""

    __tablename__ = "free_blocks"
    __table_args__ = (Index("ix_free_blocks_prefix_network", "prefix_id", "network"),)
    prefix_id: Mapped[int] = mapped_column(ForeignKey("prefixes.id", ondelete="CASCADE"), primary_key=True)
    length: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    network: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)


class Subscriber(Base):
    __tablename__ = "subscribers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    tenant: Mapped[str] = mapped_column(String(64), default="default", index=True)
    service_tier: Mapped[str] = mapped_column(String(32), default="residential")
    ipv4_download_bps: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ipv4_upload_bps: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ipv6_download_bps: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ipv6_upload_bps: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    dns_name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    region: Mapped[str] = mapped_column(String(64))
    dns_name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    vrf_id: Mapped[int] = mapped_column(ForeignKey("vrfs.id"))
    ipv4: Mapped[bytes | None] = mapped_column(LargeBinary(4), nullable=True)
    ipv6: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True)
    # The /64 (or other subnet) allocation a bulk import placed this device in; no foreign key
    # because allocations.device_id already points the other way and a cycle complicates DDL.
    subnet_allocation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    last_seen: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    tenant: Mapped[str] = mapped_column(String(64), default="default", server_default="default", index=True)
    __table_args__ = (
        UniqueConstraint("vrf_id", "ipv6", name="uq_device_ipv6"),
        Index("ix_devices_region_last_seen", "region", "last_seen"),
    )


class Allocation(Base):
    """An assignment or reservation. On PostgreSQL two rows of one VRF can never overlap."""

    __tablename__ = "allocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vrf_id: Mapped[int] = mapped_column(ForeignKey("vrfs.id"))
    prefix_id: Mapped[int] = mapped_column(ForeignKey("prefixes.id"))
    family: Mapped[int] = mapped_column(SmallInteger)
    network: Mapped[bytes] = mapped_column(LargeBinary(16))
    length: Mapped[int] = mapped_column(SmallInteger)
    cidr: Mapped[str] = mapped_column(Cidr())
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="active")
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), nullable=True, index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), nullable=True, index=True)
    dns_name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    reusable_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    __table_args__ = (
        UniqueConstraint("vrf_id", "family", "network", "length", name="uq_allocation_vrf_network"),
        Index("ix_allocations_quarantine", "prefix_id", "status", "reusable_at"),
    )


class Event(Base):
    """Something an operator should see: threshold crossed, IPv6 fallback, plan applied."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), nullable=True)
    subject: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
