"""IoT devices: registration one by one or in bulk (a /128 each, N per subnet), and connectivity stats.

Bulk import is crash-safe by construction: every batch is one transaction holding the
subnet allocations and their devices, and a re-run skips device names already stored, so
a SIGKILL at any point leaves whole batches only and the re-run completes without duplicates.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlalchemy.orm import Session

from v6ops.ipam.dnsname import check_dns_name
from v6ops.ipam.engine import RangeAllocator, pool_with_ranges, utcnow
from v6ops.ipam.errors import ConflictError, IpamError, NotFoundError
from v6ops.ipam.lookup import by_name
from v6ops.store.db import Store
from v6ops.store.models import Device
from v6ops.store.types import db_time

DEVICES_PER_SUBNET = 1000
DEVICES_PER_TRANSACTION = 50_000
SUBNET_LENGTH = 64
FIELDS = ("name", "region", "dns_name", "last_seen")


@dataclass
class DeviceRow:
    name: str
    region: str
    dns_name: str | None
    last_seen: datetime | None


@dataclass
class ImportReport:
    source: str
    rows: int = 0
    imported: int = 0
    already_present: int = 0
    subnets: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows": self.rows, "imported": self.imported,
                "already_present": self.already_present, "subnets_allocated": len(self.subnets),
                "rejected": len(self.rejected), "rejections": self.rejected[:100]}


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def check_device(raw: dict[str, Any]) -> DeviceRow:
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise IpamError(f"unknown field(s) {', '.join(sorted(unknown))}; expected {', '.join(FIELDS)}")
    name, region = str(raw.get("name") or "").strip(), str(raw.get("region") or "").strip()
    if not name or len(name) > 128:
        raise IpamError("name must be 1 to 128 characters")
    if not region or len(region) > 64:
        raise IpamError("region must be 1 to 64 characters")
    dns = raw.get("dns_name") or None
    last_seen = raw.get("last_seen") or None
    try:
        seen = parse_time(str(last_seen)) if last_seen else None
    except ValueError as exc:
        raise IpamError(f"last_seen {last_seen!r} is not an ISO 8601 time") from exc
    return DeviceRow(name, region, check_dns_name(str(dns)) if dns else None, seen)


def read_rows(path: Path, required: tuple[str, ...] = ("name", "region")) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) for CSV with a header or JSON Lines; a string record is a parse error."""
    with path.open(newline="") as fh:
        if path.suffix in (".jsonl", ".ndjson", ".json"):
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, f"not valid JSON: {exc.msg}"
                    continue
                yield number, record if isinstance(record, dict) else "not a JSON object"
        else:
            reader = csv.DictReader(fh)
            missing = set(required) - set(reader.fieldnames or ())
            if missing:
                yield 1, f"the CSV header lacks {', '.join(sorted(missing))}"
                return
            for record in reader:
                if None in record:
                    yield reader.line_num, "more values than header columns"
                    continue
                yield reader.line_num, record


def validate_file(path: Path, report: ImportReport) -> None:
    names: set[str] = set()
    for number, record in read_rows(path):
        report.rows += 1
        try:
            if isinstance(record, str):
                raise IpamError(record)
            row = check_device(record)
            if row.name in names:
                raise IpamError(f"device name {row.name!r} appears twice in the file")
            names.add(row.name)
        except IpamError as exc:
            report.rejected.append({"line": number, "reason": str(exc)})


def import_devices(
    store: Store, path: Path, pool_name: str, progress: Callable[[int], None] | None = None,
    per_subnet: int = DEVICES_PER_SUBNET, per_transaction: int = DEVICES_PER_TRANSACTION,
) -> ImportReport:
    """Check the whole file first (any bad row: nothing is imported), then import in batches."""
    report = ImportReport(str(path))
    try:
        validate_file(path, report)
    except FileNotFoundError as exc:
        raise NotFoundError(f"import file {str(path)!r} does not exist") from exc
    if report.rejected:
        return report
    rows = (check_device(record) for _, record in read_rows(path) if isinstance(record, dict))
    register_devices(store, pool_name, rows, report, progress, per_subnet, per_transaction)
    return report


def register_devices(
    store: Store, pool_name: str, rows: Iterable[DeviceRow], report: ImportReport,
    progress: Callable[[int], None] | None = None, per_subnet: int = DEVICES_PER_SUBNET,
    per_transaction: int = DEVICES_PER_TRANSACTION,
) -> None:
    """Register checked devices, ``per_subnet`` per subnet, ``per_transaction`` per transaction."""
    if not 1 <= per_subnet < 1 << (128 - SUBNET_LENGTH):
        raise IpamError(f"devices per subnet must be at least 1, not {per_subnet}")
    if per_transaction < per_subnet or per_transaction % per_subnet:
        raise IpamError(f"devices per transaction ({per_transaction}) must be a multiple of {per_subnet}")
    pending = iter(rows)
    try:
        while batch := list(islice(pending, per_transaction)):
            _import_batch(store, pool_name, batch, per_subnet, report)
            if progress:
                progress(len(batch))
    finally:
        store.checkpoint()  # the batches skipped the per-commit checkpoint (Store.write(bulk=True))


