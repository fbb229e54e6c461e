"""The demo world's security part: VMs of three customers with their IPv6 security configs, and the
security events a day of hostile traffic gives them, so the VM and event pages show something real.

Nothing here invents a verdict: each VM's config goes through the VM service (validated, compiled to
nftables, versioned), the traffic is real IPv6 packets the policy evaluator judges against that VM's
policy, and every drop becomes the evaluator's own event. The flow detections come the same way: a
small VPC flow log with a port scan and an address scan, run through ``v6ops flows detect``'s pipeline.
"""

from __future__ import annotations

import random
import struct
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from v6ops.addr import Address
from v6ops.events import SecurityEvent
from v6ops.ipam.engine import utcnow
from v6ops.policy.evaluator import Evaluator
from v6ops.policy.event_store import EventStore
from v6ops.policy.load import load_data
from v6ops.policy.normalize import normalize_document
from v6ops.policy.vms import VmSecurityService, VmView
from v6ops.store.db import Store

CUSTOMERS = ("acme", "globex", "initech")  # acme is also the IPAM demo's tenant
PROFILES = ("HIGH", "MEDIUM", "LOW")
ROLES = ("web", "db", "api", "cache")
TRUSTED_ROUTER = "fe80::1"
ROGUE_ROUTER = "fe80::bad:1"
HOSTILE_SCANNER = "2001:db8:bad:1::66"  # documentation space: also a suspicious source for the detections
HOSTILE_SWEEPER = "2001:db8:bad:2::77"
ACTOR = "demo"
DEMO_HOURS = 20  # the traffic spreads over the last 20 hours, so the overview's 24 h tally counts it


def _vm_prefix(i: int) -> str:
    return f"2001:db8:ff20:{i:x}::/64"


def vm_config(i: int, profile: str, pps: int | None) -> dict[str, Any]:
    """A VM-side ``ipv6_config`` (the seed's shape): RA guard with one router, strict ingress, rates."""
    security: dict[str, Any] = {
        "profile": f"SECURITY_PROFILE_{profile}",
        "ra_guard": {"enabled": True, "block_all_ra": False, "allowed_routers": [TRUSTED_ROUTER], "max_ra_rate": 10},
        "source_validation": {"strict_ingress": True, "allowed_ingress_prefixes": [_vm_prefix(i)],
                              "block_private_addresses": True},
    }
    if pps is not None:
        security["rate_limits"] = {"max_pps_per_vm": pps}
    return {"enabled": True, "addresses": [_vm_prefix(i).replace("::/64", "::10/64")], "security": security,
            "interface": {"name": "eth0", "mtu": 1500}}


def _ipv6(src: str, dst: str, next_header: int, payload: bytes, hop_limit: int = 64) -> bytes:
    """An IPv6 packet (RFC 8200 section 3): version 6, no traffic class or flow label."""
    return (struct.pack("!IHBB", 6 << 28, len(payload), next_header, hop_limit)
            + Address.parse(src).packed + Address.parse(dst).packed + payload)


def _tcp_syn(sport: int, dport: int) -> bytes:
    """A TCP SYN (RFC 9293 section 3.1), data offset 5, no options; the evaluator reads ports and flags."""
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)


def _router_advertisement() -> bytes:
    """An ICMPv6 Router Advertisement (RFC 4861 section 4.2), router lifetime 1800 s, no options."""
    return struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)


def _routing_header_0(then: bytes) -> bytes:
    """A type 0 routing header (deprecated by RFC 5095) with two addresses, then TCP."""
    return struct.pack("!BBBB", 6, 4, 0, 2) + b"\0" * 4 + Address.parse("2001:db8::1").packed * 2 + then


def traffic(rng: random.Random, vm: int, pps: int | None) -> list[bytes]:
    """One VM's hostile (and ordinary) packets: what its policy should drop, among what it should not."""
    me = _vm_prefix(vm).replace("::/64", "::10")
    neighbour = _vm_prefix(vm).replace("::/64", "::20")
    packets = [_ipv6(neighbour, me, 6, _tcp_syn(40000 + n, 443)) for n in range(rng.randint(5, 20))]
    packets += [_ipv6(ROGUE_ROUTER, "ff02::1", 58, _router_advertisement(), 255) for _ in range(rng.randint(0, 3))]
    packets += [_ipv6(TRUSTED_ROUTER, "ff02::1", 58, _router_advertisement(), 255)]
    packets += [_ipv6("fd00:bad::5", me, 6, _tcp_syn(50000 + n, 22)) for n in range(rng.randint(0, 4))]
    packets += [_ipv6(HOSTILE_SCANNER, me, 6, _tcp_syn(60000, 22)) for _ in range(rng.randint(0, 2))]
    packets += [_ipv6(neighbour, me, 43, _routing_header_0(_tcp_syn(41000, 443))) for _ in range(rng.randint(0, 2))]
    rng.shuffle(packets)
    return packets


