"""Snapshots to prove a failed operation changed nothing."""

from __future__ import annotations

from sqlalchemy import text

from v6ops.store.db import Store

TABLES = ("vrfs", "pools", "prefixes", "free_blocks", "allocations", "subscribers", "devices", "events",
          "subscriber_identities")


def snapshot(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every IPAM table, in a stable order."""
    with store.read() as session:
        return {
            t: sorted(tuple(str(v) for v in row) for row in session.execute(text(f"SELECT * FROM {t}")))
            for t in TABLES
        }
