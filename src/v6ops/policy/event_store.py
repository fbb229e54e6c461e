"""Security events kept in the database for ``/api/v1/security/events`` and investigations; also a Sink.

Inserts are batched (``batch_size`` or ``flush``); an event whose id is already stored is skipped,
so re-delivering a replayed capture (same deterministic ids) does not duplicate it.

Reads take ``tenant``: None for the whole installation, else only that customer's events (another
tenant's event is "not found"; events without a customer, such as flow detections, are the
installation's).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from v6ops.events import EventType, SecurityEvent, Severity
from v6ops.store.db import Store
from v6ops.store.security_models import SecurityEventRow

MAX_PAGE = 1000


class EventQueryError(ValueError):
    """A query parameter that cannot be used; the message names it."""


class EventPage(BaseModel):
    events: list[dict[str, Any]]
    total: int
    offset: int
    limit: int
    next_offset: int | None


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


class EventStore:
    def __init__(self, store: Store, batch_size: int = 500) -> None:
        self.store = store
        self.batch_size = batch_size
        self.pending: list[SecurityEvent] = []
        self.lock = threading.Lock()

    def emit(self, event: SecurityEvent) -> None:
        with self.lock:
            self.pending.append(event)
            full = len(self.pending) >= self.batch_size
        if full:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
        if not batch:
            return
        unique = {e.event_id: e for e in batch}
        with self.store.write() as session:
            known = set(session.scalars(select(SecurityEventRow.event_id).where(
                SecurityEventRow.event_id.in_(list(unique)))))
            session.add_all(SecurityEventRow(
                event_id=e.event_id, timestamp=_naive(e.timestamp), vm_id=e.vm_id, customer_id=e.customer_id,
                event_type=e.event_type.value, severity=e.severity.value, severity_rank=e.severity.rank,
                source_ip=e.source_ip, event=e.to_dict()) for e in unique.values() if e.event_id not in known)

    def close(self) -> None:
        self.flush()

    def get(self, event_id: str, tenant: str | None = None) -> SecurityEvent | None:
        with self.store.read() as session:
            row = session.get(SecurityEventRow, event_id)
            if row is None or (tenant is not None and row.customer_id != tenant):
                return None
            return SecurityEvent.model_validate(row.event)

    def query(self, *, vm_id: str | None = None, customer_id: str | None = None, start: datetime | None = None,
              end: datetime | None = None, event_type: str | None = None, severity: str | None = None,
              min_severity: str | None = None, offset: int = 0, limit: int = 100,
              tenant: str | None = None) -> EventPage:
        """Events newest first; ``start`` inclusive, ``end`` exclusive; ``min_severity`` means that or worse."""
        if not 1 <= limit <= MAX_PAGE:
            raise EventQueryError(f"limit {limit} must be 1-{MAX_PAGE}")
        if offset < 0:
            raise EventQueryError(f"offset {offset} must be >= 0")
        stmt = select(SecurityEventRow)
        try:
            if event_type:
                stmt = stmt.where(SecurityEventRow.event_type == EventType(event_type).value)
            if severity:
                stmt = stmt.where(SecurityEventRow.severity == Severity(severity).value)
            if min_severity:
                stmt = stmt.where(SecurityEventRow.severity_rank >= Severity(min_severity).rank)
        except ValueError as exc:
            raise EventQueryError(f"{exc}; event types: {', '.join(EventType)}; severities: "
                                  f"{', '.join(Severity)}") from exc
        if start and end and start >= end:
            raise EventQueryError(f"start {start.isoformat()} is not before end {end.isoformat()}")
        if vm_id:
            stmt = stmt.where(SecurityEventRow.vm_id == vm_id)
        if customer_id:
            stmt = stmt.where(SecurityEventRow.customer_id == customer_id)
        if tenant is not None:
            stmt = stmt.where(SecurityEventRow.customer_id == tenant)
        if start:
            stmt = stmt.where(SecurityEventRow.timestamp >= _naive(start))
        if end:
            stmt = stmt.where(SecurityEventRow.timestamp < _naive(end))
        with self.store.read() as session:
            total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            rows = session.scalars(stmt.order_by(SecurityEventRow.timestamp.desc(), SecurityEventRow.event_id)
                                   .offset(offset).limit(limit)).all()
            events = [r.event for r in rows]
        nxt = offset + len(events)
        return EventPage(events=events, total=total, offset=offset, limit=limit, next_offset=nxt if nxt < total else None)

    def severity_counts(self, since: datetime, tenant: str | None = None) -> dict[str, int]:
        """Events per severity since ``since`` (every severity present, worst first): the overview's tally."""
        stmt = select(SecurityEventRow.severity, func.count()).where(SecurityEventRow.timestamp >= _naive(since))
        if tenant is not None:
            stmt = stmt.where(SecurityEventRow.customer_id == tenant)
        with self.store.read() as session:
            found = {severity: n for severity, n in session.execute(stmt.group_by(SecurityEventRow.severity))}
        return {s.value: int(found.get(s.value, 0)) for s in sorted(Severity, key=lambda s: -s.rank)}
