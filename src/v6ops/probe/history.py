"""Probe runs in the database: saved whole (for ``GET /api/v1/probes/{id}``) and per target (history)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from v6ops.store.db import Store
from v6ops.store.probe_models import ProbeResult, ProbeRun


class ProbeRunNotFoundError(ValueError):
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"probe run {run_id!r} does not exist")


def _naive_utc(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC).replace(tzinfo=None)
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


def save_run(store: Store, run: dict[str, Any]) -> None:
    """One transaction: the run and a history row per target, or nothing."""
    with store.write() as session:
        session.add(ProbeRun(id=run["id"], created_at=_naive_utc(run["created_at"]), target_count=len(run["results"]),
                             body=run))
        session.flush()
        session.add_all(ProbeResult(run_id=run["id"], target=r["target"][:2048], verdict=r["verdict"][:64],
                                    probed_at=_naive_utc(r.get("started_at")), body=r) for r in run["results"])


def load_run(store: Store, run_id: str) -> dict[str, Any]:
    with store.read() as session:
        row = session.get(ProbeRun, run_id)
        if row is None:
            raise ProbeRunNotFoundError(run_id)
        return dict(row.body)


def target_history(store: Store, target: str, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` results for one target, oldest first."""
    with store.read() as session:
        rows = session.scalars(select(ProbeResult).where(ProbeResult.target == target)
                               .order_by(ProbeResult.probed_at.desc(), ProbeResult.id.desc()).limit(limit)).all()
        return [dict(r.body) for r in reversed(rows)]
