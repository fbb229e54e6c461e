"""The full flow report with the threat detections vs the report without them, and Spark local[2] beside DuckDB.

    python benchmarks/flows_detect.py [--records 10000000] [--spark-records N] [--workdir /tmp/v6ops-flows-bench]

Same data as benchmarks/flows_report.py (N default-format VPC records, 60% IPv6, Zipf talkers,
privacy addresses inside /64s; written once and reused). Each measurement runs in its own process
after the file was read into the page cache:

- ``report``: ``build_report`` as shipped (clean files read by the C reader into aggregates);
- ``report+detect``: the same report with every default detection rule (``detect=DetectionConfig()``):
  the C reader also sums the counted flows per source, destination, protocol, port and minute
  (the gcd of the rules' slides), which the rules read in place of rows;
- ``report+input``: the same report with an empty rule set (``DetectionConfig(rules=())``): the
  reader still keeps that aggregate and the detections still load it (``detect_base``), but no rule
  reads it. What the rules read costs this much before any rule runs, so its ratio to the report
  bounds what any rule set over this input can reach;
- ``report+never``: the same with three tumbling one-minute rules that cannot fire (a port scan, an
  address scan and a high volume over 10^12): one pass of each shared stage over that input, no
  window breached, no evidence; the least a rule set of the three kinds costs;
- ``spark``: the report with detections on the Spark engine, ``local[2]``, on the same file (by
  default), or on its first ``--spark-records`` records beside DuckDB on those (the rate is what
  is compared; the line says so).
  Spark's executors read the file themselves (a plain text file over 64 MiB is split over both
  tasks and parsed by the row path's parsers); the wall time includes starting the JVM.

The load average is printed before and after the runs (the machine may be shared); the ratio
printed last is report+detect over report, by wall time (target >= 0.75).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any

from flows_report import peak_rss_mb, warm, write_data


def run(kind: str, path: str) -> dict[str, Any]:
    from v6ops.flows.detections import DetectionConfig, Rule
    from v6ops.flows.pipeline import build_report

    start = time.perf_counter()
    if kind == "report":
        report = build_report([path])
    elif kind == "report+detect":
        report = build_report([path], detect=DetectionConfig())
    elif kind == "report+input":
        report = build_report([path], detect=DetectionConfig(rules=()))
    elif kind == "report+never":
        never = tuple(Rule(name=k.replace("_", "-"), kind=k, threshold=1e12)
                      for k in ("port_scan", "address_scan", "high_volume"))
        report = build_report([path], detect=DetectionConfig(rules=never))
    else:
        report = build_report([path], detect=DetectionConfig(), engine_name="spark", master="local[2]")
    return {"records": report["summary"]["flows"], "seconds": time.perf_counter() - start,
            "timing": report["timing_seconds"], "detections": len(report.get("detections", []))}


def measure(kind: str, path: Path) -> dict[str, Any]:
    warm(path)
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": "--driver-memory 6g pyspark-shell"}
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True,
                         text=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rate"] = result["records"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--spark-records", type=int, default=None, help="default: every record (the same file)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/v6ops-flows-bench"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cpu = time.process_time()
        result = run(args.child[0], args.child[1])
        result["cpu_seconds"] = time.process_time() - cpu
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    text_path, _ = write_data(args.workdir, args.records)
    spark_records = min(args.spark_records or args.records, args.records)
    subset = text_path
    if spark_records < args.records:
        subset = args.workdir / f"vpc-{args.records}-first-{spark_records}.log"
        if not subset.exists():
            with text_path.open() as source, subset.open("w") as target:
                target.writelines(islice(source, spark_records + 1))  # the header line and N records
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    report = measure("report", text_path)
    detect = measure("report+detect", text_path)
    detect_input = measure("report+input", text_path)
    never = measure("report+never", text_path)
    spark = measure("spark", subset)
    duck_subset = detect if subset == text_path else measure("report+detect", subset)

    def line(label: str, r: dict[str, Any]) -> None:
        print(f"{label:<58} {r['rate'] / 1e6:6.3f} M rec/s  {r['seconds']:7.2f} s wall  {r['cpu_seconds']:7.2f} s CPU"
              f"  peak {r['peak_rss_mb']:5.0f} MB  (ingest {r['timing']['ingest']} s, analyses "
              f"{r['timing']['analyses']} s, {r['detections']} detections)")

    line(f"DuckDB report, {report['records']:,} records", report)
    line(f"DuckDB report + detections, {detect['records']:,} records", detect)
    line(f"DuckDB report + detections' input, no rule, {detect_input['records']:,}", detect_input)
    line(f"DuckDB report + 3 rules that cannot fire, {never['records']:,}", never)
    if duck_subset is not detect:
        line(f"DuckDB report + detections, {duck_subset['records']:,} records", duck_subset)
    line(f"Spark local[2] report + detections, {spark['records']:,} records", spark)
    print(f"Spark local[2] vs DuckDB, report + detections on {spark['records']:,} records: "
          f"{spark['rate'] / duck_subset['rate']:.3f}x")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"report with the detections' input and no rule / without (wall; no rule set over this input does better): "
          f"{detect_input['rate'] / report['rate']:.2f}")
    print(f"report with 3 rules that cannot fire / without (wall): {never['rate'] / report['rate']:.2f}")
    print(f"report with detections / without (wall, {args.records:,} records): {detect['rate'] / report['rate']:.2f}")


if __name__ == "__main__":
    main()
