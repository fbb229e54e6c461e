"""The store: migrations are idempotent, SQLite runs in WAL mode, PostgreSQL refuses overlaps itself."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from tests.ipam.fixtures import new_postgres_url
from v6ops.store.db import Store, StoreError
from v6ops.store.migrate import alembic_config, upgrade
from v6ops.store.models import Event
from v6ops.store.types import db_time


def test_migrations_create_every_table_and_rerun_cleanly(store: Store) -> None:
    upgrade(store.engine)  # already at head: a no-op
    tables = set(inspect(store.engine).get_table_names())
    assert {"vrfs", "pools", "prefixes", "free_blocks", "allocations", "subscribers", "devices", "events",
            "users", "credentials", "heartbeats", "alembic_version"} <= tables
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())  # every area's migration head
    assert "auth_0001" in heads
    with store.read() as session:
        assert set(session.execute(text("SELECT version_num FROM alembic_version")).scalars()) == heads


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path / 'x' / 'v6ops.db'}")  # the directory is created
    with store.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()


def test_bulk_writes_skip_the_wal_checkpoint_and_ordinary_writes_restore_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path / 'v6ops.db'}")
    store.migrate()
    with store.write(bulk=True) as session:
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        session.execute(text("INSERT INTO vrfs (name, description) VALUES ('bulk', '')"))
    with store.write() as session:  # the same pooled connection, back to SQLite's default
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    store.checkpoint()
    with store.read() as session:
        assert session.execute(text("SELECT name FROM vrfs")).scalars().all() == ["bulk"]
    store.close()


@pytest.mark.parametrize("moment", [datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, 6)])
def test_db_time_writes_what_sqlalchemy_writes(store: Store, moment: datetime) -> None:
    """Times written on the DB-API path read back equal and compare in SQL like SQLAlchemy's own."""
    with store.write() as session:
        session.add(Event(at=moment, kind="k", severity="info", message="orm", data={}))
        session.flush()
        raw = session.connection().connection.cursor()
        sqlite = store.dialect == "sqlite"
        raw.execute(
            "INSERT INTO events (at, kind, severity, subject, message, data) VALUES (?, 'k', 'info', '', 'raw', '{}')"
            if sqlite else
            "INSERT INTO events (at, kind, severity, subject, message, data) VALUES (%s, 'k', 'info', '', 'raw', '{}')",
            (db_time(moment, sqlite),),
        )
    with store.read() as session:
        assert [e.at for e in session.scalars(select(Event).order_by(Event.id))] == [moment, moment]
        assert session.scalar(select(func.count()).where(Event.at >= moment)) == 2


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="only sqlite:/// and postgresql:// are supported"):
        Store("mysql://db/x")


def _insert_allocation(session, cidr: str, vrf_id: int, prefix_id: int) -> None:  # type: ignore[no-untyped-def]
    session.execute(
        text("INSERT INTO allocations (vrf_id, prefix_id, family, network, length, cidr, kind, status, description, "
             "created_at) VALUES (:v, :p, 6, :n, 64, CAST(:c AS cidr), 'address', 'active', '', now())"),
        {"v": vrf_id, "p": prefix_id, "n": cidr.encode(), "c": cidr},
    )


