"""ALB access-log parsing: by column (``alb.parse_chunk``) vs the line-by-line parser, same lines, same run.

    python benchmarks/flows_alb.py [--requests 300000]

The generator's ALB log (mixed IPv4/IPv6 clients, failed dispatches) is parsed both ways into the
normalized table; the line-by-line side is the tokenizer + per-field conversion every line went
through before (``alb.parse_each_line``), which still takes the lines the column path does not.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from v6ops.flows import alb
from v6ops.flows.generate import generate
from v6ops.flows.problems import Rejections


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), flows=10, requests=args.requests)
        data = (Path(tmp) / "logs" / "alb.log").read_bytes()
    lines = data.decode().splitlines()
    print(f"{len(lines):,} ALB lines, {len(data) / 1e6:.0f} MB")
    start = time.perf_counter()
    columns = alb.parse_chunk(pa.py_buffer(data), "alb.log", Rejections())
    by_column = time.perf_counter() - start
    start = time.perf_counter()
    rows = alb.parse_each_line(lines, "alb.log", Rejections())
    by_line = time.perf_counter() - start
    assert columns.num_rows == rows.num_rows == len(lines)
    for label, seconds in (("by column (parse_chunk)", by_column), ("line by line (parse_each_line)", by_line)):
        print(f"{label:<31} {len(lines) / seconds / 1e3:6.0f} k lines/s  {seconds:6.2f} s")
    print(f"ratio: {by_line / by_column:.1f}x")


if __name__ == "__main__":
    main()
