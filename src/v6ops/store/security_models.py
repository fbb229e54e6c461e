"""Tables of the VM security API: each VM's current IPv6 config, every version of it, and security events.

Times are naive UTC on both databases, like the IPAM's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from v6ops.store.models import Base


class SecurityVm(Base):
    """A VM whose IPv6 security v6ops manages; ``compiled`` is its nftables table for the current version."""

    __tablename__ = "security_vms"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    tier: Mapped[str] = mapped_column(String(32), default="", index=True)
    version: Mapped[int] = mapped_column(Integer)
    profile: Mapped[str] = mapped_column(String(32), default="", index=True)
    ipv6_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    compiled: Mapped[str] = mapped_column(Text)
    compiled_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class SecurityVmVersion(Base):
    """One version of a VM's config; kept after the VM is deleted (action ``delete``, config null)."""

    __tablename__ = "security_vm_versions"
    __table_args__ = (UniqueConstraint("vm_id", "version"), Index("ix_security_vm_versions_vm_time", "vm_id", "created_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vm_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(255), default="")
    ipv6_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    compiled_sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SecurityEventRow(Base):
    """A delivered :class:`v6ops.events.SecurityEvent`: indexed columns for the queries, the event as JSON."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_vm_time", "vm_id", "timestamp"),
                      Index("ix_security_events_customer_time", "customer_id", "timestamp"))
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime, index=True)
    vm_id: Mapped[str] = mapped_column(String(256))
    customer_id: Mapped[str] = mapped_column(String(256))
    event_type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    severity_rank: Mapped[int] = mapped_column(Integer)
    source_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