def _judge(view: VmView, packets: list[bytes], start: datetime, burst: int) -> list[SecurityEvent]:
    """The VM's stored policy judges the packets, a minute apart from ``start``, then ``burst`` packets in
    a tenth of a second (a flood over a rate limit); each drop is the evaluator's event for this VM."""
    loaded = load_data({"config": {"ipv6_config": view.ipv6_config}}, view.id, name=view.id, expand=False)
    assert loaded.document is not None  # the service validated and stored this very config
    evaluator = Evaluator(normalize_document(loaded.document)[0])
    at = int((start - datetime(1970, 1, 1)).total_seconds()) * 1_000_000_000
    me = view.ipv6_config["addresses"][0].split("/")[0]
    flood = _ipv6(me.replace("::10", "::30"), me, 6, _tcp_syn(45000, 443))  # a neighbour on the VM's /64
    for index, data in enumerate(packets):
        evaluator.evaluate(data, at + index * 60_000_000_000, index)
    burst_at = at + len(packets) * 60_000_000_000
    for n in range(burst):
        evaluator.evaluate(flood, burst_at + n * (100_000_000 // max(burst, 1)), len(packets) + n)
    return [v.event(view.id, view.customer_id) for v in evaluator.drops]


def load_vms(store: Store, rng: random.Random, count: int = 12) -> dict[str, int]:
    """``count`` VMs round-robin over the customers, their events stored; returns what was made."""
    service = VmSecurityService(store)
    events = EventStore(store)
    now = utcnow()
    made = stored = 0
    for i in range(count):
        customer = CUSTOMERS[i % len(CUSTOMERS)]
        role = ROLES[i % len(ROLES)]
        pps = 200 if i % 4 == 0 else None
        view = service.create(f"{customer}-{role}-{i:02d}", customer, vm_config(i, PROFILES[i % len(PROFILES)], pps),
                              name=f"{role} server {i} of {customer}", tier="premium" if i % 3 == 0 else "standard",
                              actor=ACTOR)
        if i % 5 == 1:  # a later change: the history shows two versions
            view = service.patch_security(view.id, {"ra_guard": {"max_ra_rate": 5}}, actor=ACTOR)
        made += 1
        start = now - timedelta(hours=DEMO_HOURS) + timedelta(minutes=rng.randint(0, 60 * (DEMO_HOURS - 2)))
        for event in _judge(view, traffic(rng, i, pps), start, 60 if pps else 0):
            events.emit(event)
            stored += 1
    events.flush()
    return {"vms": made, "vm_events": stored}


def _flow_line(src: str, dst: str, sport: int, dport: int, at: int) -> str:
    """One VPC flow log record, default (version 2) format, rejected."""
    return f"2 123456789012 eni-0demo1 {src} {dst} {sport} {dport} 6 1 60 {at} {at + 1} REJECT OK"


def load_flow_detections(store: Store, out: Path) -> int:
    """A port scan and an address scan in a small VPC flow log, run through the flow detections; their
    events (no VM, no customer: the installation's) go to the event store. Returns how many."""
    from v6ops.flows.pipeline import detect_threats

    start = int((utcnow() - timedelta(hours=3) - datetime(1970, 1, 1)).total_seconds()) // 60 * 60
    server = "2001:db8:ff20::10"
    lines = [_flow_line(HOSTILE_SCANNER, server, 61000, port, start + port % 50) for port in range(1, 121)]
    lines += [_flow_line(HOSTILE_SWEEPER, f"2001:db8:ff20:1::{host:x}", 62000, 22, start + 600 + host % 50)
              for host in range(1, 101)]
    out.mkdir(parents=True, exist_ok=True)
    log = out / "scans.log"
    log.write_text("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start "
                   "end action log-status\n" + "\n".join(lines) + "\n")
    events = EventStore(store)
    found = detect_threats([str(log)], sink=events)
    return len(found["detections"])
