"""Single dual-stack allocation through the REST API (a real uvicorn server on loopback).

    python benchmarks/ipam_api_latency.py [--rows 1000000] [--requests 2000]

One client provisions subscribers one after another (POST /api/v1/ipam/subscribers with a
dual-stack pool: IPv4 + IPv6 address + delegated /64 under one DNS name, one transaction).
Measured twice in the same run: with an empty pool, and with --rows allocations present.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ipam_common import fill_sequentially

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for the test suite's server helper
from tests.ipam.server import api_server

from v6ops.ipam import service
from v6ops.ipam.plan import parse_plan
from v6ops.store.db import open_store

PLAN = {"vrfs": ["global"], "pools": [{
    "name": "load", "role": "residential", "lab": True,
    "ipv4": {"prefix": "100.64.0.0/10", "customer_length": 32},
    "ipv6_address": {"prefix": "2001:db8:ff01:1::/64", "customer_length": 128, "subnet": True},
    "ipv6_delegation": {"prefix": "2001:db8:100::/40", "customer_length": 64}}]}


def latencies(url: str, requests: int, tag: str) -> list[float]:
    out = []
    with api_server(url) as (base, headers), httpx.Client(base_url=base, headers=headers) as http:
        for i in range(requests):
            start = time.perf_counter()
            r = http.post("/api/v1/ipam/subscribers", json={"name": f"{tag}-{i}", "pool": "load",
                                                            "dns_name": f"{tag}-{i}.isp.example"})
            out.append(time.perf_counter() - start)
            assert r.status_code == 201, r.text
    return sorted(out)


def run(tmp: Path, rows: int, requests: int) -> tuple[float, float]:
    url = f"sqlite:///{tmp / f'api-{rows}.db'}"
    store = open_store(url)
    service.plan_apply(store, parse_plan(PLAN))
    if rows:
        fill_sequentially(store, "load/ipv6-delegation", rows)
    times = latencies(url, requests, f"r{rows}")
    return statistics.median(times), times[int(len(times) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        empty = run(Path(tmpdir), 0, args.requests)
        full = run(Path(tmpdir), args.rows, args.requests)
    print(f"empty pool:            p50 {empty[0] * 1000:6.2f} ms   p99 {empty[1] * 1000:6.2f} ms")
    print(f"{args.rows:>9,} allocations: p50 {full[0] * 1000:6.2f} ms   p99 {full[1] * 1000:6.2f} ms"
          "   (target p50 < 5 ms, p99 < 20 ms)")
    print(f"ratio p50 with {args.rows:,} rows / empty: {full[0] / empty[0]:.2f}")


if __name__ == "__main__":
    main()
