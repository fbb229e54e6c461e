"""Provisionings in one pool share transactions (``Store.write_grouped``): each caller still gets its own
result or its own error, a failing one changes nothing, and no address is handed out twice."""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from v6ops.ipam import service, subscriber_import
from v6ops.ipam.engine import lock_pools
from v6ops.ipam.errors import ConflictError, NotFoundError
from v6ops.ipam.plan import parse_plan
from v6ops.ipam.subscribers import SubscriberSpec
from v6ops.store.db import Steps, Store, run_driver

PLAN = {"vrfs": ["global"], "pools": [{
    "name": "g", "role": "residential", "lab": True, "ipv4": {"prefix": "100.64.0.0/24", "customer_length": 32},
    "ipv6_delegation": {"prefix": "2001:db8::/48", "customer_length": 64}}]}


def test_concurrent_callers_get_their_own_results_and_errors(store: Store) -> None:
    service.plan_apply(store, parse_plan(PLAN))
    service.add_subscriber(store, SubscriberSpec(name="taken", pool="g"))
    names = [f"c{i}" for i in range(60)] + ["taken"] * 4 + [f"c{i}" for i in range(5)]
    batches: list[int] = []
    real = store._run_group

    def counting(group: Any) -> None:
        batches.append(len(group.pending))
        real(group)

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
    real = service.dual_stack_steps

    def flaky(session: Any, pool: str, **kw: Any) -> Steps[dict[str, Any]]:
        calls.append(kw["subscriber"].name)
        got = yield from real(session, pool, **kw)
        if kw["subscriber"].name == "bad":
            raise RuntimeError("boom after allocating")
        return got

    monkeypatch.setattr(service, "dual_stack_steps", flaky)
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


POOLS = 8
MANY_PLAN = {"vrfs": ["global"], "pools": [{
    "name": f"p{i}", "role": "residential", "lab": True, "ipv4": {"prefix": f"100.64.{i}.0/24", "customer_length": 32},
    "ipv6_delegation": {"prefix": f"2001:db8:{i}::/48", "customer_length": 64}} for i in range(POOLS)]}


def counters_match(store: Store) -> None:
    """Every range's utilization counter equals its allocations, and no two allocations overlap."""
    with store.read() as session:
        counted = dict(session.execute(text(
            "SELECT p.id, count(a.id) FROM prefixes p LEFT JOIN allocations a ON a.prefix_id = p.id "
            "WHERE p.pool_id IS NOT NULL GROUP BY p.id")).all())
        used = dict(session.execute(text("SELECT id, used_units FROM prefixes WHERE pool_id IS NOT NULL")).all())
        cidrs = list(session.execute(text("SELECT cidr FROM allocations")).scalars())
    assert {k: int(v) for k, v in used.items()} == counted
    assert len(set(cidrs)) == len(cidrs)


def recording_batches(store: Store) -> list[list[object]]:
    """The claims (pools) of every batch the store runs from now on."""
    batches: list[list[object]] = []
    real = store._run_group

    def recording(group: Any) -> None:
        batches.append([w.claim for w in group.pending])
        real(group)

    store._run_group = recording  # type: ignore[method-assign]
    return batches


def test_callers_in_different_pools_share_transactions(store: Store) -> None:
    """Provisionings in many pools at once: batches mix pools, each caller gets its own distinct blocks
    from its own pool (first fit in each), and every counter equals the allocations."""
    service.plan_apply(store, parse_plan(MANY_PLAN))
    batches = recording_batches(store)
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(
                lambda i: service.add_subscriber(store, SubscriberSpec(name=f"s{i}", pool=f"p{(i * 5) % POOLS}")),
                range(16 * 10)))
    finally:
        del store._run_group
    for p in range(POOLS):  # each caller got blocks of its own pool, the lowest ones (first fit in each)
        mine = [r for i, r in enumerate(results) if (i * 5) % POOLS == p]
        assert len(mine) == 20
        v4 = sorted(int(ipaddress.ip_address(r["ipv4"])) - int(ipaddress.ip_address(f"100.64.{p}.0")) for r in mine)
        v6 = sorted((int(ipaddress.ip_network(r["ipv6_prefix"]).network_address)
                     - int(ipaddress.ip_address(f"2001:db8:{p}::"))) >> 64 for r in mine)
        assert v4 == list(range(20)) and v6 == list(range(20))
    counters_match(store)
    assert any(len(set(claims)) > 1 for claims in batches)  # some batch did carry several pools


