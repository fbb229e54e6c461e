"""Stored probe runs and each target's history (``v6ops probe --every``, ``GET /api/v1/probes/{id}``).

A result is kept as the same JSON object the CLI prints and the API returns; the columns
beside it are what history queries filter and sort on. Times are naive UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from v6ops.store.models import Base


class ProbeRun(Base):
    __tablename__ = "probe_runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    target_count: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class ProbeResult(Base):
    __tablename__ = "probe_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("probe_runs.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(2048))
    verdict: Mapped[str] = mapped_column(String(64))
    probed_at: Mapped[datetime] = mapped_column(DateTime)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_probe_results_target_time", "target", "probed_at"),)
