"""Marks the service keeps about itself: when something last happened (a flow report, an event delivery)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from v6ops.store.models import Base


class Heartbeat(Base):
    """The last time ``name`` happened, with a few facts about it; read by ``/health/ipv6``."""

    __tablename__ = "heartbeats"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def beat(session: Session, name: str, at: datetime, **data: Any) -> None:
    row = session.get(Heartbeat, name)
    if row is None:
        session.add(Heartbeat(name=name, at=at, data=data))
    else:
        row.at, row.data = at, data
