"""Databases and configs for the VM security API tests (SQLite per test, a PostgreSQL schema per session)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.ipam.fixtures import new_postgres_url
from v6ops.store.db import Store

TABLES = ("security_events", "security_vm_versions", "security_vms")


def web_config(**security: Any) -> dict[str, Any]:
    """A valid VM-side ipv6_config (the seed's web server example, trimmed)."""
    sec: dict[str, Any] = {
        "profile": "SECURITY_PROFILE_HIGH",
        "ra_guard": {"enabled": True, "block_all_ra": False, "allowed_routers": ["fe80::1"], "max_ra_rate": 10},
        "source_validation": {"strict_ingress": True, "allowed_ingress_prefixes": ["2001:db8:1::/64"],
                              "block_private_addresses": True},
        "monitoring": {"enable_security_logging": True, "enable_metrics": True,
                       "siem_config": {"enabled": True, "endpoint": "https://siem.example/api/logs",
                                       "auth_token": "tok-SECRET-1", "log_format": "CEF"}},
    }
    sec.update(security)
    return {"enabled": True, "addresses": ["2001:db8:1::10/64"], "security": sec,
            "interface": {"name": "eth0", "mtu": 1500, "vlan": {"vlan_id": 100, "priority": 3, "name": "cust"}}}


@pytest.fixture(scope="session")
def vm_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vmtemplate") / "vms.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.close()
    return path


@pytest.fixture(scope="session")
def vm_postgres_url(postgres_schemas: list[str]) -> str:
    url = new_postgres_url(postgres_schemas)
    store = Store(url)
    store.migrate()
    store.close()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.requires("postgres"))])
def vm_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "vms.db"
        shutil.copyfile(request.getfixturevalue("vm_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("vm_postgres_url")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()
    return url
