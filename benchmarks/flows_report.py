"""Full flow report, end to end, vs the seed's approach, pandas, and a bare DuckDB scan.

    python benchmarks/flows_report.py [--records 10000000] [--workdir /tmp/v6ops-flows-bench]

Writes N default-format (v2, with header) VPC flow records, 60% IPv6, power-law talkers (Zipf over
address pools, privacy addresses inside /64s), as uncompressed text and as AWS-style Parquet
(INT_32/INT_64/STRING, gzip). The report is measured as ``build_report`` runs it (clean files read
by the C reader straight into the report's aggregates) and row by row (``scan_files=False``, the
path of files with rejected lines). Each measurement runs in its own process so its peak RSS is its
own, after the input was read once into the page cache (this machine pages out cold cache); ours
and the bare DuckDB scans run ``--repeat`` times and the median is shown. The seed's approach (split
each line, ``ipaddress`` per address, dicts) and pandas (read_csv + groupby) run the same analyses
on a subset and are extrapolated; those lines say so.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from v6ops.addr import vector
from v6ops.flows.vpc import DEFAULT_FORMAT, INT32_FIELDS, INT64_FIELDS

BASE_EPOCH = 1767571200
CHUNK = 1_000_000


def _pool(rng: np.random.Generator, size: int, v6: bool) -> pa.Array:
    """Address text pool: IPv6 hosts (some privacy-random) in 5000 /64s, or IPv4 in 10/8."""
    if v6:
        prefix = rng.integers(0, 5000, size, dtype=np.uint64)
        hi = np.uint64(0x2A02A33C00000000) | (prefix << np.uint64(8))
        lo = rng.integers(1, 2**63, size, dtype=np.uint64)
        family = np.full(size, 6, np.uint8)
    else:
        hi = np.zeros(size, np.uint64)
        lo = np.uint64(10 << 24) | rng.integers(1, 2**24, size, dtype=np.uint64)
        family = np.full(size, 4, np.uint8)
    return vector.format_addresses(vector.from_parts(family, hi, lo))


def _zipf_index(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return (rng.zipf(1.3, n) - 1) % size


def write_data(workdir: Path, records: int) -> tuple[Path, Path]:
    text_path, parquet_path = workdir / f"vpc-{records}.log", workdir / f"vpc-{records}.parquet"
    if text_path.exists() and parquet_path.exists():
        return text_path, parquet_path
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    pools = {(v6, side): _pool(rng, 200_000 if side == "src" else 20_000, v6) for v6 in (True, False)
             for side in ("src", "dst")}
    writer = None
    with text_path.open("wb") as handle:
        handle.write((" ".join(DEFAULT_FORMAT) + "\n").encode())
        for offset in range(0, records, CHUNK):
            n = min(CHUNK, records - offset)
            v6 = rng.random(n) < 0.6
            cols: dict[str, pa.Array] = {}
            for side in ("src", "dst"):
                size = len(pools[(True, side)])
                idx = _zipf_index(rng, n, size)
                six = pools[(True, side)].take(pa.array(idx))
                four = pools[(False, side)].take(pa.array(idx % len(pools[(False, side)])))
                cols[f"{side}addr"] = pc.if_else(pa.array(v6), six, four)
            packets = rng.integers(1, 500, n)
            start = BASE_EPOCH + (rng.integers(0, 86400, n) // 60) * 60
            proto = rng.choice(np.array([6, 17, 1, 58]), n, p=[0.8, 0.15, 0.025, 0.025])
            values = {
                "version": np.full(n, 2), "account-id": pa.array(["123456789010"] * n),
                "interface-id": pa.array(np.char.add("eni-0a1b2c3d4e5f6", (rng.integers(0, 100, n)).astype(str))),
                "srcaddr": cols["srcaddr"], "dstaddr": cols["dstaddr"],
                "srcport": rng.integers(1024, 65535, n), "dstport": rng.choice(np.array([443, 80, 53, 22]), n),
                "protocol": proto, "packets": packets, "bytes": packets * rng.integers(60, 1500, n),
                "start": start, "end": start + 60,
                "action": pa.array(np.where(rng.random(n) < 0.05, "REJECT", "ACCEPT")),
                "log-status": pa.array(["OK"] * n),
            }
            arrays = {k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in values.items()}
            text = pc.binary_join_element_wise(*(a.cast(pa.string()) for a in arrays.values()), " ")
            handle.write(("\n".join(text.to_pylist()) + "\n").encode())
            typed = {k.replace("-", "_"): a.cast(pa.int32() if k in INT32_FIELDS else pa.int64() if k in INT64_FIELDS
                                                 else pa.string()) for k, a in arrays.items()}
            table = pa.table(typed)
            if writer is None:
                writer = pq.ParquetWriter(parquet_path, table.schema, compression="gzip")
            writer.write_table(table, row_group_size=CHUNK)
    if writer is not None:
        writer.close()
    return text_path, parquet_path


# ---- the measured runs (each in a child process) -------------------------------------------------

def run_ours(path: str, scan_files: bool = True) -> dict[str, Any]:
    from v6ops.flows.pipeline import build_report

    start = time.perf_counter()
    report = build_report([path], scan_files=scan_files)
    elapsed = time.perf_counter() - start
    return {"records": report["summary"]["flows"], "seconds": elapsed, "timing": report["timing_seconds"],
            "ipv6_share": report["adoption"]["flows"]["ipv6_share"]}


def run_duckdb_count(path: str) -> dict[str, Any]:
    import duckdb

    start = time.perf_counter()
    count = duckdb.sql(f"SELECT count(*) FROM read_csv('{path}', delim=' ', header=true)").fetchall()[0][0]
    return {"records": count, "seconds": time.perf_counter() - start}


def run_duckdb_parquet_columns(path: str) -> dict[str, Any]:
    """Every value of the columns the report reads, decoded and touched; no grouping at all."""
    import duckdb

    start = time.perf_counter()
    count = duckdb.sql(
        "SELECT count(*), sum(hash(srcaddr)), sum(hash(dstaddr)), sum(packets), sum(bytes), min(start), "
        f"max(\"end\"), count(action), count(log_status), sum(protocol) FROM read_parquet('{path}')"
    ).fetchall()[0][0]
    return {"records": count, "seconds": time.perf_counter() - start}


def run_seed(path: str, limit: int) -> dict[str, Any]:
    """The seed's approach: split each line, ipaddress per address, dicts; the same analyses."""
    start = time.perf_counter()
    family_counts: Counter[int] = Counter()
    family_bytes: Counter[int] = Counter()
    actions: Counter[str] = Counter()
    protocols: Counter[str] = Counter()
    trends: Counter[tuple[int, int]] = Counter()
    talkers: dict[str, Counter[Any]] = defaultdict(Counter)
    n = 0
    with open(path) as handle:
        next(handle)
        for line in handle:
            if n >= limit:
                break
            f = line.split()
            src, dst = ipaddress.ip_address(f[3]), ipaddress.ip_address(f[4])
            b = int(f[9])
            family_counts[src.version] += 1
            family_bytes[src.version] += b
            actions[f[12]] += 1
            protocols[f[7]] += 1
            trends[(int(f[10]) // 3600, src.version)] += 1
            talkers["src"][src] += b
            talkers["dst"][dst] += b
            talkers["pair"][(src, dst)] += b
            net = ipaddress.ip_network(f"{src}/{64 if src.version == 6 else 24}", strict=False)
            talkers["src64"][net] += b
            n += 1
    for counter in talkers.values():
        counter.most_common(10)
    return {"records": n, "seconds": time.perf_counter() - start}


def run_pandas(path: str, limit: int) -> dict[str, Any]:
    """pandas read_csv + groupby; addresses parsed once per distinct text with ipaddress."""
    import pandas as pd

    start = time.perf_counter()
    df = pd.read_csv(path, sep=" ", nrows=limit, na_values=["-"])
    for side in ("srcaddr", "dstaddr"):
        uniques = pd.unique(df[side])
        parsed = {u: ipaddress.ip_address(u) for u in uniques}
        df[side + "_v"] = df[side].map(lambda t, p=parsed: int(p[t]))  # type: ignore[misc]
        df[side + "_fam"] = df[side].map(lambda t, p=parsed: p[t].version)  # type: ignore[misc]
    df["src64"] = np.where(df["srcaddr_fam"] == 6, df["srcaddr_v"].map(lambda v: v >> 64), df["srcaddr_v"] // 256)
    df.groupby("srcaddr_fam").agg(flows=("bytes", "size"), packets=("packets", "sum"), bytes=("bytes", "sum"))
    df.groupby(["action", "srcaddr_fam"]).size()
    df.groupby(["protocol", "srcaddr_fam"]).size()
    df.groupby([df["start"] // 3600, "srcaddr_fam"]).size()
    for keys in (["srcaddr"], ["dstaddr"], ["srcaddr", "dstaddr"], ["src64", "srcaddr_fam"]):
        df.groupby(keys)["bytes"].sum().nlargest(10)
    return {"records": len(df), "seconds": time.perf_counter() - start}


def peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would carry over the parent's peak across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, path: str, limit: int) -> None:
    runs = {"ours": lambda: run_ours(path), "rows": lambda: run_ours(path, scan_files=False),
            "duckdb": lambda: run_duckdb_count(path), "duckdb-parquet": lambda: run_duckdb_parquet_columns(path),
            "seed": lambda: run_seed(path, limit), "pandas": lambda: run_pandas(path, limit)}
    cpu = time.process_time()
    result = runs[kind]()
    result["cpu_seconds"] = time.process_time() - cpu  # all threads: comparable on a shared, loaded machine
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def warm(path: Path) -> None:
    """Read the file once so that every run starts from the page cache, as the others did."""
    with path.open("rb", buffering=0) as handle:
        while handle.read(64 << 20):
            pass


def measure(kind: str, path: Path, limit: int = 0, repeat: int = 1) -> dict[str, Any]:
    """The median run by wall time of ``repeat`` runs, each in a fresh process."""
    results = []
    for _ in range(repeat):
        warm(path)
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), str(limit)], check=True,
                             capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["rate"] = result["records"] / result["seconds"]
        results.append(result)
    return sorted(results, key=lambda r: r["seconds"])[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--seed-records", type=int, default=300_000, help="subset for the seed's approach")
    parser.add_argument("--pandas-records", type=int, default=2_000_000, help="subset for pandas")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/v6ops-flows-bench"))
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours and the bare scans; the median is shown")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    t0 = time.perf_counter()
    text_path, parquet_path = write_data(args.workdir, args.records)
    print(f"data: {args.records:,} records, text {text_path.stat().st_size / 1e6:.0f} MB, parquet "
          f"{parquet_path.stat().st_size / 1e6:.0f} MB (written in {time.perf_counter() - t0:.1f} s)")
    ours_text = measure("ours", text_path, repeat=args.repeat)
    ours_parquet = measure("ours", parquet_path, repeat=args.repeat)
    rows_text = measure("rows", text_path)
    duck = measure("duckdb", text_path, repeat=args.repeat)
    duck_parquet = measure("duckdb-parquet", parquet_path, repeat=args.repeat)
    seed = measure("seed", text_path, min(args.seed_records, args.records))
    pandas = measure("pandas", text_path, min(args.pandas_records, args.records))

    def line(label: str, r: dict[str, Any], note: str = "") -> None:
        print(f"{label:<46} {r['rate'] / 1e6:6.2f} M rec/s  {r['seconds']:6.2f} s wall  {r['cpu_seconds']:6.2f} s CPU"
              f"  {r['records'] / r['cpu_seconds'] / 1e6:6.2f} M rec/CPU-s  peak {r['peak_rss_mb']:5.0f} MB  {note}")

    line("v6ops full report, uncompressed text", ours_text, f"(ingest {ours_text['timing']['ingest']} s, "
         f"analyses {ours_text['timing']['analyses']} s)")
    line("v6ops full report, Parquet (gzip, AWS layout)", ours_parquet, f"(ingest {ours_parquet['timing']['ingest']} "
         f"s, analyses {ours_parquet['timing']['analyses']} s)")
    line("  same, row by row (scan_files=False), text", rows_text, f"(ingest {rows_text['timing']['ingest']} s, "
         f"analyses {rows_text['timing']['analyses']} s)")
    line("DuckDB bare count(*) scan of the text", duck)
    line("DuckDB bare scan of the Parquet columns read", duck_parquet, "(every value decoded, nothing grouped)")
    line(f"seed approach on {seed['records']:,} rows", seed, "(rate extrapolated to the full file)")
    line(f"pandas read_csv+groupby on {pandas['records']:,} rows", pandas, "(rate extrapolated to the full file)")
    def per_cpu(r: dict[str, Any]) -> float:
        return float(r["records"] / r["cpu_seconds"])

    print(f"ratio vs the row-by-row path (text): {ours_text['rate'] / rows_text['rate']:.1f}x wall, "
          f"{per_cpu(ours_text) / per_cpu(rows_text):.1f}x CPU")
    print(f"ratio vs seed approach (text):   {ours_text['rate'] / seed['rate']:.1f}x wall, "
          f"{per_cpu(ours_text) / per_cpu(seed):.1f}x CPU")
    print(f"ratio vs pandas (text):          {ours_text['rate'] / pandas['rate']:.1f}x wall, "
          f"{per_cpu(ours_text) / per_cpu(pandas):.1f}x CPU")
    print(f"fraction of bare DuckDB scan (Parquet): {ours_parquet['rate'] / duck_parquet['rate']:.2f} wall, "
          f"{per_cpu(ours_parquet) / per_cpu(duck_parquet):.2f} CPU")
    print(f"fraction of bare DuckDB scan (text):    {ours_text['rate'] / duck['rate']:.2f} wall, "
          f"{per_cpu(ours_text) / per_cpu(duck):.2f} CPU")


if __name__ == "__main__":
    main()
