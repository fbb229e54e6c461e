"""The sync queue: every IPAM change that can alter a subscriber's RADIUS or Kea records adds a row here,
in the same transaction as the change, so an incremental sync reads only what changed and nothing is lost
when a target is down (rows are removed only after the target has committed)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from v6ops.store.db import many_rows, run_driver
from v6ops.store.provisioning_models import ProvisioningQueue

QUEUED_TARGETS = ("radius", "kea")
_QUEUE: Table = ProvisioningQueue.__table__  # type: ignore[assignment]
_DELETE_CHUNK = 10_000
_ONE_STATEMENT_ROWS = 64
_INSERT_ROW = f"INSERT INTO {_QUEUE.name} (target, subscriber_id, previous) VALUES (?, ?, ?)"


def enqueue(session: Session, subscriber_ids: Iterable[int], previous: Iterable[str] = ()) -> None:
    """Queue the subscribers for every target; ``previous`` (``kind:value``) are identities they just lost."""
    olds: list[str | None] = list(previous) or [None]
    rows = [{"target": t, "subscriber_id": i, "previous": p} for i in subscriber_ids for t in QUEUED_TARGETS
            for p in olds]
    if not rows:
        return
    if len(rows) <= _ONE_STATEMENT_ROWS:  # one multi-row INSERT: psycopg runs executemany as a pipeline, a sync more
        run_driver(session, many_rows(_INSERT_ROW, len(rows)), [v for row in rows for v in row.values()])
    else:
        session.execute(insert(_QUEUE), rows)


def pending(session: Session, target: str) -> list[tuple[int, int, str | None]]:
    """(queue id, subscriber id, previous identity) waiting for ``target``, oldest first."""
    stmt = select(_QUEUE.c.id, _QUEUE.c.subscriber_id, _QUEUE.c.previous).where(_QUEUE.c.target == target)
    return [(r[0], r[1], r[2]) for r in session.execute(stmt.order_by(_QUEUE.c.id))]


def last_id(session: Session, target: str) -> int:
    ids = session.scalars(select(_QUEUE.c.id).where(_QUEUE.c.target == target).order_by(_QUEUE.c.id.desc()).limit(1))
    return next(iter(ids), 0)


def consume(session: Session, target: str, ids: list[int] | None = None, up_to: int | None = None) -> None:
    """Remove the rows a sync has applied: exactly ``ids``, or every row up to ``up_to`` (a full sync)."""
    if up_to is not None:
        session.execute(delete(_QUEUE).where(_QUEUE.c.target == target, _QUEUE.c.id <= up_to))
    for start in range(0, len(ids or []), _DELETE_CHUNK):
        session.execute(delete(_QUEUE).where(_QUEUE.c.id.in_((ids or [])[start:start + _DELETE_CHUNK])))
