"""``v6ops demo load``: a realistic dual-stack ISP in an empty database, so ``v6ops serve`` shows
something real on its first run.

The world: the seed's prefix hierarchy (RIR aggregate, regions, cities, CGN space), residential,
business, IPv6-only and tenant pools, a few thousand subscribers on several tiers (some suspended,
some left on IPv4 only), a few thousand IoT devices in several regions with last-seen times
(so connectivity differs per region), one pool near its threshold (its event shows on the
overview), synthetic VPC flow and ALB logs with their report, and VMs of three customers with
their security configs and events, flow detections among them (``v6ops.demo_security``). Everything
is seeded, so two loads with the same seed make the same world (event times follow the clock).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from v6ops.demo_security import load_flow_detections, load_vms
from v6ops.ipam import service
from v6ops.ipam.devices import DeviceRow, ImportReport, register_devices
from v6ops.ipam.engine import utcnow
from v6ops.ipam.errors import IpamError
from v6ops.ipam.plan import parse_plan
from v6ops.ipam.subscribers import SubscriberSpec
from v6ops.store.db import Store
from v6ops.store.models import Pool, Subscriber
from v6ops.store.security_models import SecurityVm
from v6ops.store.service_models import beat

PLAN: dict[str, Any] = {
    "vrfs": ["global", "mgmt"],
    "prefixes": [
        {"name": "isp", "prefix": "2001:db8::/32", "role": "aggregate", "description": "allocation from the RIR",
         "children": [
             {"name": "region-north", "prefix": "2001:db8::/40", "role": "region", "children": [
                 {"name": "region-north/city-1", "prefix": "2001:db8::/44", "role": "city"},
                 {"name": "region-north/city-2", "prefix": "2001:db8:10::/44", "role": "city"}]},
             {"name": "region-south", "prefix": "2001:db8:100::/40", "role": "region"},
             {"name": "infrastructure", "prefix": "2001:db8:ff00::/40", "role": "infrastructure"}]},
        {"name": "cgn", "prefix": "100.64.0.0/10", "role": "aggregate", "description": "RFC 6598 shared space for CGN"},
    ],
    "pools": [
        {"name": "city-1-residential", "role": "residential", "lab": True, "quarantine_seconds": 86400,
         "ipv4": {"prefix": "100.64.0.0/16", "customer_length": 32, "cgn": True},
         "ipv6_address": {"prefix": "2001:db8:ff01:1::/64", "customer_length": 128, "subnet": True},
         "ipv6_delegation": {"prefix": "2001:db8::/48", "customer_length": 60}},
        {"name": "city-1-business", "role": "business", "family_policy": "prefer-dual-stack", "lab": True,
         "ipv4": {"prefix": "100.65.0.0/20", "customer_length": 29, "cgn": True},
         "ipv6_address": {"prefix": "2001:db8:ff01:2::/64", "customer_length": 128, "subnet": True},
         "ipv6_delegation": {"prefix": "2001:db8:1::/48", "customer_length": 56}},
        {"name": "city-2-residential-v6only", "role": "residential", "family_policy": "ipv6-only", "lab": True,
         "ipv6_delegation": {"prefix": "2001:db8:10::/48", "customer_length": 64}},
        {"name": "city-2-fiber", "role": "residential", "lab": True, "threshold": 80,
         "ipv4": {"prefix": "100.66.0.0/22", "customer_length": 32, "cgn": True},
         "ipv6_address": {"prefix": "2001:db8:ff01:3::/64", "customer_length": 128, "subnet": True},
         "ipv6_delegation": {"prefix": "2001:db8:11::/56", "customer_length": 64}},
        {"name": "acme-corp", "role": "business", "tenant": "acme", "lab": True,
         "ipv4": {"prefix": "100.67.0.0/24", "customer_length": 32, "cgn": True},
         "ipv6_address": {"prefix": "2001:db8:ff01:4::/64", "customer_length": 128, "subnet": True},
         "ipv6_delegation": {"prefix": "2001:db8:100::/48", "customer_length": 56}},
        {"name": "iot", "role": "iot", "family_policy": "ipv6-only", "lab": True,
         "ipv6_address": {"prefix": "2001:db8:ff10::/48", "customer_length": 64}},
    ],
}
REGIONS = {"north": 0.98, "south": 0.91, "east": 0.99}  # share of devices seen in the last 24 h
TIERS = [("residential", 0.8, "100M", "20M"), ("residential-plus", 0.15, "1G", "100M"), ("business", 0.05, "10G", "1G")]


class DemoError(IpamError):
    """The database is not empty: the demo never mixes with real data."""


def _check_empty(store: Store) -> None:
    with store.read() as session:
        pools = session.scalar(select(func.count()).select_from(Pool)) or 0
        subscribers = session.scalar(select(func.count()).select_from(Subscriber)) or 0
        vms = session.scalar(select(func.count()).select_from(SecurityVm)) or 0
    if pools or subscribers or vms:
        raise DemoError(f"the database already has {pools} pools, {subscribers} subscribers and {vms} VMs; "
                        "the demo loads into an empty database only (set V6OPS_DATA_DIR or V6OPS_DATABASE_URL "
                        "to a new one)")


def _subscriber(rng: random.Random, i: int, pool: str) -> SubscriberSpec:
    tier, _, down, up = rng.choices(TIERS, weights=[t[1] for t in TIERS])[0]
    return SubscriberSpec.model_validate({
        "name": f"sub-{i:05d}", "service_tier": tier, "pool": pool, "dns_name": f"sub-{i:05d}.customers.isp.example",
        "tenant": "acme" if pool == "acme-corp" else "default",
        "status": "suspended" if rng.random() < 0.02 else "active",
        "rate_limits": {"ipv4": {"download": down, "upload": up}, "ipv6": {"download": down, "upload": up}}})


def load_demo(store: Store, data_dir: Path, subscribers: int = 3000, devices: int = 2000, seed: int = 6,
              progress: Callable[[str, int], None] | None = None, vms: int = 12) -> dict[str, Any]:
    """Fill an empty database with the demo world; returns what was made."""
    _check_empty(store)
    rng = random.Random(seed)
    service.plan_apply(store, parse_plan(PLAN, "demo plan"))
    # The fiber pool ends near its 80 % threshold (225 of 256 /64s), so the overview shows its event.
    fiber = 225
    others = [("city-1-residential", 0.75), ("city-1-business", 0.05), ("city-2-residential-v6only", 0.15),
              ("acme-corp", 0.05)]
    pools = ["city-2-fiber"] * min(fiber, subscribers) + rng.choices(
        [p for p, _ in others], weights=[w for _, w in others], k=max(0, subscribers - fiber))
    rng.shuffle(pools)
    made = 0
    for i, pool in enumerate(pools):
        service.add_subscriber(store, _subscriber(rng, i, pool))
        made += 1
        if progress and i % 100 == 99:
            progress("subscribers", 100)
    now = utcnow()
    regions = list(REGIONS)
    rows = []
    for i in range(devices):
        region = regions[i % len(regions)]
        recent = rng.random() < REGIONS[region]
        seen = now - timedelta(minutes=rng.randint(1, 1200) if recent else rng.randint(1500, 20000))
        rows.append(DeviceRow(f"meter-{region}-{i:05d}", region, f"meter-{i:05d}.iot.isp.example", seen))
    report = ImportReport("demo")
    register_devices(store, "iot", rows, report, per_subnet=250, per_transaction=1000)
    flows = _flow_report(store, data_dir / "demo-flows", seed)
    if progress:
        progress("devices", devices)
    security = load_vms(store, rng, vms)
    detections = load_flow_detections(store, data_dir / "demo-flows" / "detections")
    return {"subscribers": made, "devices": report.imported, "pools": len(PLAN["pools"]),
            "flow_logs": str(data_dir / "demo-flows" / "logs"), "flow_records": flows, **security,
            "flow_detections": detections}


def _flow_report(store: Store, out: Path, seed: int) -> int:
    """Synthetic VPC and ALB logs (the flows test generator) and their report, kept beside them."""
    from v6ops.flows.generate import generate
    from v6ops.flows.pipeline import build_report

    generate(out, flows=6000, requests=3000, seed=seed)
    report = build_report([str(out / "logs")])
    (out / "report.json").write_text(json.dumps(report, default=str))
    with store.write() as session:
        beat(session, "flows.report", utcnow(), records=report["inputs"]["records_read"])
    return int(report["inputs"]["records_read"])
