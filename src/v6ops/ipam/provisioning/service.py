"""Sync and check as the CLI and REST call them; each sync's outcome (or failure) is an IPAM event."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from v6ops.ipam.engine import record_event
from v6ops.ipam.errors import IpamError
from v6ops.ipam.provisioning import kea, queue
from v6ops.ipam.provisioning import sync as sync_ops
from v6ops.ipam.provisioning.inventory import load_inventory
from v6ops.ipam.provisioning.settings import ProvisioningSettings, load_provisioning_settings
from v6ops.store.db import Store
from v6ops.store.provisioning_models import SubscriberIdentity

SYNC_TARGETS = ("radius", "kea", "dns")
log = logging.getLogger(__name__)


def _url(settings: ProvisioningSettings, target: str) -> str:
    url = getattr(settings, f"{target}_database_url").get_secret_value()
    if not url:
        raise IpamError(f"no {target} database: set {target}_database_url under [provisioning] in the v6ops config "
                        f"or V6OPS_PROVISIONING_{target.upper()}_DATABASE_URL")
    return url


def _holders(session: Session, previous: set[tuple[str, str]]) -> set[int]:
    """Subscribers that hold these identities now (another subscriber may have taken one over).
    One query per kind, so the (kind, value) unique index answers it."""
    held: set[int] = set()
    for kind in sorted({k for k, _ in previous}):
        values = sorted(v for k, v in previous if k == kind)
        held.update(session.scalars(select(SubscriberIdentity.subscriber_id).where(
            SubscriberIdentity.kind == kind, SubscriberIdentity.value.in_(values))))
    return held


def sync(store: Store, target: str, settings: ProvisioningSettings, dry_run: bool = False, full: bool = False
         ) -> dict[str, Any]:
    """Write the differences to ``target``. RADIUS and Kea: by default only the subscribers queued since the
    last sync (the work grows with the changes, not the total); ``full`` compares everything v6ops owns
    there (repairs drift). DNS always compares whole zones."""
    if target not in SYNC_TARGETS:
        raise IpamError(f"unknown sync target {target!r}; expected one of {', '.join(SYNC_TARGETS)}")
    queued: list[int] = []
    up_to = None
    with store.read() as session:
        if target == "dns" or full:
            up_to = queue.last_id(session, target) if target != "dns" else None
            inventory = load_inventory(session)
        else:
            rows = queue.pending(session, target)
            queued = [r[0] for r in rows]
            previous = {(p.partition(":")[0], p.partition(":")[2]) for _, _, p in rows if p}
            ids = {r[1] for r in rows} | _holders(session, previous)
            inventory = load_inventory(session, ids)
    if target != "dns" and not full and not queued:
        return sync_ops.SyncReport(target, dry_run).as_dict()
    try:
        if target == "radius":
            names = None if full else sorted(
                {v for k, v in previous if k == "radius-username"}
                | {s.identities["radius-username"] for s in inventory.subscribers if "radius-username" in s.identities})
            report = sync_ops.sync_radius(inventory, _url(settings, "radius"), dry_run, names)
        elif target == "kea":
            lost = None if full else [kea.identifier(k, v) for k, v in previous if k in kea.KIND_TYPES]
            report = sync_ops.sync_kea(inventory, _url(settings, "kea"), dry_run, lost)
        else:
            from v6ops.ipam.provisioning.dnsupdate import sync_dns

            report = sync_dns(store, inventory, settings, dry_run)
    except IpamError as exc:
        if not dry_run:
            with store.write() as session:
                record_event(session, f"sync-{target}-failed", "error", str(exc)[:500], subject=target)
        raise
    result = report.as_dict()
    if not dry_run and (queued or up_to):
        with store.write() as session:
            queue.consume(session, target, queued, up_to)
    if not dry_run and (report.added or report.deleted):
        with store.write() as session:
            record_event(session, f"sync-{target}", "info",
                         f"{target}: {report.added} added, {report.deleted} deleted for "
                         f"{len(report.subscribers_changed)} subscriber(s)", subject=target,
                         added=report.added, deleted=report.deleted)
    return result


def sync_after_change(store: Store) -> list[dict[str, Any]]:
    """The ``sync_after_change`` setting: sync those targets now. A failure does not undo the IPAM change
    that was just committed: it is recorded as a ``sync-<target>-failed`` event (by ``sync``) and the
    queue keeps the change, so the next sync, automatic or not, retries it."""
    try:
        settings = load_provisioning_settings()
    except IpamError as exc:
        log.warning("sync after change skipped: %s", exc)
        return []
    done = []
    for target in settings.sync_after_change:
        try:
            done.append(sync(store, target, settings))
        except IpamError as exc:
            log.warning("sync %s after change failed (kept queued): %s", target, exc)
    return done
