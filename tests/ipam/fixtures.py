"""Databases for IPAM tests: a fresh SQLite file per test, a fresh PostgreSQL schema per test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from tests.resources import POSTGRES_URL, check_resource
from v6ops.ipam import service
from v6ops.ipam.plan import load_plan
from v6ops.store.db import Store, open_store

PLAN = Path(__file__).resolve().parents[2] / "docs" / "ipam-plan.yaml"


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[list[str]]:
    """Schemas made by this test session; all dropped at the end."""
    made: list[str] = []
    yield made
    if made and check_resource("postgres") is None:
        engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            for schema in made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def new_postgres_url(made: list[str], base: str = POSTGRES_URL) -> str:
    """A new schema in the database at ``base`` (appended to ``made``), as a URL that uses it."""
    schema = f"v6ops_ipam_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        # The extension lives in public so dropping a test schema never drops it for anyone else.
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public"))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    made.append(schema)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema},public')}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every time is slow)."""
    path = tmp_path_factory.mktemp("template") / "ipam.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.close()
    return path


@pytest.fixture(scope="session")
def postgres_session_url(postgres_schemas: list[str]) -> str:
    """One migrated PostgreSQL schema for the test session; each test starts from empty tables."""
    url = new_postgres_url(postgres_schemas)
    store = Store(url)
    store.migrate()
    store.close()
    return url


IPAM_TABLES = ("credentials", "users", "heartbeats", "events", "free_blocks", "allocations", "devices",
               "subscribers", "prefixes", "pools", "vrfs")


def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path, tables: tuple[str, ...], file_name: str) -> str:
    """The test's database (``request.param``): a copy of the migrated SQLite template, or the session's
    PostgreSQL schema with ``tables`` emptied. Every area's tables are in both: migrations run all heads.
    The SQLite file is ``tmp_path / file_name``."""
    if request.param == "sqlite":
        path = tmp_path / file_name
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_session_url")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        # DELETE, children first: on a few rows it is much faster than TRUNCATE.
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.requires("postgres"))])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(request, tmp_path, IPAM_TABLES, "ipam.db")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = open_store(db_url)
    yield store
    open_store.cache_clear()
    store.close()


@pytest.fixture
def planned(store: Store) -> Store:
    """A store with the example plan (docs/ipam-plan.yaml) applied."""
    service.plan_apply(store, load_plan(PLAN))
    return store
