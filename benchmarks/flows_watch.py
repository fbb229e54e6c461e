"""Follow mode: per-poll time of the incremental watcher vs recomputing over every row, files arriving one per poll.

    python benchmarks/flows_watch.py [--files 24] [--records-per-file 40000] [--workdir /tmp/v6ops-watch-bench]

The data is benchmarks/flows_report.py's (default-format VPC records, 60% IPv6, Zipf talkers, one
day of event time), sorted by start and cut into ``--files`` files of consecutive event time, as
AWS delivers them. Two watchers, each with its own state, see the files arrive one per poll in the
same run: ``incremental`` is ``Watcher`` as shipped (the new rows' aggregates merged, each
detection rule recomputed only over the windows the new rows fall in); ``recompute`` is the same
watcher made to rebuild every aggregate and every window from all stored rows at each poll (what
follow mode did before). Both run the report, the alarms and every default detection rule, and
their final reports must be equal (checked). A poll's time is the poll that read the file (reading
and storing the file included). The ratio printed last is recompute over incremental, mean
per-poll time over the last quarter of the polls (where the stored rows are largest); the lines
before it also show the update's computation alone (``timing_seconds.analyses`` of the report:
no reading of the file, no writing of report.json/.md/.html, whose charts cost the same in both).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from flows_report import write_data
from v6ops.flows.vpc import DEFAULT_FORMAT
from v6ops.flows.watch import Watcher


class Recompute(Watcher):
    """The baseline: every update rebuilds the aggregates and the windows from all stored rows."""

    def _update(self, now: float) -> tuple[dict, int]:
        self.partials = None
        return super()._update(now)


def split(workdir: Path, files: int, per_file: int) -> list[Path]:
    """``files`` text files of consecutive event time, ``per_file`` records each (written once, reused)."""
    parts = workdir / f"parts-{files}x{per_file}"
    names = [parts / f"vpc-{i:03d}.log" for i in range(files)]
    if all(n.exists() for n in names):
        return names
    text_path, _ = write_data(workdir, files * per_file)
    table = pacsv.read_csv(text_path, parse_options=pacsv.ParseOptions(delimiter=" "),
                           convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in DEFAULT_FORMAT}))
    starts = pc.cast(table.column("start"), pa.int64())
    table = table.take(pc.sort_indices(starts))
    parts.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        piece = table.slice(index * per_file, per_file)
        lines = pc.binary_join_element_wise(*(piece.column(c) for c in DEFAULT_FORMAT), " ")
        name.write_text(" ".join(DEFAULT_FORMAT) + "\n" + "\n".join(lines.to_pylist()) + "\n")
    return names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--records-per-file", type=int, default=40_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/v6ops-watch-bench"))
    args = parser.parse_args()
    names = split(args.workdir, args.files, args.records_per_file)
    run = args.workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    incoming = run / "in"
    incoming.mkdir(parents=True)
    watchers = {kind: cls(incoming, run / kind / "state", run / kind / "out", settle=0)
                for kind, cls in (("incremental", Watcher), ("recompute", Recompute))}
    times: dict[str, list[float]] = {kind: [] for kind in watchers}
    updates: dict[str, list[float]] = {kind: [] for kind in watchers}  # the update's computation alone
    reports: dict[str, dict] = {}
    now = time.time()
    for index, name in enumerate(names):
        target = incoming / name.name
        shutil.copy(name, target)
        os.utime(target, (now - 100, now - 100))
        for kind, watcher in watchers.items():
            watcher.poll(now + 2 * index)  # first sight of the file: settling
            started = time.perf_counter()
            result = watcher.poll(now + 2 * index + 1)
            times[kind].append(time.perf_counter() - started)
            if result.read != [str(target)]:
                raise SystemExit(f"{kind}: poll {index} read {result.read}")
            assert result.report is not None
            reports[kind] = result.report
            updates[kind].append(result.report["timing_seconds"]["analyses"])
        print(f"poll {index + 1:3d}: {(index + 1) * args.records_per_file:>9,} rows stored   "
              f"incremental {times['incremental'][-1]:7.3f} s (update {updates['incremental'][-1]:6.3f} s)   "
              f"recompute {times['recompute'][-1]:7.3f} s (update {updates['recompute'][-1]:6.3f} s)", flush=True)
    for watcher in watchers.values():
        watcher.close()
    skip = ("timing_seconds",)
    same = all(reports["incremental"][k] == reports["recompute"][k] for k in reports["recompute"] if k not in skip)
    if not same:
        raise SystemExit("the incremental and the recomputed reports differ")
    tail = max(1, args.files // 4)
    mean = {kind: statistics.mean(t[-tail:]) for kind, t in times.items()}
    detections = len(reports["incremental"]["detections"])
    print(f"uptime: {os.popen('uptime').read().strip()}")
    print(f"{args.files} files x {args.records_per_file:,} records, {detections} detections; reports equal: {same}")
    for kind in watchers:
        print(f"{kind:12s} per poll: first {times[kind][0]:.3f} s, mean of the last {tail} {mean[kind]:.3f} s, "
              f"total {sum(times[kind]):.1f} s; the update's computation alone (no reading, no writing the "
              f"outputs): mean of the last {tail} {statistics.mean(updates[kind][-tail:]):.3f} s")
    print(f"recompute / incremental, mean per-poll time over the last {tail} polls: "
          f"{mean['recompute'] / mean['incremental']:.2f}")


if __name__ == "__main__":
    main()
