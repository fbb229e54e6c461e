"""Bulk registration of IoT devices (a /128 each, 1,000 per /64, region and DNS name) vs bare sqlite3.

    python benchmarks/ipam_bulk_register.py [--devices 1000000]

Baseline: one ``sqlite3.executemany`` of the very same rows into an identical ``devices``
table (same DDL and indexes, same pragmas), rows prepared before the clock starts.
v6ops: ``register_devices`` from checked records, which allocates a /64 per 1,000 devices
through the allocator, skips names already present and commits per 50,000 devices.
Also: the end-to-end CSV import (parse + check every row twice + register).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path

from ipam_common import store_with_pool
from v6ops.ipam.devices import DeviceRow, ImportReport, import_devices, register_devices
from v6ops.store.db import SQLITE_CACHE_KIB


def rows(n: int) -> list[DeviceRow]:
    seen = datetime(2026, 11, 1)
    return [DeviceRow(f"sensor-{i:08d}", f"region-{i % 50}", f"sensor-{i:08d}.iot.example", seen) for i in range(n)]


def baseline(tmp: Path, devices: list[DeviceRow], ddl: list[str]) -> float:
    conn = sqlite3.connect(tmp / "bare.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    conn.execute("CREATE TABLE vrfs (id INTEGER PRIMARY KEY, name TEXT, description TEXT)")
    conn.execute("CREATE TABLE allocations (id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO vrfs VALUES (1, 'global', '')")
    for statement in ddl:
        conn.execute(statement)
    base = 0x20010DB8FF1000000000000000000000
    now = str(datetime(2026, 11, 22))
    data = [(d.name, d.region, d.dns_name, 1, (base + ((i // 1000) << 64) + i % 1000 + 1).to_bytes(16, "big"),
             i // 1000 + 1, "active", str(d.last_seen), now) for i, d in enumerate(devices)]
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO devices (name, region, dns_name, vrf_id, ipv6, subnet_allocation_id, status, "
                     "last_seen, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", data)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(data) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1_000_000)
    args = parser.parse_args()
    devices = rows(args.devices)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        store = store_with_pool(f"sqlite:///{tmp / 'v6ops.db'}", "iot", "2001:db8:ff10::/44", 64, "ipv6_address")
        report = ImportReport("memory")
        start = time.perf_counter()
        register_devices(store, "iot", devices, report)
        ours = args.devices / (time.perf_counter() - start)
        assert report.imported == args.devices and len(report.subnets) == -(-args.devices // 1000)
        ddl = [sql for (sql,) in sqlite3.connect(tmp / "v6ops.db").execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'devices' AND sql IS NOT NULL")]
        bare = baseline(tmp, devices, ddl)

        csv = tmp / "devices.csv"
        with csv.open("w") as fh:
            fh.write("name,region,dns_name,last_seen\n")
            fh.writelines(f"{d.name},{d.region},{d.dns_name},2026-11-01T00:00:00Z\n" for d in devices)
        store2 = store_with_pool(f"sqlite:///{tmp / 'csv.db'}", "iot", "2001:db8:ff10::/44", 64, "ipv6_address")
        start = time.perf_counter()
        csv_report = import_devices(store2, csv, "iot")
        end_to_end = args.devices / (time.perf_counter() - start)
        assert csv_report.imported == args.devices
    print(f"devices:                                  {args.devices:,}")
    print(f"bare sqlite3.executemany (same rows/DDL): {bare:>10,.0f} rows/s")
    print(f"v6ops CSV import end to end:              {end_to_end:>10,.0f} devices/s")
    print(f"v6ops register_devices:                   {ours:>10,.0f} devices/s")
    print(f"ratio v6ops register / bare executemany:  {ours / bare:.2f}")


if __name__ == "__main__":
    main()
