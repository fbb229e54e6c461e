"""Sync and check as the CLI and REST call them; each sync's outcome (or failure) is an IPAM event."""

from __future__ import annotations

from typing import Any

from v6ops.ipam.engine import record_event
from v6ops.ipam.errors import IpamError
from v6ops.ipam.provisioning import sync as sync_ops
from v6ops.ipam.provisioning.inventory import load_inventory
from v6ops.ipam.provisioning.settings import ProvisioningSettings
from v6ops.store.db import Store

SYNC_TARGETS = ("radius", "kea", "dns")


def _url(settings: ProvisioningSettings, target: str) -> str:
    url = getattr(settings, f"{target}_database_url").get_secret_value()
    if not url:
        raise IpamError(f"no {target} database: set {target}_database_url under [provisioning] in the v6ops config "
                        f"or V6OPS_PROVISIONING_{target.upper()}_DATABASE_URL")
    return url


def sync(store: Store, target: str, settings: ProvisioningSettings, dry_run: bool = False) -> dict[str, Any]:
    if target not in SYNC_TARGETS:
        raise IpamError(f"unknown sync target {target!r}; expected one of {', '.join(SYNC_TARGETS)}")
    with store.read() as session:
        inventory = load_inventory(session)
    try:
        if target == "radius":
            report = sync_ops.sync_radius(inventory, _url(settings, "radius"), dry_run)
        elif target == "kea":
            report = sync_ops.sync_kea(inventory, _url(settings, "kea"), dry_run)
        else:
            from v6ops.ipam.provisioning.dnsupdate import sync_dns

            report = sync_dns(store, inventory, settings, dry_run)
    except IpamError as exc:
        if not dry_run:
            with store.write() as session:
                record_event(session, f"sync-{target}-failed", "error", str(exc)[:500], subject=target)
        raise
    result = report.as_dict()
    if not dry_run and (report.added or report.deleted):
        with store.write() as session:
            record_event(session, f"sync-{target}", "info",
                         f"{target}: {report.added} added, {report.deleted} deleted for "
                         f"{len(report.subscribers_changed)} subscriber(s)", subject=target,
                         added=report.added, deleted=report.deleted)
    return result
