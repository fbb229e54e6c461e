"""Vector address ops against per-row baselines, in one run.

    python3 benchmarks/addr_vector.py            # full size: 1M distinct, 10M repeated, 100k prefixes x 5M lookups
    python3 benchmarks/addr_vector.py --quick    # a tenth of that, for a smoke run

Parse: ``parse_addresses`` on an all-distinct column and on a realistic flow column (power-law
repeats of 200k addresses, as a plain string column and as the dictionary column that Parquet and
``pyarrow.csv`` with ``auto_dict_encode`` deliver), next to a per-row ``ipaddress.ip_address`` loop.
LPM: ``PrefixTable.lookup`` with 100k prefixes next to pytricia (a C patricia trie, looked up per
row), whose answers are also compared with ours. Rates are rows per second of wall time, best of
``--repeat`` runs; the CPU-time rate is shown too because the machine is shared. Ratios come last.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytricia

from v6ops.addr import Prefix
from v6ops.addr.vector import AddressColumn, PrefixTable, format_addresses, from_parts, parse_addresses

_U64 = np.uint64


def best_rate(rows: int, run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(rows per wall second, rows per CPU second), best of ``repeat`` runs after a warm-up."""
    run()
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        run()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return rows / wall, rows / cpu


def loop_rate(items: list[str], per_row: Callable[[str], object]) -> float:
    start = time.perf_counter()
    for item in items:
        per_row(item)
    return len(items) / (time.perf_counter() - start)


def random_addresses(rng: np.random.Generator, count: int, v6_share: float = 0.6) -> AddressColumn:
    """IPv6 in 2000::/4 (some /64s with small interface IDs, so '::' occurs) and IPv4, all random."""
    v6 = rng.random(count) < v6_share
    hi = (_U64(0x2) << _U64(60)) | rng.integers(0, 2**60, count, dtype=np.uint64)
    small_iid = rng.random(count) < 0.2
    lo = np.where(small_iid, rng.integers(1, 2**16, count, dtype=np.uint64), rng.integers(0, 2**63, count, dtype=np.uint64) * _U64(2))
    family = np.where(v6, 6, 4).astype(np.uint8)
    return from_parts(family, np.where(v6, hi, _U64(0)), np.where(v6, lo, lo >> _U64(32)))


def random_prefixes(rng: np.random.Generator, count: int) -> list[Prefix]:
    """70% IPv6 /32-/64 under a few hundred /24s (so they nest), 30% IPv4 /8-/28."""
    out: set[Prefix] = set()
    parents = [0x2000_0000_0000_0000 | int(p) << 40 for p in rng.integers(0, 2**20, 300)]
    while len(out) < count:
        if rng.random() < 0.7:
            length = int(rng.integers(32, 65))
            value = (parents[int(rng.integers(0, len(parents)))] | int(rng.integers(0, 2**40))) << 64
            out.add(Prefix(6, value & (((1 << length) - 1) << (128 - length)), length))
        else:
            length = int(rng.integers(8, 29))
            out.add(Prefix(4, int(rng.integers(0, 2**32)) & (((1 << length) - 1) << (32 - length)), length))
    return sorted(out)


