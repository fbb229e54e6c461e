"""Stored probe runs and per-target history, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.ipam.fixtures import db_url, postgres_schemas, postgres_session_url, sqlite_template, store
from v6ops.probe.history import ProbeRunNotFoundError, load_run, save_run, target_history
from v6ops.store.db import Store

__all__ = ["db_url", "postgres_schemas", "postgres_session_url", "sqlite_template", "store"]


def run(run_id: str, minute: int, verdicts: dict[str, str]) -> dict:
    return {"id": run_id, "created_at": f"2026-12-05T10:{minute:02d}:00+00:00", "options": {"timeout": 3.0},
            "summary": {}, "results": [{"target": t, "verdict": v, "started_at": f"2026-12-05T10:{minute:02d}:01.5+00:00",
                                        "addresses": [{"address": "2001:db8::1", "tcp_connect_ms": 1.25}]}
                                       for t, v in verdicts.items()]}


def test_runs_round_trip_and_history_is_per_target_oldest_first(store: Store):
    save_run(store, run("a" * 32, 1, {"x.test": "dual-stack ok", "y.test": "IPv4 only"}))
    save_run(store, run("b" * 32, 2, {"x.test": "IPv6 broken"}))
    save_run(store, run("c" * 32, 3, {"x.test": "dual-stack ok"}))
    assert load_run(store, "b" * 32) == run("b" * 32, 2, {"x.test": "IPv6 broken"})
    assert [h["verdict"] for h in target_history(store, "x.test")] == ["dual-stack ok", "IPv6 broken", "dual-stack ok"]
    assert [h["verdict"] for h in target_history(store, "x.test", limit=2)] == ["IPv6 broken", "dual-stack ok"]
    assert target_history(store, "nobody.test") == []
    with pytest.raises(ProbeRunNotFoundError, match="does not exist"):
        load_run(store, "d" * 32)


def test_a_failed_save_leaves_nothing(store: Store):
    # Names of its own: the PostgreSQL fixture empties only the IPAM's tables between tests.
    bad = run("e" * 32, 1, {"failed-save.test": "dual-stack ok"})
    bad["results"][0]["started_at"] = "not a time"
    with pytest.raises(ValueError):
        save_run(store, bad)
    with pytest.raises(ProbeRunNotFoundError):
        load_run(store, "e" * 32)
    assert target_history(store, "failed-save.test") == []
