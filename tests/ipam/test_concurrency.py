"""16 concurrent API clients against a real server: every allocation distinct and non-overlapping, no 5xx."""

from __future__ import annotations

import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.ipam.server import api_server
from v6ops.ipam import service
from v6ops.ipam.plan import parse_plan
from v6ops.store.db import Store
from v6ops.store.types import network_from_key

CLIENTS = 16
# The acceptance size, 16 x 1,000 (about 4 min 10 s for SQLite and PostgreSQL together on
# the shared 2-core machine); V6OPS_IPAM_CONCURRENCY_N=50 gives a quick local run.
PER_CLIENT = int(os.environ.get("V6OPS_IPAM_CONCURRENCY_N", "1000"))
PLAN = {
    "vrfs": ["global"],
    "pools": [{"name": "load", "role": "residential", "lab": True,
               "ipv4": {"prefix": "100.64.0.0/16", "customer_length": 32},
               "ipv6_address": {"prefix": "2001:db8:ff01:1::/64", "customer_length": 128, "subnet": True},
               "ipv6_delegation": {"prefix": "2001:db8::/40", "customer_length": 64}}],
}


def client_run(server: tuple[str, dict[str, str]], client_no: int) -> list[tuple[int, float, dict[str, Any] | str]]:
    out = []
    base, headers = server
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for i in range(PER_CLIENT):
            start = time.perf_counter()
            r = http.post("/api/v1/ipam/subscribers", json={"name": f"c{client_no}-{i}", "pool": "load"})
            out.append((r.status_code, time.perf_counter() - start, r.json() if r.status_code < 500 else r.text))
    return out


@pytest.mark.slow
def test_concurrent_dual_stack_allocations(store: Store) -> None:
    service.plan_apply(store, parse_plan(PLAN))
    started = time.perf_counter()
    with api_server(store.url) as server, ThreadPoolExecutor(CLIENTS) as pool:
        results = [r for rs in pool.map(lambda k: client_run(server, k), range(CLIENTS)) for r in rs]
    elapsed = time.perf_counter() - started
    statuses = sorted({status for status, _, _ in results})
    assert statuses == [201], [r for r in results if r[0] != 201][:3]
    total = CLIENTS * PER_CLIENT
    latencies = sorted(t for _, t, _ in results)
    print(f"\n{store.dialect}: {total} dual-stack allocations by {CLIENTS} clients in {elapsed:.1f} s "
          f"({total / elapsed:.0f}/s), p50 {latencies[total // 2] * 1000:.1f} ms, "
          f"p99 {latencies[int(total * 0.99)] * 1000:.1f} ms")
    bodies = [b for _, _, b in results]
    assert all(isinstance(b, dict) for b in bodies)
    for key in ("ipv4", "ipv6_address", "ipv6_prefix"):
        values = [b[key] for b in bodies if isinstance(b, dict)]
        assert None not in values and len(set(values)) == total, key
    # The utilization counters, kept incrementally under the pool lock, agree with the rows.
    used = {p["purpose"]: p["used"] for p in service.list_prefixes(store) if p["pool"] == "load"}
    assert used == {"ipv4": total, "ipv6-address": total, "ipv6-delegation": total}
    # Independent of the API: no two stored allocations of a family overlap.
    with store.read() as session:
        rows = session.execute(text("SELECT family, network, length FROM allocations")).all()
    assert len(rows) == 3 * total
    for family, width in ((4, 32), (6, 128)):
        spans = sorted(
            (network_from_key(bytes(n)), network_from_key(bytes(n)) + (1 << (width - ln)) - 1)
            for f, n, ln in rows if f == family
        )
        assert all(a_end < b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
