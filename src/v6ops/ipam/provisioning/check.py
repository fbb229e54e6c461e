"""``v6ops ipam check``: does what the servers hold agree with the IPAM? Each finding says how to fix it.

Checks: every active subscriber with both families has a DNS name; every allocated prefix lies in a reverse
zone; the primary serves every zone; A, AAAA and both PTRs of each subscriber are there under one name; no
PTR (in any served reverse zone) lacks the forward record it names; RADIUS rows and Kea hosts equal the IPAM.
Read-only: the RADIUS/Kea comparison is the full sync in dry-run mode, so check and sync can never disagree.
"""

from __future__ import annotations

from typing import Any

from v6ops.ipam.errors import IpamError
from v6ops.ipam.provisioning import sync as sync_ops
from v6ops.ipam.provisioning.dns import Record, ZoneError, build_zones
from v6ops.ipam.provisioning.dnsupdate import Server, record_address, tsig, zone_records
from v6ops.ipam.provisioning.inventory import Inventory, load_inventory
from v6ops.ipam.provisioning.settings import ProvisioningSettings
from v6ops.store.db import Store

CHECKS = ("ipam", "dns", "radius", "kea")
MAX_FINDINGS = 1000


def _finding(check: str, subject: str, problem: str, fix: str) -> dict[str, str]:
    return {"check": check, "subject": subject, "problem": problem, "fix": fix}


def _ipam(inventory: Inventory) -> list[dict[str, str]]:
    return [_finding("ipam", s.name, "has IPv4 and IPv6 but no DNS name, so no A/AAAA/PTR can be published",
                     f"v6ops ipam subscriber set {s.name} --dns-name NAME")
            for s in inventory.subscribers
            if s.status == "active" and s.ipv4 is not None and (s.ipv6_address or s.ipv6_prefix) and not s.dns_name]


def _dns(inventory: Inventory, settings: ProvisioningSettings) -> list[dict[str, str]]:
    layout = settings.dns_layout()
    try:
        zones = build_zones(inventory, layout)
    except ZoneError as exc:
        return [_finding("dns", "reverse zones", str(exc), "add a reverse zone covering it to reverse_zones "
                         "(or leave reverse_zones empty to cut them from the plan), then v6ops ipam export dns")]
    server = Server.parse(settings.dns_server)
    keyring, keyname = tsig(settings)
    found: list[dict[str, str]] = []
    served: dict[str, set[Record]] = {}
    for zone in zones:
        try:
            served[zone.name] = zone_records(zone, server, keyring, keyname, settings.dns_timeout_seconds)
        except IpamError as exc:
            found.append(_finding("dns", zone.name, f"not served by {settings.dns_server}: {exc}",
                                  "load the zone from v6ops ipam export dns on the primary"))
    forward = served.get(layout.forward_zone, set())
    forward_pairs = {(r.name, r.value) for r in forward}
    for zone in zones:
        if zone.name not in served:
            continue
        missing = [r for r in zone.records if r.rtype in ("A", "AAAA", "PTR") and r not in served[zone.name]
                   and r.name != layout.nameserver]
        found += [_finding("dns", r.name, f"{r.rtype} {r.value} missing in {zone.name}", "v6ops ipam sync dns")
                  for r in missing]
        if zone.prefix is None:
            continue
        for r in served[zone.name]:
            if r.rtype != "PTR":
                continue
            address = record_address(r, zone)
            target = r.value.rstrip(".")
            if address is None or ((target, str(address)) not in forward_pairs and _in(target, layout.forward_zone)):
                found.append(_finding("dns", r.name, f"PTR to {target} but {target} has no "
                                      f"{'A' if address and address.version == 4 else 'AAAA'} {address}",
                                      "v6ops ipam sync dns (removes PTRs of subscriber ranges that no subscriber has)"))
    return found


def _in(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def _table(target: str, inventory: Inventory, settings: ProvisioningSettings) -> list[dict[str, str]]:
    url = getattr(settings, f"{target}_database_url").get_secret_value()
    if not url:
        return [_finding(target, "settings", f"no {target}_database_url: not checked",
                         f"set V6OPS_PROVISIONING_{target.upper()}_DATABASE_URL")]
    run = sync_ops.sync_radius if target == "radius" else sync_ops.sync_kea
    try:
        report = run(inventory, url, True, None)
    except IpamError as exc:
        return [_finding(target, "database", str(exc), f"fix the {target} database, then v6ops ipam sync {target}")]
    return [_finding(target, c.subscriber, f"{'missing' if c.action == 'add' else 'not in the IPAM'}: {c.what}",
                     f"v6ops ipam sync {target} --full") for c in report.changes]


def check(store: Store, settings: ProvisioningSettings, only: list[str] | None = None) -> dict[str, Any]:
    for name in only or []:
        if name not in CHECKS:
            raise IpamError(f"unknown check {name!r}; expected some of {', '.join(CHECKS)}")
    wanted = only or list(CHECKS)
    with store.read() as session:
        inventory = load_inventory(session)
    findings: list[dict[str, str]] = []
    if "ipam" in wanted:
        findings += _ipam(inventory)
    if "dns" in wanted:
        findings += _dns(inventory, settings)
    for target in ("radius", "kea"):
        if target in wanted:
            findings += _table(target, inventory, settings)
    return {"checked": wanted, "subscribers": len(inventory.subscribers), "problems": len(findings),
            "findings": findings[:MAX_FINDINGS]}

