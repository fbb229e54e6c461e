"""Provisionings in one pool share transactions (``Store.write_grouped``): each caller still gets its own
result or its own error, a failing one changes nothing, and no address is handed out twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from v6ops.ipam import service
from v6ops.ipam.errors import ConflictError
from v6ops.ipam.plan import parse_plan
from v6ops.ipam.subscribers import SubscriberSpec
from v6ops.store.db import Store

PLAN = {"vrfs": ["global"], "pools": [{
    "name": "g", "role": "residential", "lab": True, "ipv4": {"prefix": "100.64.0.0/24", "customer_length": 32},
    "ipv6_delegation": {"prefix": "2001:db8::/48", "customer_length": 64}}]}


def test_concurrent_callers_get_their_own_results_and_errors(store: Store) -> None:
    service.plan_apply(store, parse_plan(PLAN))
    service.add_subscriber(store, SubscriberSpec(name="taken", pool="g"))
    names = [f"c{i}" for i in range(60)] + ["taken"] * 4 + [f"c{i}" for i in range(5)]
    batches: list[int] = []
    real = store._run_group

    def counting(group: Any, batch: list[Any]) -> None:
        batches.append(len(batch))
        real(group, batch)

    store._run_group = counting  # type: ignore[method-assign]

    def call(name: str) -> dict[str, Any] | str:
        try:
            return service.add_subscriber(store, SubscriberSpec(name=name, pool="g"))
        except ConflictError as exc:
            return str(exc)

    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(call, names))
    finally:
        del store._run_group
    made = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, str)]
    assert sorted(r["name"] for r in made) == sorted(f"c{i}" for i in range(60))
    assert len(refused) == 9 and all("already exists" in r for r in refused)
    assert len({r["ipv6_prefix"] for r in made}) == 60 and len({r["ipv4"] for r in made}) == 60
    with store.read() as session:
        rows = session.execute(text("SELECT count(*) FROM subscribers")).scalar()
        allocations = session.execute(text("SELECT count(*) FROM allocations")).scalar()
        used = dict(session.execute(text("SELECT name, used_units FROM prefixes")).all())
    assert rows == 61 and allocations == 2 * 61
    assert {int(v) for v in used.values()} == {61}  # the counters match the rows: no lost update
    assert sum(batches) >= len(names) and len(batches) < len(names)  # some callers did share a transaction


def test_a_failing_caller_does_not_undo_the_others(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    service.plan_apply(store, parse_plan(PLAN))
    calls = []
    real = service.allocate_dual_stack

    def flaky(session: Any, pool: str, **kw: Any) -> dict[str, Any]:
        calls.append(kw["subscriber"].name)
        got = real(session, pool, **kw)
        if kw["subscriber"].name == "bad":
            raise RuntimeError("boom after allocating")
        return got

    monkeypatch.setattr(service, "allocate_dual_stack", flaky)
    with ThreadPoolExecutor(8) as pool:
        futures = {n: pool.submit(service.add_subscriber, store, SubscriberSpec(name=n, pool="g"))
                   for n in ["a", "b", "bad", "c", "d"]}
    with pytest.raises(RuntimeError, match="boom"):
        futures["bad"].result()
    assert {n for n, f in futures.items() if n != "bad" and f.result()["ipv6_prefix"]} == {"a", "b", "c", "d"}
    with store.read() as session:
        names = set(session.execute(text("SELECT name FROM subscribers")).scalars())
        allocations = session.execute(text("SELECT count(*) FROM allocations")).scalar()
    assert names == {"a", "b", "c", "d"} and allocations == 8


FALLBACK_PLAN = {"vrfs": ["global"], "pools": [{
    "name": "f", "role": "business", "family_policy": "prefer-dual-stack", "lab": True,
    "ipv4": {"prefix": "100.64.0.0/24", "customer_length": 32},
    "ipv6_address": {"prefix": "2001:db8:1::/126", "customer_length": 128, "subnet": True},
    "ipv6_delegation": {"prefix": "2001:db8:100::/56", "customer_length": 64}}]}


def test_batches_that_fall_back_to_ipv4_keep_every_counter_exact(store: Store) -> None:
    """IPv6 addresses run out part-way through shared transactions: the later callers get IPv4 only, and
    each range's utilization counter still equals its allocations (the batch reuses its locked rows)."""
    service.plan_apply(store, parse_plan(FALLBACK_PLAN))
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: service.add_subscriber(store, SubscriberSpec(name=f"s{i}", pool="f")),
                                range(40)))
    with_v6 = [r for r in results if r["ipv6_address"]]
    assert len({r["ipv4"] for r in results}) == 40
    assert 0 < len(with_v6) < 40 and all(r["ipv6_prefix"] for r in with_v6)
    assert all(r["ipv6_prefix"] is None for r in results if not r["ipv6_address"])
    with store.read() as session:
        counted = dict(session.execute(text(
            "SELECT p.cidr, count(a.id) FROM prefixes p LEFT JOIN allocations a ON a.prefix_id = p.id "
            "WHERE p.pool_id IS NOT NULL GROUP BY p.cidr")).all())
        used = dict(session.execute(text("SELECT cidr, used_units FROM prefixes WHERE pool_id IS NOT NULL")).all())
    assert {str(c): int(u) for c, u in used.items()} == {str(c): n for c, n in counted.items()}
    assert {str(c): n for c, n in counted.items()}["2001:db8:100::/56"] == len(with_v6)