def test_a_failing_caller_in_a_mixed_batch_leaves_the_others(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """One batch with callers in several pools: one fails after allocating, with a statement whose result it
    never reads (on PostgreSQL the error surfaces in whichever step reads next: the batch's allocations
    share a pipeline), one names a subscriber that exists, one an unknown pool. Each of them gets its own
    error; the others are all stored."""
    service.plan_apply(store, parse_plan(MANY_PLAN))
    service.add_subscriber(store, SubscriberSpec(name="taken", pool="p0"))
    gate = threading.Event()
    real_create, real_allocate = service.create_subscriber, service.dual_stack_steps

    def held(session: Any, spec: SubscriberSpec) -> Any:
        if spec.name == "hold":  # the batch in flight waits, so everybody else queues for the next one
            assert gate.wait(30)
        return real_create(session, spec)

    def flaky(session: Any, pool: str, **kw: Any) -> Steps[dict[str, Any]]:
        got = yield from real_allocate(session, pool, **kw)
        if kw["subscriber"].name == "bad":
            run_driver(session, "SELECT * FROM no_such_table", [])
        return got

    monkeypatch.setattr(service, "create_subscriber", held)
    monkeypatch.setattr(service, "dual_stack_steps", flaky)
    batches = recording_batches(store)
    names = {"a": "p1", "bad": "p2", "b": "p3", "taken": "p4", "c": "p1", "lost": "nowhere", "d": "p5", "e": "p2"}
    try:
        with ThreadPoolExecutor(16) as pool:
            hold = pool.submit(service.add_subscriber, store, SubscriberSpec(name="hold", pool="p0"))
            while not batches:
                time.sleep(0.01)
            futures = {n: pool.submit(service.add_subscriber, store, SubscriberSpec(name=n, pool=p))
                       for n, p in names.items()}
            while len(store._groups[service.PROVISIONING].pending) < len(names):
                time.sleep(0.01)
            gate.set()
            assert hold.result()["ipv4"]
            with pytest.raises(Exception, match="no_such_table"):
                futures["bad"].result()
            with pytest.raises(ConflictError, match="already exists"):
                futures["taken"].result()
            with pytest.raises(NotFoundError, match="nowhere"):
                futures["lost"].result()
            made = {n: futures[n].result() for n in ("a", "b", "c", "d", "e")}
    finally:
        del store._run_group
    assert [len(b) for b in batches] == [1, len(names)]  # the eight callers shared one batch
    assert made["a"]["ipv4"] != made["c"]["ipv4"] and all(r["ipv6_prefix"] for r in made.values())
    with store.read() as session:
        stored = set(session.execute(text("SELECT name FROM subscribers")).scalars())
        allocations = session.execute(text("SELECT count(*) FROM allocations")).scalar()
    assert stored == {"taken", "hold", "a", "b", "c", "d", "e"} and allocations == 2 * 7
    counters_match(store)


def lock_as_a_batch(store: Store, _tmp: Path) -> None:
    with store.write() as session:
        lock_pools(session, ["p7", "p0"])


def import_two(store: Store, tmp: Path) -> None:
    path = tmp / "two.jsonl"
    path.write_text('{"name": "in7", "pool": "p7"}\n{"name": "in0", "pool": "p0"}\n')
    assert subscriber_import.import_subscribers(store, path)["imported"] == 2


@pytest.mark.requires("postgres")
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("locker", [lock_as_a_batch, import_two])
def test_pools_are_locked_in_range_order(db_url: str, locker: Callable[[Store, Path], None], tmp_path: Path) -> None:
    """A batch (lock_pools) and a bulk import take their pools' range locks in id order, whatever order the
    pools come in: while pool p0 is locked elsewhere, one asking for p7 then p0 waits for p0 holding
    nothing, so p7 stays free (in the callers' order it would hold p7, and a transaction locking p0 then
    p7 would deadlock with it)."""
    store = Store(db_url)
    tag = f"v6ops-lock-order-{uuid.uuid4().hex[:8]}"
    waiting = Store(f"{db_url}&application_name={tag}")
    try:
        service.plan_apply(store, parse_plan(MANY_PLAN))
        with store.read() as session:
            ranges = dict(session.execute(text(
                "SELECT p.name, max(r.id) FROM prefixes r JOIN pools p ON r.pool_id = p.id GROUP BY p.name")).all())
        assert ranges["p0"] < ranges["p7"]
        holding, release = threading.Event(), threading.Event()

        def hold_p0() -> None:
            with store.write() as session:
                lock_pools(session, ["p0"])
                holding.set()
                assert release.wait(30)

        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(hold_p0)
            assert holding.wait(30)
            second = pool.submit(locker, waiting, tmp_path)
            with store.read() as session:
                for _ in range(500):  # until it waits for a lock
                    if session.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                            "AND application_name = :tag"), {"tag": tag}).scalar():
                        break
                    session.rollback()
                    time.sleep(0.01)
                else:
                    pytest.fail("it never waited for p0")
            with store.write() as session:  # NOWAIT: fails at once if the waiting one held any of p7's rows
                session.execute(text("SELECT r.id FROM prefixes r JOIN pools p ON r.pool_id = p.id "
                                     "WHERE p.name = 'p7' FOR UPDATE OF r NOWAIT")).all()
            release.set()
            first.result()
            second.result()
    finally:
        waiting.close()
        store.close()


@pytest.mark.requires("postgres")
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_processes_with_overlapping_pools_do_not_deadlock(db_url: str) -> None:
    """Two stores (as two server processes) provision at once into the same pools, one walking them up and
    the other down, so their batches hold overlapping pools named in opposite orders: no deadlock (which
    PostgreSQL would break by failing a caller), every caller served, counters exact."""
    stores = [Store(db_url), Store(db_url)]
    try:
        service.plan_apply(stores[0], parse_plan(MANY_PLAN))

        def call(job: tuple[int, int]) -> dict[str, Any]:
            side, i = job
            pool = i % POOLS if side == 0 else POOLS - 1 - i % POOLS
            return service.add_subscriber(stores[side], SubscriberSpec(name=f"x{side}-{i}", pool=f"p{pool}"))

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(call, [(side, i) for i in range(80) for side in (0, 1)]))
        assert len({r["ipv4"] for r in results}) == 160
        counters_match(stores[0])
    finally:
        for s in stores:
            s.close()
