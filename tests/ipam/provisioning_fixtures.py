"""A plan with subscribers of every kind, shared by the export, sync and check tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.resources import POSTGRES_URL
from v6ops.ipam import service
from v6ops.ipam.identities import Identities
from v6ops.ipam.plan import parse_plan
from v6ops.ipam.subscribers import SubscriberSpec, SubscriberUpdate
from v6ops.store.db import Store, open_store

# An IPv4 range smaller than a /24 (RFC 2317 reverse zone) and a /47 delegation range (two /48 zones).
EXTRA_PLAN = yaml.safe_load("""
prefixes:
  - {name: small-v4, prefix: 198.51.100.0/24, role: aggregate}
pools:
  - name: small-business
    role: business
    lab: true
    ipv4: {prefix: 198.51.100.64/26, customer_length: 32}
    ipv6_address: {prefix: 2001:db8:ff01:3::/64, customer_length: 128, subnet: true}
    ipv6_delegation: {prefix: 2001:db8:2::/47, customer_length: 56}
""")
PASSWORD = "secure_password"


def wg_public_key() -> str:
    private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout
    return subprocess.run(["wg", "pubkey"], input=private, capture_output=True, text=True, check=True).stdout.strip()


def add(store: Store, name: str, pool: str, **ids: str) -> dict[str, object]:
    return service.add_subscriber(store, SubscriberSpec(
        name=name, pool=pool, dns_name=f"{name}.isp.example", identities=Identities.model_validate(ids)))


def populate(store: Store, plan: Path, wg_key: str | None = None) -> dict[str, dict[str, object]]:
    """sub123 (password, DUID-LL, MAC), biz1 (NAS profile, DUID-EN, client-id, /29), small1 (RFC 2317 range,
    DUID-UUID, circuit-id), gone (suspended), v6only (no IPv4)."""
    service.plan_apply(store, parse_plan(yaml.safe_load(plan.read_text()), str(plan)))
    service.plan_apply(store, parse_plan(EXTRA_PLAN, "extra plan"))
    made = {
        "sub123": add(store, "sub123", "city-1-residential", radius_username="user@example.com",
                      radius_password=PASSWORD, duid="00:03:00:01:00:11:22:33:44:55", mac="00:11:22:33:44:55",
                      **({"wireguard_public_key": wg_key} if wg_key else {})),
        "biz1": add(store, "biz1", "city-1-business", radius_username="biz1", radius_auth="nas",
                    duid="00:02:00:00:09:bf:62:69:7a:31", dhcpv4_client_id="01:00:11:22:33:44:66"),
        "small1": add(store, "small1", "small-business", radius_username="small1", radius_password="pw-small",
                      duid="00:04:" + ":".join(["5a"] * 16), circuit_id="olt7/1/3"),
        "gone": add(store, "gone", "city-1-residential", radius_username="gone", radius_password="pw-gone",
                    duid="00:01:00:01:2a:3b:4c:5d:00:11:22:33:44:77", mac="00:11:22:33:44:77"),
        "v6only": add(store, "v6only", "city-2-residential-v6only", radius_username="v6only", radius_password="pw6",
                      duid="00:03:00:01:00:11:22:33:44:88"),
    }
    service.change_subscriber(store, "gone", SubscriberUpdate(status="suspended"))
    return made


RADIUS_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")


def _admin_url() -> str:
    return POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")


def database_url(name: str) -> str:
    """The test server's URL with another database name (query options dropped)."""
    base = _admin_url().split("?")[0]
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def target_databases() -> Iterator[dict[str, str]]:
    """A FreeRADIUS database (its schema.sql) and a Kea database (kea-admin db-init pgsql), dropped at the end."""
    import psycopg

    names = {"radius": f"v6ops_radius_{os.getpid()}", "kea": f"v6ops_kea_{os.getpid()}"}
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(database_url(names["radius"]), autocommit=True) as conn:
            conn.execute(RADIUS_SCHEMA.read_text())
        parsed = urlsplit(database_url(names["kea"]))
        subprocess.run(["kea-admin", "db-init", "pgsql", "-u", parsed.username or "postgres", "-p",
                        parsed.password or "unused", "-n", names["kea"], "-h", parsed.hostname or "127.0.0.1",
                        "-P", str(parsed.port or 5432)],
                       check=True, capture_output=True, env={**os.environ, "PGPASSWORD": parsed.password or ""})
        yield {k: database_url(v) for k, v in names.items()}
    finally:
        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def targets(target_databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Empty RADIUS and Kea tables, and the settings pointing at them."""
    import psycopg

    with psycopg.connect(target_databases["radius"], autocommit=True) as conn:
        conn.execute("TRUNCATE radcheck, radreply, radusergroup RESTART IDENTITY")
    with psycopg.connect(target_databases["kea"], autocommit=True) as conn:
        conn.execute("DELETE FROM hosts")
    monkeypatch.setenv("V6OPS_PROVISIONING_RADIUS_DATABASE_URL", target_databases["radius"])
    monkeypatch.setenv("V6OPS_PROVISIONING_KEA_DATABASE_URL", target_databases["kea"])
    return target_databases


@pytest.fixture
def sqlite_store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "ipam.db"
    shutil.copyfile(sqlite_template, path)
    store = open_store(f"sqlite:///{path}")
    yield store
    open_store.cache_clear()
    store.close()
