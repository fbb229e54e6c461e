"""Bulk subscriber import with identities: CSV (a header of SubscriberSpec and identity fields) or JSON Lines.

The whole file is checked first: a bad line, or a name or identity used twice in the file, rejects the
file with every reason and line number, and nothing is imported. Then one transaction imports all
subscribers (with their allocations and sync queue entries); a clash with the database (an existing
name or identity) rolls it back whole, naming the value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from v6ops.ipam.devices import ImportReport, read_rows
from v6ops.ipam.engine import lock_pools
from v6ops.ipam.errors import IpamError, NotFoundError
from v6ops.ipam.identities import FIELD_KIND, set_identities
from v6ops.ipam.provision import allocate_dual_stack
from v6ops.ipam.provisioning.queue import enqueue
from v6ops.ipam.provisioning.service import sync_after_change
from v6ops.ipam.subscribers import SubscriberSpec, create_subscriber
from v6ops.store.db import Store

IDENTITY_FIELDS = (*FIELD_KIND, "radius_password", "radius_auth")


def _spec(record: dict[str, Any]) -> SubscriberSpec:
    """A CSV row is flat: identity columns move under ``identities``; empty cells are absent."""
    raw = {k: v for k, v in record.items() if v not in (None, "")}
    ids = {k: raw.pop(k) for k in IDENTITY_FIELDS if k in raw}
    if ids:
        raw["identities"] = {**raw.get("identities", {}), **ids}
    return SubscriberSpec.model_validate(raw)


def check_file(path: Path, report: ImportReport) -> list[SubscriberSpec]:
    specs: list[SubscriberSpec] = []
    names: dict[str, int] = {}
    seen: dict[tuple[str, str], int] = {}
    try:
        for number, record in read_rows(path, required=("name",)):
            report.rows += 1
            try:
                if isinstance(record, str):
                    raise IpamError(record)
                spec = _spec(record)
            except ValidationError as exc:
                report.rejected.append({"line": number, "reason": "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())})
                continue
            except IpamError as exc:
                report.rejected.append({"line": number, "reason": str(exc)})
                continue
            if spec.name in names:
                report.rejected.append({"line": number, "reason": f"subscriber {spec.name!r} is also on line "
                                                                  f"{names[spec.name]}"})
                continue
            names[spec.name] = number
            for field, kind in FIELD_KIND.items():
                value = getattr(spec.identities, field)
                if value and (kind, value) in seen:
                    report.rejected.append({"line": number, "reason": f"{kind} {value!r} is also on line "
                                                                      f"{seen[(kind, value)]}"})
                elif value:
                    seen[(kind, value)] = number
            specs.append(spec)
    except FileNotFoundError as exc:
        raise NotFoundError(f"import file {str(path)!r} does not exist") from exc
    return specs


def import_subscribers(store: Store, path: Path, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    report = ImportReport(str(path))
    specs = check_file(path, report)
    if report.rejected:
        return report.as_dict()
    with store.write() as session:
        # All the file's pools locked at once, in the order every transaction locks them in: taken one by
        # one in the file's order, they could deadlock with a provisioning batch holding several pools.
        lock_pools(session, list({spec.pool for spec in specs if spec.pool}))
        for spec in specs:
            subscriber = create_subscriber(session, spec)
            if not spec.identities.is_empty():
                set_identities(session, subscriber, spec.identities)
            if spec.pool:
                allocate_dual_stack(session, spec.pool, subscriber=subscriber)
            enqueue(session, [subscriber.id])
            report.imported += 1
            if progress:
                progress(1)
    sync_after_change(store)
    return report.as_dict()

