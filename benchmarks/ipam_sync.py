"""Sync into FreeRADIUS's and Kea's real PostgreSQL schemas vs plain COPY of the same rows, in one run.

    python benchmarks/ipam_sync.py [--subscribers 100000] [--changed 1000] [--small 10000]

For each total (``--small`` and ``--subscribers``) it builds an IPAM (SQLite) of dual-stack subscribers
with a RADIUS User-Name and password, a DUID and a MAC, creates an empty FreeRADIUS database (its
schema.sql) and an empty Kea database (``kea-admin db-init pgsql``) on the test PostgreSQL, and times:

  baseline  COPY of exactly the rows the sync writes (radcheck, radreply, radusergroup, hosts,
            ipv6_reservations) into the empty schemas, no reading, no diff;
  full      ``sync radius --full`` + ``sync kea --full`` into the emptied schemas (reads the IPAM,
            reads the target, diffs, writes by COPY);
  again     the same full sync with nothing changed (writes nothing);
  changed   ``--changed`` subscribers changed through the service (half suspended, half given a new
            User-Name and MAC), then the incremental ``sync radius`` + ``sync kea`` from the queue;
  baseline  COPY of the rows of those subscribers only (into empty same-indexed copies of the tables).

The subscribers and their allocations are written with SQL in the order first fit gives (as
benchmarks/ipam_common.py does): the allocator has benchmarks of its own; this one measures the sync.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from v6ops.addr import Prefix
from v6ops.ipam import service
from v6ops.ipam.identities import Identities, hash_password
from v6ops.ipam.plan import parse_plan
from v6ops.ipam.provisioning import kea, radius
from v6ops.ipam.provisioning import service as provisioning_service
from v6ops.ipam.provisioning.inventory import load_inventory
from v6ops.ipam.provisioning.settings import ProvisioningSettings
from v6ops.ipam.subscribers import SubscriberUpdate
from v6ops.store.db import Store
from v6ops.store.models import PlanPrefix
from v6ops.store.types import network_key

POSTGRES = os.environ.get("V6OPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
RADIUS_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
PLAN = {"vrfs": ["global"], "pools": [{
    "name": "bench", "role": "residential", "lab": True,
    "ipv4": {"prefix": "100.64.0.0/12", "customer_length": 32, "cgn": True},
    "ipv6_address": {"prefix": "2001:db8:ff01:1::/64", "customer_length": 128, "subnet": True},
    "ipv6_delegation": {"prefix": "2001:db8::/40", "customer_length": 56}}]}


def db_url(name: str) -> str:
    return POSTGRES.split("?")[0].rsplit("/", 1)[0] + "/" + name


def make_targets(tag: str) -> dict[str, str]:
    names = {"radius": f"v6ops_bench_radius_{tag}", "kea": f"v6ops_bench_kea_{tag}"}
    with psycopg.connect(POSTGRES.split("?")[0], autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(db_url(names["radius"]), autocommit=True) as conn:
        conn.execute(RADIUS_SCHEMA.read_text())
    url = urlsplit(db_url(names["kea"]))
    subprocess.run(["kea-admin", "db-init", "pgsql", "-u", url.username or "postgres", "-p", url.password or "x",
                    "-n", names["kea"], "-h", url.hostname or "127.0.0.1", "-P", str(url.port or 5432)],
                   check=True, capture_output=True)
    return {k: db_url(v) for k, v in names.items()}


def drop_targets(urls: dict[str, str]) -> None:
    with psycopg.connect(POSTGRES.split("?")[0], autocommit=True) as conn:
        for url in urls.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def build_ipam(path: Path, count: int) -> Store:
    store = service.open_store(f"sqlite:///{path}")
    service.plan_apply(store, parse_plan(PLAN))
    secret = hash_password("bench-password")
    now = datetime(2026, 1, 1)
    with store.write() as session:
        ranges = {r.purpose: r for r in session.query(PlanPrefix).filter(PlanPrefix.pool_id.is_not(None))}
        conn = session.connection()
        conn.exec_driver_sql(
            "INSERT INTO subscribers (id, name, tenant, service_tier, status, dns_name, created_at) "
            "VALUES (?, ?, 'default', 'residential', 'active', ?, ?)",
            [(i, f"s{i}", f"s{i}.isp.example", now) for i in range(1, count + 1)])
        conn.exec_driver_sql(
            "INSERT INTO subscriber_identities (subscriber_id, kind, value, auth, secret) VALUES (?, ?, ?, ?, ?)",
            [row for i in range(1, count + 1) for row in (
                (i, "radius-username", f"s{i}@isp.example", "password", secret),
                (i, "duid", "00:03:00:01:" + (0x020000000000 + i).to_bytes(6, "big").hex(":"), None, None),
                (i, "mac", (0x020000000000 + i).to_bytes(6, "big").hex(":"), None, None))])
        for purpose, kind in (("ipv4", "address"), ("ipv6-address", "address"), ("ipv6-delegation", "delegated-prefix")):
            r = ranges[purpose]
            assert r.customer_length is not None
            parent = Prefix(r.family, int.from_bytes(r.network, "big"), r.length)
            size = 1 << (parent.width - r.customer_length)
            first = parent.network + (size if purpose == "ipv6-address" else 0)  # ::0 is the subnet-router anycast
            conn.exec_driver_sql(
                "INSERT INTO allocations (vrf_id, prefix_id, family, network, length, cidr, kind, status, "
                "subscriber_id, dns_name, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, '', ?)",
                [(r.vrf_id, r.id, r.family, network_key(r.family, first + i * size), r.customer_length,
                  str(Prefix(r.family, first + i * size, r.customer_length)), kind, i + 1, f"s{i + 1}.isp.example", now)
                 for i in range(count)])
    return store


def radius_copy_rows(store: Store, ids: set[int] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    with store.read() as session:
        inv = load_inventory(session, ids)
    rows = radius.all_rows(inv)
    return {"radcheck": [(r.username, r.attribute, r.op, r.value) for r in rows if r.table == "radcheck"],
            "radreply": [(r.username, r.attribute, r.op, r.value) for r in rows if r.table == "radreply"],
            "radusergroup": [(u, radius.MANAGED_GROUP, 0) for u in sorted({r.username for r in rows})],
            "hosts": [(i, h.identifier, h.identifier_type, h.subnet_id if h.family == 4 else None,
                       h.subnet_id if h.family == 6 else None, h.ipv4_address, h.hostname, h.user_context)
                      for i, h in enumerate(kea.all_hosts(inv), 1_000_000_000)],
            "ipv6_reservations": [(a, n, t, None, i) for i, h in enumerate(kea.all_hosts(inv), 1_000_000_000)
                                  for a, n, t in h.reservations]}


COLUMNS = {"radcheck": "username, attribute, op, value", "radreply": "username, attribute, op, value",
           "radusergroup": "username, groupname, priority",
           "hosts": "host_id, dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id, dhcp6_subnet_id, "
                    "ipv4_address, hostname, user_context",
           "ipv6_reservations": "address, prefix_len, type, dhcp6_iaid, host_id"}


def baseline_copy(urls: dict[str, str], rows: dict[str, list[tuple[Any, ...]]], scratch: bool = False) -> float:
    """Plain COPY of the rows, one committed transaction per database: into the target tables, or (``scratch``)
    into empty copies of them with the same indexes, made before and dropped after the timing."""
    elapsed = 0.0
    for target, tables in (("radius", ("radcheck", "radreply", "radusergroup")), ("kea", ("hosts", "ipv6_reservations"))):
        with psycopg.connect(urls[target], autocommit=True) as conn:
            names = {t: f"scratch_{t}" if scratch else t for t in tables}
            for table in tables if scratch else ():
                conn.execute(f"CREATE TABLE {names[table]} (LIKE {table} INCLUDING ALL)")
            start = time.perf_counter()
            with conn.transaction():
                for table in tables:
                    with conn.cursor().copy(f"COPY {names[table]} ({COLUMNS[table]}) FROM STDIN") as copy:
                        for row in rows[table]:
                            copy.write_row(row)
            elapsed += time.perf_counter() - start
            for table in tables if scratch else ():
                conn.execute(f"DROP TABLE {names[table]}")
    return elapsed


def sync_both(store: Store, settings: ProvisioningSettings, full: bool) -> tuple[float, int]:
    start = time.perf_counter()
    written = 0
    for target in ("radius", "kea"):
        report = provisioning_service.sync(store, target, settings, full=full)
        written += report["added"] + report["deleted"]
    return time.perf_counter() - start, written


def run(count: int, changed: int, tmp: Path) -> dict[str, float]:
    store = build_ipam(tmp / f"ipam-{count}.db", count)
    urls = make_targets(f"{os.getpid()}_{count}")
    settings = ProvisioningSettings(radius_database_url=urls["radius"], kea_database_url=urls["kea"])
    try:
        all_rows = radius_copy_rows(store)
        copy_full = baseline_copy(urls, all_rows)
        for target, tables in (("radius", "radcheck, radreply, radusergroup"), ("kea", "hosts")):
            with psycopg.connect(urls[target]) as conn:
                conn.execute(f"TRUNCATE {tables} CASCADE")
        full, written = sync_both(store, settings, full=True)
        again, rewritten = sync_both(store, settings, full=True)
        assert rewritten == 0, rewritten
        step = max(count // changed, 1)
        picked = list(range(1, count + 1, step))[:changed]
        for n, i in enumerate(picked):
            if n % 2:
                service.change_subscriber(store, f"s{i}", SubscriberUpdate(status="suspended"))
            else:
                mac = (0x060000000000 + i).to_bytes(6, "big").hex(":")
                service.change_subscriber(store, f"s{i}", SubscriberUpdate(
                    identities=Identities(radius_username=f"s{i}-new@isp.example", mac=mac)))
        incremental, changes = sync_both(store, settings, full=False)
        copy_changed = baseline_copy(urls, radius_copy_rows(store, set(picked)), scratch=True)
        return {"subscribers": count, "rows": sum(len(v) for v in all_rows.values()), "copy_full": copy_full,
                "sync_full": full, "written_full": written, "sync_again": again, "changed": len(picked),
                "sync_incremental": incremental, "written_incremental": changes, "copy_changed": copy_changed}
    finally:
        service.open_store.cache_clear()
        store.close()
        drop_targets(urls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10_000, help="a smaller total: the incremental time must not grow")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(n, args.changed, Path(tmp)) for n in (args.small, args.subscribers)]
    print(f"{'subscribers':>11} {'rows':>8} {'COPY all':>9} {'full sync':>9} {'no-op':>7} "
          f"{'changed':>7} {'incr sync':>9} {'COPY chg':>9}")
    for r in results:
        print(f"{r['subscribers']:>11} {r['rows']:>8} {r['copy_full']:>8.2f}s {r['sync_full']:>8.2f}s "
              f"{r['sync_again']:>6.2f}s {r['changed']:>7} {r['sync_incremental']:>8.3f}s {r['copy_changed']:>8.3f}s")
    small, big = results
    print(f"incremental sync of {big['changed']} at {small['subscribers']} vs {big['subscribers']} subscribers: "
          f"{small['sync_incremental']:.3f}s vs {big['sync_incremental']:.3f}s")
    print(f"ratio full sync / COPY ({big['subscribers']} subscribers): {big['sync_full'] / big['copy_full']:.2f}x; "
          f"incremental sync / COPY of the changed rows: {big['sync_incremental'] / big['copy_changed']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
