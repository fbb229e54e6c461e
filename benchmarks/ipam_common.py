"""Shared set-up for the IPAM benchmarks: a store with one pool, and a fast way to fill it."""

from __future__ import annotations

from datetime import datetime

from v6ops.addr import Address, Prefix, summarize_range
from v6ops.ipam import service
from v6ops.ipam.plan import parse_plan
from v6ops.store.db import Store, open_store
from v6ops.store.models import PlanPrefix
from v6ops.store.types import network_key


def store_with_pool(url: str, name: str, prefix: str, customer_length: int, purpose: str = "ipv6_delegation") -> Store:
    store = open_store(url)
    policy = "ipv4-only" if purpose == "ipv4" else "ipv6-only"
    service.plan_apply(store, parse_plan({"vrfs": ["global"], "pools": [
        {"name": name, "role": "bench", "family_policy": policy, "lab": True,
         purpose: {"prefix": prefix, "customer_length": customer_length}}]}))
    return store


def fill_sequentially(store: Store, range_name: str, count: int) -> None:
    """Grow the range to ``count`` allocations, writing the exact state first fit leaves behind.

    First fit from an empty range takes the blocks of the customer size in order, so the
    allocations are blocks 0..count-1 and the free space is the canonical decomposition
    of the rest (tests/ipam/test_freespace.py proves the allocator matches that oracle).
    Writing it directly takes seconds instead of hours for a million rows.
    """
    with store.write() as session:
        row = session.query(PlanPrefix).filter_by(name=range_name).one()
        assert row.customer_length is not None
        parent = Prefix(row.family, int.from_bytes(row.network, "big"), row.length)
        size = 1 << (parent.width - row.customer_length)
        conn = session.connection()
        now = datetime(2026, 1, 1)
        for start in range(row.used_units, count, 50_000):
            conn.exec_driver_sql(
                "INSERT INTO allocations (vrf_id, prefix_id, family, network, length, cidr, kind, status, "
                "description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(row.vrf_id, row.id, row.family, network_key(row.family, net), row.customer_length,
                  str(Prefix(row.family, net, row.customer_length)), "delegated-prefix", "active", "", now)
                 for net in range(parent.network + start * size, parent.network + min(count, start + 50_000) * size,
                                  size)])
        conn.exec_driver_sql("DELETE FROM free_blocks WHERE prefix_id = ?", (row.id,))
        first_free = parent.network + count * size
        free = summarize_range(Address(row.family, first_free), parent.last) if first_free <= parent.broadcast else []
        conn.exec_driver_sql("INSERT INTO free_blocks (prefix_id, length, network) VALUES (?, ?, ?)",
                             [(row.id, b.length, network_key(row.family, b.network)) for b in free])
        row.used_units = count