def _import_batch(store: Store, pool_name: str, batch: list[DeviceRow], per_subnet: int, report: ImportReport) -> None:
    with store.write(bulk=True) as session:
        pool, ranges = pool_with_ranges(session, pool_name, lock=True)
        row = ranges.get("ipv6-address")
        if row is None:
            raise IpamError(f"pool {pool_name!r} has no ipv6_address range to place devices in")
        conn = session.connection()
        sqlite = conn.dialect.paramstyle == "qmark"
        marker = "?" if sqlite else "%s"
        present = _existing_names(conn, marker, [d.name for d in batch])
        todo = [d for d in batch if d.name not in present] if present else batch
        report.already_present += len(batch) - len(todo)
        if not todo:
            return
        allocator = RangeAllocator(session, row, pool)
        now = utcnow()
        stamp = functools.lru_cache(maxsize=4096)(functools.partial(db_time, sqlite=sqlite))
        sizes = [min(per_subnet, len(todo) - start) for start in range(0, len(todo), per_subnet)]
        subnets = [allocator.allocate(SUBNET_LENGTH, "device-subnet", now) for _ in sizes]
        # Column-wise, then one zip: the per-row work is C code (zip, repeat, bytes concatenation);
        # a device address is its /64's upper 8 bytes + a precomputed interface id.
        iids = _interface_ids(per_subnet)
        addresses = [s.network[:8] + iid for s, size in zip(subnets, sizes, strict=True) for iid in iids[:size]]
        subnet_ids = [s.id for s, size in zip(subnets, sizes, strict=True) for _ in range(size)]
        rows = list(zip(
            map(attrgetter("name"), todo), map(attrgetter("region"), todo), map(attrgetter("dns_name"), todo),
            repeat(row.vrf_id), addresses, subnet_ids, repeat("active"), map(stamp, map(attrgetter("last_seen"), todo)),
            repeat(stamp(now)), repeat(pool.tenant or "default"),
        ))
        conn.connection.cursor().executemany(
            "INSERT INTO devices (name, region, dns_name, vrf_id, ipv6, subnet_allocation_id, status, last_seen, "
            f"created_at, tenant) VALUES ({', '.join([marker] * 10)})", rows,
        )
    report.imported += len(todo)
    report.subnets += [s.cidr for s in subnets]


@functools.cache
def _interface_ids(per_subnet: int) -> list[bytes]:
    # Interface id 0 is the subnet-router anycast address (RFC 4291 section 2.6.1): start at ::1.
    return [i.to_bytes(8, "big") for i in range(1, per_subnet + 1)]


def _existing_names(conn: Connection, marker: str, names: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(names), 5000):
        chunk = names[i:i + 5000]
        result = conn.exec_driver_sql(f"SELECT name FROM devices WHERE name IN ({', '.join([marker] * len(chunk))})",
                                      tuple(chunk))
        found.update(r[0] for r in result)
    return found


def register_device(session: Session, row: DeviceRow, vrf_id: int, tenant: str = "default") -> Device:
    if session.scalar(select(Device.id).where(Device.name == row.name)) is not None:
        raise ConflictError(f"device {row.name!r} already exists")
    device = Device(name=row.name, region=row.region, dns_name=row.dns_name, vrf_id=vrf_id, status="active",
                    last_seen=row.last_seen, created_at=utcnow(), tenant=tenant)
    session.add(device)
    session.flush()
    return device


def device_by_name(session: Session, name: str) -> Device:
    return by_name(session, Device, name, "device")


def connectivity_stats(session: Session, now: datetime | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
    """Per region: active devices, devices with IPv6, seen in the last 24 h, connectivity rate. One query."""
    since = (now or utcnow()) - timedelta(hours=24)
    seen = func.sum(case((Device.last_seen >= since, 1), else_=0))
    stmt = (
        select(Device.region, func.count(), func.count(Device.ipv6), seen)
        .where(Device.status == "active").group_by(Device.region).order_by(Device.region)
    )
    if tenant is not None:
        stmt = stmt.where(Device.tenant == tenant)
    return [
        {"region": region, "total_devices": total, "ipv6_devices": ipv6, "last_seen_24h": int(recent or 0),
         "connectivity_rate": round(100.0 * int(recent or 0) / total, 2) if total else 0.0}
        for region, total, ipv6, recent in session.execute(stmt)
    ]
