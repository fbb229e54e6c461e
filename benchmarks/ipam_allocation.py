"""Single allocations as a pool fills, and next-free /64 vs the NetBox approach.

    python benchmarks/ipam_allocation.py [--max 1000000] [--children 20000]

1. Flatness: a /40 pool handing out /64s, filled to 1,000 ... --max allocations; at each
   level 200 single first-fit allocations are timed (each its own committed transaction).
2. NetBox: next free /64 in a /48 holding --children /64s, laid out as first fit leaves
   them (the first ones, every 10th released) and at random. NetBox computes
   IPSet(parent) - IPSet(children) with netaddr on every call (children already in memory
   here, which flatters it); v6ops asks its free-space index (``available-prefixes``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import netaddr

from ipam_common import fill_sequentially, store_with_pool
from v6ops.addr import Prefix
from v6ops.ipam import service
from v6ops.ipam.engine import RangeAllocator, pool_with_ranges, utcnow
from v6ops.ipam.freespace import FreeSpace
from v6ops.store.db import Store
from v6ops.store.models import PlanPrefix


def one_allocation(store: Store) -> float:
    start = time.perf_counter()
    with store.write() as session:
        pool, ranges = pool_with_ranges(session, "flat", lock=True)
        RangeAllocator(session, ranges["ipv6-delegation"], pool).allocate(64, "delegated-prefix", utcnow())
    return time.perf_counter() - start


def flatness(tmp: Path, levels: list[int]) -> list[tuple[int, float, float]]:
    store = store_with_pool(f"sqlite:///{tmp / 'flat.db'}", "flat", "2001:db8:100::/40", 64)
    out = []
    for level in levels:
        fill_sequentially(store, "flat/ipv6-delegation", level)
        times = sorted(one_allocation(store) for _ in range(200))
        out.append((level, statistics.median(times), times[int(len(times) * 0.99)]))
    return out


def netbox_comparison(tmp: Path, children: int, layout: str) -> tuple[float, float]:
    parent = Prefix.parse("2001:db8:200::/48")
    store = store_with_pool(f"sqlite:///{tmp / f'netbox-{layout}.db'}", "nb", str(parent), 64)
    if layout == "random":
        picks = sorted(random.Random(7).sample(range(parent.count_subnets(64)), children))
    else:  # what first fit leaves: the first N /64s, with every 10th released
        picks = [i for i in range(children + children // 9) if i % 10 != 9][:children]
    child_prefixes = [parent.subnet(i, 64) for i in picks]
    with store.write() as session:
        row = session.query(PlanPrefix).filter_by(name="nb/ipv6-delegation").one()
        space = FreeSpace(session, row.id, parent, 64)
        for child in child_prefixes:
            assert space.take_exact(child)
    ours_first = service.available_prefixes(store, "nb/ipv6-delegation", 64, 1)[0]
    ours = []
    for _ in range(200):
        start = time.perf_counter()
        service.available_prefixes(store, "nb/ipv6-delegation", 64, 1)
        ours.append(time.perf_counter() - start)
    children_text = [str(c) for c in child_prefixes]
    netbox = []
    for _ in range(5):
        start = time.perf_counter()
        free = netaddr.IPSet([str(parent)]) - netaddr.IPSet(children_text)
        first = next(free.iter_cidrs()[0].subnet(64))
        netbox.append(time.perf_counter() - start)
    assert str(first) == ours_first, (first, ours_first)
    return statistics.median(ours), statistics.median(netbox)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=1_000_000)
    parser.add_argument("--children", type=int, default=20_000)
    args = parser.parse_args()
    levels = [0] + [n for n in (1_000, 10_000, 100_000, 1_000_000) if n <= args.max]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        flat = flatness(tmp, levels)
        compared = {layout: netbox_comparison(tmp, args.children, layout) for layout in ("first-fit", "random")}
    print("allocations in the /40   p50 ms   p99 ms")
    for level, p50, p99 in flat:
        print(f"{level:>22,} {p50 * 1000:8.3f} {p99 * 1000:8.3f}")
    for layout, (ours, netbox) in compared.items():
        print(f"next free /64 in a /48 with {args.children:,} {layout} children: v6ops {ours * 1000:.3f} ms, "
              f"NetBox IPSet {netbox * 1000:.1f} ms")
    first, last = flat[0][1], flat[-1][1]
    thousand = next(p50 for level, p50, _ in flat if level == 1_000)
    print(f"ratio {flat[-1][0]:,}th vs 1st allocation (p50): {last / first:.2f}  (target <= 2)")
    print(f"ratio {flat[-1][0]:,} vs 1,000 allocations (p50): {last / thousand:.2f}  (target <= 2)")
    for layout, (ours, netbox) in compared.items():
        print(f"ratio NetBox / v6ops next free /64 ({layout} children): {netbox / ours:.0f}x  (target >= 100x)")


if __name__ == "__main__":
    main()