def addresses_in(rng: np.random.Generator, prefixes: list[Prefix], count: int) -> AddressColumn:
    """80% of the addresses inside a random prefix of the table, 20% anywhere."""
    pick = rng.integers(0, len(prefixes), count)
    version = np.array([p.version for p in prefixes], np.uint8)[pick]
    net_hi = np.array([p.network >> 64 for p in prefixes], np.uint64)[pick]
    net_lo = np.array([p.network & (2**64 - 1) for p in prefixes], np.uint64)[pick]
    host = np.array([p.width - p.length for p in prefixes], np.uint64)[pick]
    noise = rng.integers(0, 2**63, count, dtype=np.uint64) * _U64(2) + _U64(1)
    lo_mask = np.where(host >= 64, ~_U64(0), (_U64(1) << np.minimum(host, _U64(63))) - _U64(1))
    hi_mask = np.where(host > 64, (_U64(1) << (np.maximum(host, _U64(64)) - _U64(64))) - _U64(1), _U64(0))
    inside = from_parts(version, net_hi | (noise & hi_mask), net_lo | (noise & lo_mask))
    anywhere = random_addresses(rng, count)
    take = rng.random(count) < 0.8
    return from_parts(
        np.where(take, inside.family, anywhere.family),
        np.where(take, inside.hi, anywhere.hi),
        np.where(take, inside.lo, anywhere.lo),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distinct", type=int, default=1_000_000, help="rows of the all-distinct column")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the repeated flow column")
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5_000_000)
    parser.add_argument("--baseline-rows", type=int, default=200_000, help="rows the per-row loops run over")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    args = parser.parse_args()
    if args.quick:
        for name in ("distinct", "rows", "prefixes", "lookups", "baseline_rows"):
            setattr(args, name, max(getattr(args, name) // 10, 1000))
    rng = np.random.default_rng(20261122)
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ratios: list[tuple[str, float, float]] = []

    print(f"== parse: {args.distinct:,} distinct addresses (60% IPv6) ==")
    distinct = format_addresses(random_addresses(rng, args.distinct))
    sample = distinct.slice(0, args.baseline_rows).to_pylist()
    ours, ours_cpu = best_rate(len(distinct), lambda: parse_addresses(distinct), args.repeat)
    baseline = loop_rate(sample, ipaddress.ip_address)
    print(f"  ours parse_addresses        {ours / 1e6:8.2f} M/s   (cpu {ours_cpu / 1e6:.2f} M/s)")
    print(f"  per-row ipaddress loop      {baseline / 1e6:8.2f} M/s")
    ratios.append(("parse, all distinct, vs ipaddress loop", ours, baseline))

    print(f"== parse: realistic flow column, {args.rows:,} rows, power-law repeats of 200k addresses ==")
    talkers = format_addresses(random_addresses(rng, 200_000))
    column = talkers.take(pa.array((rng.zipf(1.2, args.rows) - 1) % len(talkers)))
    dictionary = column.dictionary_encode()
    ours_text, ours_text_cpu = best_rate(len(column), lambda: parse_addresses(column), args.repeat)
    ours_dict, ours_dict_cpu = best_rate(len(column), lambda: parse_addresses(dictionary), args.repeat)
    baseline = loop_rate(column.slice(0, args.baseline_rows).to_pylist(), ipaddress.ip_address)
    print(f"  ours, string column         {ours_text / 1e6:8.2f} M/s   (cpu {ours_text_cpu / 1e6:.2f} M/s)")
    print(f"  ours, dictionary column     {ours_dict / 1e6:8.2f} M/s   (cpu {ours_dict_cpu / 1e6:.2f} M/s)")
    print(f"  per-row ipaddress loop      {baseline / 1e6:8.2f} M/s")
    ratios.append(("parse, repeated string column, vs ipaddress loop", ours_text, baseline))
    ratios.append(("parse, repeated dictionary column, vs ipaddress loop", ours_dict, baseline))

    print(f"== longest-prefix match: {args.prefixes:,} prefixes, {args.lookups:,} lookups ==")
    prefixes = random_prefixes(rng, args.prefixes)
    labels = [f"t{i}" for i in range(len(prefixes))]
    start = time.perf_counter()
    table = PrefixTable.from_prefixes(prefixes, labels)
    print(f"  ours: table built in {time.perf_counter() - start:.2f} s")
    trees = {4: pytricia.PyTricia(32), 6: pytricia.PyTricia(128)}
    start = time.perf_counter()
    for prefix, label in zip(prefixes, labels, strict=True):
        trees[prefix.version][str(prefix)] = label
    print(f"  pytricia: trees built in {time.perf_counter() - start:.2f} s")
    addresses = addresses_in(rng, prefixes, args.lookups)
    texts = format_addresses(addresses)
    ours, ours_cpu = best_rate(len(addresses), lambda: table.lookup(addresses), args.repeat)
    both, _ = best_rate(len(addresses), lambda: table.lookup(parse_addresses(texts)), 1)
    sample = texts.slice(0, args.baseline_rows).to_pylist()
    by_family = {v: [t for t in sample if (":" in t) == (v == 6)] for v in (4, 6)}
    start = time.perf_counter()
    answers = {v: list(map(trees[v].get, by_family[v])) for v in (4, 6)}  # pytricia's fastest loop: one family at a time
    baseline = len(sample) / (time.perf_counter() - start)
    in_order = {v: iter(answers[v]) for v in (4, 6)}
    theirs = [next(in_order[6 if ":" in t else 4]) for t in sample]
    ours_answer = table.values_of(parse_addresses(texts.slice(0, args.baseline_rows))).to_pylist()
    disagree = sum(a != b for a, b in zip(ours_answer, theirs, strict=True))
    matched = sum(a is not None for a in theirs) / len(theirs)
    print(f"  ours lookup (parsed column) {ours / 1e6:8.2f} M/s   (cpu {ours_cpu / 1e6:.2f} M/s)")
    print(f"  ours parse + lookup (text)  {both / 1e6:8.2f} M/s")
    print(f"  pytricia get per row (text) {baseline / 1e6:8.2f} M/s")
    print(f"  answers compared with pytricia on {len(sample):,} rows ({matched:.0%} matched a prefix): {disagree} differ")
    if disagree:
        raise SystemExit(f"{disagree} lookups differ from pytricia")
    ratios.append(("LPM lookup vs pytricia", ours, baseline))
    ratios.append(("LPM parse + lookup from text vs pytricia", both, baseline))

    print("== ratios (ours / baseline) ==")
    for name, mine, theirs_rate in ratios:
        print(f"  {name:55s} {mine / theirs_rate:7.1f}x")


if __name__ == "__main__":
    main()
