"""Dual-stack provisioning: family policies, exhaustion, customer-space refusal, quarantine, thresholds."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Any

import pytest

from tests.ipam.fixtures import PLAN
from tests.ipam.helpers import snapshot
from v6ops.ipam import engine, service
from v6ops.ipam.errors import ConflictError, ForbiddenAddressError, NotFoundError, PoolExhaustedError
from v6ops.ipam.plan import load_plan, parse_plan
from v6ops.ipam.subscribers import SubscriberSpec, SubscriberUpdate, parse_rate
from v6ops.store.db import Store

TINY = {
    "vrfs": ["global"],
    "pools": [
        {"name": "tiny", "role": "residential", "family_policy": "dual-stack", "lab": True,
         "ipv4": {"prefix": "100.64.0.0/30", "customer_length": 32},
         "ipv6_address": {"prefix": "2001:db8:1::/126", "customer_length": 128},
         "ipv6_delegation": {"prefix": "2001:db8:2::/62", "customer_length": 64}},
        {"name": "fallback", "role": "business", "family_policy": "prefer-dual-stack", "lab": True,
         "ipv4": {"prefix": "100.64.1.0/28", "customer_length": 32},
         "ipv6_delegation": {"prefix": "2001:db8:3::/63", "customer_length": 64}},
    ],
}


def sub(store: Store, name: str, pool: str | None = None, **extra: Any) -> dict[str, Any]:
    return service.add_subscriber(store, SubscriberSpec(name=name, pool=pool, **extra))


def test_dual_stack_gives_three_resources_under_one_name(planned: Store) -> None:
    got = sub(planned, "sub123", "city-1-residential", dns_name="Subscriber123.ISP.example.",
              rate_limits={"ipv4": {"download": "100M", "upload": "50M"}, "ipv6": {"download": "1G", "upload": 5}})
    assert got["ipv4"] == "100.64.0.0"  # a CGN pool: every address usable
    assert got["ipv6_address"] == "2001:db8:ff01:1::1"  # a subnet: never the subnet-router anycast (RFC 4291 2.6.1)
    assert got["ipv6_prefix"] == "2001:db8::/64"
    assert got["dns_name"] == "subscriber123.isp.example"
    assert got["rate_limits"] == {"ipv4": {"download_bps": 100_000_000, "upload_bps": 50_000_000},
                                  "ipv6": {"download_bps": 1_000_000_000, "upload_bps": 5}}
    second = sub(planned, "sub124", "city-1-residential")
    assert (second["ipv4"], second["ipv6_address"], second["ipv6_prefix"]) == (
        "100.64.0.1", "2001:db8:ff01:1::2", "2001:db8:0:1::/64")
    allocations = service.list_allocations(planned, "city-1-residential", 10)
    assert {a["dns_name"] for a in allocations if a["subscriber_id"] == got["id"]} == {"subscriber123.isp.example"}
    assert service.adoption_metrics(planned)["dual_stack_subscribers"] == 2


def test_suspended_subscribers_leave_the_adoption_counts(planned: Store) -> None:
    sub(planned, "a", "city-1-residential")
    sub(planned, "b", "city-1-residential")
    changed = service.change_subscriber(planned, "b", SubscriberUpdate(
        status="suspended", rate_limits={"ipv6": {"download": "1G"}}))
    assert changed["status"] == "suspended" and changed["rate_limits"]["ipv6"]["download_bps"] == 10**9
    assert changed["ipv6_prefix"] == "2001:db8:0:1::/64"  # keeps its allocations
    assert service.adoption_metrics(planned)["dual_stack_subscribers"] == 1
    with pytest.raises(NotFoundError, match="unknown subscriber 'zz'"):
        service.change_subscriber(planned, "zz", SubscriberUpdate(status="active"))


def test_business_gets_a_29_and_a_56(planned: Store) -> None:
    got = sub(planned, "biz", "city-1-business")
    assert (got["ipv4"], got["ipv6_prefix"]) == ("100.65.0.0/29", "2001:db8:1::/56")


def test_ipv6_only_and_ipv4_only_policies(planned: Store) -> None:
    v6 = sub(planned, "v6", "city-2-residential-v6only")
    assert v6["ipv4"] is None and v6["ipv6_prefix"] == "2001:db8:10::/64"
    service.add_device(planned, {"name": "host1", "region": "mgmt"}, "mgmt-hosts", vrf="mgmt")
    host = service.list_devices(planned, "mgmt", 10)[0]
    assert (host["ipv4"], host["ipv6"]) == ("10.0.0.1", None)  # a subnet: never the network address
    adoption = service.adoption_metrics(planned)
    assert adoption["ipv6_only_subscribers"] == 1 and adoption["dual_stack_percentage"] == 0.0


def test_exhaustion_names_pool_and_utilization_and_changes_nothing(store: Store) -> None:
    service.plan_apply(store, parse_plan(TINY))
    for i in range(4):  # the /62 holds four /64s, the /126 four addresses, the /30 four addresses
        sub(store, f"s{i}", "tiny")
    before = snapshot(store)
    with pytest.raises(PoolExhaustedError, match=r"pool 'tiny' is exhausted: no free /32 left in 100\.64\.0\.0/30 "
                                                   r"\(utilization 100\.00%, 4 of 4"):
        sub(store, "s4", "tiny")
    after = snapshot(store)
    # Nothing changed but the event that records the failure (/health/ipv6 and the failure-rate alert count it).
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}
    assert next(e for e in after["events"] if e not in before["events"])[2] == "provisioning-failed"
    events = service.list_events(store, 10)
    assert any(e["kind"] == "utilization-high" and e["pool"] == "tiny" for e in events)


def test_prefer_dual_stack_falls_back_to_ipv4_with_a_warning(store: Store) -> None:
    service.plan_apply(store, parse_plan(TINY))
    assert sub(store, "a", "fallback")["ipv6_prefix"] == "2001:db8:3::/64"
    assert sub(store, "b", "fallback")["ipv6_prefix"] == "2001:db8:3:1::/64"
    c = sub(store, "c", "fallback")
    assert c["ipv4"] == "100.64.1.2" and c["ipv6_prefix"] is None
    fallback = [e for e in service.list_events(store, 10) if e["kind"] == "ipv6-fallback"]
    assert len(fallback) == 1 and fallback[0]["severity"] == "warning" and "exhausted" in fallback[0]["message"]
    assert service.adoption_metrics(store)["ipv4_only_subscribers"] == 1


def test_threshold_alert_fires_once_and_clears(store: Store) -> None:
    service.plan_apply(store, parse_plan(TINY))
    for i in range(3):
        sub(store, f"s{i}", "tiny")  # 3 of 4 = 75%: below 80%
    assert not [e for e in service.list_events(store, 50) if e["kind"] == "utilization-high"]
    sub(store, "s3", "tiny")  # 100%
    high = [e for e in service.list_events(store, 50) if e["kind"] == "utilization-high"]
    assert len(high) == 3  # one per range of the pool, once each
    service.release(store, "100.64.0.3", "global")
    assert [e for e in service.list_events(store, 50) if e["kind"] == "utilization-recovered"]


def test_release_quarantine_then_reuse(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = {**TINY, "pools": [{**TINY["pools"][0], "quarantine_seconds": 3600}]}
    service.plan_apply(store, parse_plan(raw))
    first = sub(store, "a", "tiny")
    released = service.release(store, first["ipv6_prefix"], "global")
    assert released["status"] == "quarantined" and released["reusable_at"]
    assert sub(store, "b", "tiny")["ipv6_prefix"] == "2001:db8:2:1::/64"  # not reused during quarantine
    later = engine.utcnow() + timedelta(hours=2)
    monkeypatch.setattr(engine, "utcnow", lambda: later)
    monkeypatch.setattr("v6ops.ipam.provision.utcnow", lambda: later)
    assert sub(store, "c", "tiny")["ipv6_prefix"] == "2001:db8:2::/64"  # reclaimed, first fit again
    service.release(store, "2001:db8:2:1::/64", "global")
    with pytest.raises(ConflictError, match="already quarantined"):
        service.release(store, "2001:db8:2:1::/64", "global")


def test_reservation_is_skipped_by_first_fit(planned: Store) -> None:
    service.reserve(planned, "2001:db8::/63", "global", "lab bench")
    assert sub(planned, "x", "city-1-residential")["ipv6_prefix"] == "2001:db8:0:2::/64"
    with pytest.raises(ConflictError, match="not free"):
        service.reserve(planned, "2001:db8::/64", "global", "")


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda s: sub(s, "x", "no-such-pool"), NotFoundError, "unknown pool 'no-such-pool'"),
        (lambda s: service.reserve(s, "fe80::/64", "global", ""), NotFoundError, "not inside any pool range"),
        (lambda s: service.reserve(s, "2001:db8::1/64", "global", ""), ValueError, "host bits set"),
        (lambda s: service.provision(s, "city-1-residential", subscriber="ghost"), NotFoundError, "ghost"),
        (lambda s: service.release(s, "2001:db8:0:77::/64", "global"), NotFoundError, "no allocation"),
        (lambda s: service.reserve(s, "2001:db8::/64", "nope", ""), NotFoundError, "unknown VRF 'nope'"),
    ],
)
def test_bad_requests_change_nothing(planned: Store, call: Any, error: type, words: str) -> None:
    before = snapshot(planned)
    with pytest.raises(error, match=words):
        call(planned)
    assert snapshot(planned) == before


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("2001:db0::/28", "contains 2001:db8::/32, which is documentation space"),
        ("fe80::/48", "is link-local space"),
        ("ff00::/8", "is multicast space"),
        ("::/64", "contains ::1/128, which is loopback space"),
    ],
)
def test_customer_space_is_checked_for_the_whole_range(store: Store, prefix: str, words: str) -> None:
    raw = {"vrfs": ["global"], "pools": [{"name": "wide", "role": "residential", "family_policy": "ipv6-only",
                                           "ipv6_delegation": {"prefix": prefix, "customer_length": 64}}]}
    before = snapshot(store)
    with pytest.raises(ForbiddenAddressError, match=re.escape(words)):
        service.plan_apply(store, parse_plan(raw))
    assert snapshot(store) == before


def test_parse_rate() -> None:
    assert parse_rate("100M") == 100_000_000 and parse_rate("1.5G") == 1_500_000_000 and parse_rate(7) == 7
    with pytest.raises(ValueError, match="'fast'"):
        parse_rate("fast")


def test_example_plan_loads_every_prefix_and_pool_inside_an_aggregate() -> None:
    plan = load_plan(PLAN)
    rows = {p.name: (p.vrf, str(p.prefix), p.pool, p.purpose, p.customer_length) for p in plan.prefixes}
    assert [pool.name for pool in plan.file.pools] == [
        "city-1-residential", "city-1-business", "city-2-residential-v6only", "core-p2p", "iot-devices", "mgmt-hosts"]
    assert rows["cgn"] == ("global", "100.64.0.0/10", None, None, None)
    assert rows["city-1-residential/ipv4"] == ("global", "100.64.0.0/16", "city-1-residential", "ipv4", 32)
    assert rows["city-1-business/ipv6-delegation"] == (
        "global", "2001:db8:1::/48", "city-1-business", "ipv6-delegation", 56)
    assert rows["mgmt-hosts/ipv4"] == ("mgmt", "10.0.0.0/24", "mgmt-hosts", "ipv4", 32)
    assert len(rows) == 19
    # Independent oracle: every pool range sits inside an aggregate of its own VRF.
    aggregates = [(p.vrf, ipaddress.ip_network(str(p.prefix))) for p in plan.prefixes if p.role == "aggregate"]
    for p in plan.prefixes:
        if p.pool is not None:
            net = ipaddress.ip_network(str(p.prefix))
            assert any(vrf == p.vrf and net.version == agg.version and net.subnet_of(agg)  # type: ignore[arg-type]
                       for vrf, agg in aggregates), p.name


def test_concurrent_reserve_and_release_keep_exact_counters(planned: Store) -> None:
    """Reserve/release look the range up before locking it; the counters must still be exact."""
    from concurrent.futures import ThreadPoolExecutor

    def work(worker: int) -> None:
        for i in range(10):
            prefix = f"2001:db8:0:{worker * 16 + i:x}::/64"
            service.reserve(planned, prefix, "global", f"w{worker}")
            if i % 2:
                service.release(planned, prefix, "global")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(6)))
    delegation = next(p for p in service.list_prefixes(planned) if p["name"] == "city-1-residential/ipv6-delegation")
    # Released ones stay in quarantine (the pool has one), so all 60 still count as used.
    assert delegation["used"] == 60 == len(service.list_allocations(planned, "city-1-residential", 1000))