@pytest.mark.requires("postgres")
def test_postgres_exclusion_constraint_stops_a_buggy_client(postgres_schemas: list[str]) -> None:
    """Overlapping rows written behind the allocator's back are refused by the database itself."""
    store = Store(new_postgres_url(postgres_schemas))
    store.migrate()
    with store.write() as session:
        vrf = session.execute(text("INSERT INTO vrfs (name, description) VALUES ('a', '') RETURNING id")).scalar()
        other = session.execute(text("INSERT INTO vrfs (name, description) VALUES ('b', '') RETURNING id")).scalar()
        prefix = session.execute(text(
            "INSERT INTO prefixes (vrf_id, name, family, network, length, cidr, role, description, all_usable, "
            "used_units, total_units, alerting) VALUES (:v, 'p', 6, '\\x00', 32, '2001:db8::/32', 'x', '', true, "
            "'0', '0', false) RETURNING id"), {"v": vrf}).scalar()
        _insert_allocation(session, "2001:db8::/64", vrf, prefix)
        _insert_allocation(session, "2001:db8::/64", other, prefix)  # another VRF may overlap
    with pytest.raises(IntegrityError, match="ex_allocations_no_overlap"), store.write() as session:
        session.execute(
            text("INSERT INTO allocations (vrf_id, prefix_id, family, network, length, cidr, kind, status, "
                 "description, created_at) VALUES (:v, :p, 6, 'x', 128, '2001:db8::5/128', 'address', 'active', "
                 "'', now())"), {"v": vrf, "p": prefix})
    with pytest.raises(IntegrityError, match="ex_pool_ranges_no_overlap"), store.write() as session:
        pool = session.execute(text(
            "INSERT INTO pools (name, role, family_policy, threshold_percent, lab, quarantine_seconds, description) "
            "VALUES ('p', 'x', 'dual-stack', 80, false, 0, '') RETURNING id")).scalar()
        for name, cidr in (("r1", "2001:db8::/48"), ("r2", "2001:db8::/56")):
            session.execute(text(
                "INSERT INTO prefixes (vrf_id, name, family, network, length, cidr, role, description, pool_id, "
                "all_usable, used_units, total_units, alerting) VALUES (:v, :n, 6, :k, 48, CAST(:c AS cidr), 'x', "
                "'', :p, true, '0', '0', false)"), {"v": vrf, "n": name, "k": name.encode(), "c": cidr, "p": pool})
    with store.read() as session:
        assert session.execute(text("SELECT count(*) FROM allocations")).scalar() == 2
        assert session.execute(text("SELECT count(*) FROM pools")).scalar() == 0
    store.close()


@pytest.mark.requires("postgres")
def test_postgres_builds_the_free_block_index_concurrently_and_reruns_after_a_failed_build(
        postgres_schemas: list[str]) -> None:
    """ipam_0002 builds its index CONCURRENTLY (allocations keep writing during the build), and an
    INVALID index left by an interrupted concurrent build does not stop the migration from running again."""
    store = Store(new_postgres_url(postgres_schemas))
    upgrade(store.engine, "0001")
    with store.engine.connect() as conn:  # a concurrent build that failed: an INVALID index of that name
        conn.execute(text("INSERT INTO vrfs (name, description) VALUES ('a', '')"))
        conn.execute(text(
            "INSERT INTO prefixes (vrf_id, name, family, network, length, cidr, role, description, all_usable, "
            "used_units, total_units, alerting) SELECT id, 'p', 6, '\\x00', 32, '2001:db8::/32', 'x', '', true, "
            "'0', '0', false FROM vrfs"))
        conn.execute(text(
            "INSERT INTO free_blocks (prefix_id, network, length) SELECT p.id, CAST(n AS bytea), 64 "
            "FROM prefixes p, (VALUES ('\\x01'), ('\\x02')) AS v(n)"))
        conn.commit()
        conn.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(IntegrityError):
            conn.execute(text("CREATE UNIQUE INDEX CONCURRENTLY ix_free_blocks_prefix_network ON free_blocks (prefix_id)"))
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    upgrade(store.engine)
    assert any(s.startswith("CREATE INDEX CONCURRENTLY ix_free_blocks_prefix_network") for s in statements)
    with store.read() as session:
        row = session.execute(text(
            "SELECT i.indisvalid, i.indisunique, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'ix_free_blocks_prefix_network' "
            "AND c.relnamespace = current_schema()::regnamespace")).one()
    assert row[0] is True and row[1] is False and row[2].endswith("(prefix_id, network)")
    store.close()
