"""Follow mode: new log files in a directory read as they arrive, each once, the report kept current.

A ``Watcher`` keeps its state in one DuckDB database file (``STATE/flows.duckdb``): the normalized
rows of every file read so far, which files were read (name, size, mtime, records, rejections)
and which events were sent. A file's rows and its "read" mark are written in one transaction, so a
restart (or a crash) neither reads a file twice nor loses one.

A file is read when it is *settled*: the same size and mtime at two polls and not modified for
``settle`` seconds (a writer still appending is waited for). Ready files are read in name order
(AWS writes time-ordered keys). A gzip file that ends early is left for later while it may still be
completing, and read with its file error, once, when it has not changed for ``give_up`` seconds.
After the new files of a poll, the report, the alarms and the detections are recomputed over every
row (the definitions are the batch ones, on event time, so the result equals a batch run over the
same files), the outputs rewritten, and new detections, updated ones (same ``event_id``, more
windows or a higher peak) and new alarm transitions sent to the sink. Progress and lag are in
``metrics.prom`` (``v6ops_flows_watch_*``).
"""

from __future__ import annotations

import calendar
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from v6ops.events import Sink
from v6ops.flows import analyses, detections, pipeline, render
from v6ops.flows.duck import DuckEngine
from v6ops.flows.ingest import Ingest, read_batches
from v6ops.flows.problems import SAMPLES_PER_REASON, Rejections
from v6ops.flows.schema import CORE_FIELDS, SCHEMA_VERSION, complete
from v6ops.flows.sources import LocalFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS watched_files (name VARCHAR PRIMARY KEY, size BIGINT, mtime_ns BIGINT, format VARCHAR,
    records BIGINT, rejections VARCHAR, error VARCHAR, read_at DOUBLE);
CREATE TABLE IF NOT EXISTS sent_events (event_id VARCHAR PRIMARY KEY, fingerprint VARCHAR);
"""


@dataclass
class Seen:
    size: int
    mtime_ns: int


@dataclass
class PollResult:
    read: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    events: int = 0
    report: dict[str, Any] | None = None


class Watcher:
    def __init__(self, directory: Path, state: Path, out: Path, sink: Sink | None = None,
                 config: detections.DetectionConfig | None = None, options: analyses.Options = analyses.Options(),
                 settle: float = 2.0, give_up: float = 60.0) -> None:
        if not directory.is_dir():
            raise ValueError(f"{directory}: not a directory")
        self.directory, self.out, self.sink = directory, out, sink
        self.config = config or detections.DetectionConfig()
        self.options, self.settle, self.give_up = options, settle, give_up
        state.mkdir(parents=True, exist_ok=True)
        self.engine = DuckEngine(database=state / "flows.duckdb")
        self.db = self.engine.connection
        self.db.execute(SCHEMA)
        empty = complete(pa.table({})).select([f.name for f in CORE_FIELDS])
        self.db.register("empty_rows", empty)
        self.db.execute("CREATE TABLE IF NOT EXISTS flows_store AS SELECT * FROM empty_rows LIMIT 0")
        self.db.unregister("empty_rows")
        self.db.execute("CREATE OR REPLACE VIEW flows AS SELECT * FROM flows_store")
        self.seen: dict[str, Seen] = {}

    def close(self) -> None:
        self.engine.close()

    def _done(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT name FROM watched_files").fetchall()}

    def poll(self, now: float | None = None) -> PollResult:
        """One pass: read the settled new files, then update outputs and send events if anything was read."""
        now = time.time() if now is None else now
        result = PollResult()
        done = self._done()
        candidates = sorted(p for p in self.directory.rglob("*") if p.is_file() and not p.name.startswith("."))
        for path in candidates:
            name = str(path)
            if name in done:
                continue
            stat = path.stat()
            current = Seen(stat.st_size, stat.st_mtime_ns)
            previous = self.seen.get(name)
            self.seen[name] = current
            if previous != current or now - stat.st_mtime_ns / 1e9 < self.settle:
                result.waiting.append(name)  # first sight, still growing, or touched moments ago
                continue
            if self._read(path, current, now):
                result.read.append(name)
            else:
                result.waiting.append(name)
        if result.read:
            result.report, result.events = self._update(now)
        return result

    def _read(self, path: Path, seen: Seen, now: float) -> bool:
        """The file's rows and its mark in one transaction; False to wait (a gzip that may still complete)."""
        ingest = Ingest(core_only=True)
        batches = [complete(b).select([f.name for f in CORE_FIELDS])
                   for b in read_batches([str(path)], ingest, sources=[LocalFile(path)])]
        error = "; ".join(e["error"] for e in ingest.rejections.file_errors) or None
        if error and now - seen.mtime_ns / 1e9 < self.give_up:
            return False  # e.g. a truncated gzip: the writer may not be done
        self.db.begin()
        try:
            for index, batch in enumerate(batches):
                self.db.register(f"batch_{index}", batch)
                self.db.execute(f"INSERT INTO flows_store SELECT * FROM batch_{index}")
                self.db.unregister(f"batch_{index}")
            summary = ingest.files[0].as_dict() if ingest.files else {"format": "unreadable", "records": 0}
            self.db.execute("INSERT INTO watched_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
                str(path), seen.size, seen.mtime_ns, summary["format"], summary["records"],
                json.dumps(ingest.rejections.as_dict()), error, now,
            ])
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise
        return True

    def _inputs(self) -> dict[str, Any]:
        """The report's ``inputs`` over every file read, rejections merged as one ``Rejections`` would have."""
        files, merged = [], Rejections()
        for name, fmt, records, rejections, error in self.db.execute(
                "SELECT name, format, records, rejections, error FROM watched_files ORDER BY name").fetchall():
            files.append({"name": name, "format": fmt, "records": records})
            for r in json.loads(rejections)["by_reason"]:
                merged.counts[r["reason"]] += r["count"]
                kept = merged.samples.setdefault(r["reason"], [])
                kept.extend(r["samples"][: SAMPLES_PER_REASON - len(kept)])
            if error:
                merged.file_error(name, error)
        return {"files": files, "records_read": sum(f["records"] for f in files), **merged.as_dict()}

    def _update(self, now: float) -> tuple[dict[str, Any], int]:
        """Recompute over every row, rewrite the outputs, send new and updated events."""
        started = time.perf_counter()
        sections, found = pipeline.report_sections(self.engine, self.options, [], self.config)
        report = {
            "schema": pipeline.REPORT_SCHEMA, "schema_version": SCHEMA_VERSION, "engine": "duckdb",
            "inputs": self._inputs(), **sections, "counting_rules": pipeline.COUNTING_RULES,
            "timing_seconds": {"ingest": 0.0, "analyses": round(time.perf_counter() - started, 3)},
        }
        render.write_outputs(report, self.out)
        last = report["summary"]["last_seen"]
        lag = None if last is None else now - calendar.timegm(time.strptime(last, "%Y-%m-%dT%H:%M:%SZ"))
        with (self.out / "metrics.prom").open("a") as handle:
            handle.write(self._progress(report, lag))
        events = [d.to_event() for d in found]
        for alarm in sections["alarms"]:
            events += _transitions(alarm)
        sent = 0
        if self.sink is not None:
            known = dict(self.db.execute("SELECT event_id, fingerprint FROM sent_events").fetchall())
            fresh = []
            for event in events:
                fingerprint = json.dumps(event.details, sort_keys=True, default=str)
                if known.get(event.event_id) != fingerprint:
                    self.sink.emit(event)
                    fresh.append((event.event_id, fingerprint))
            self.sink.flush()
            for event_id, fingerprint in fresh:
                self.db.execute("INSERT OR REPLACE INTO sent_events VALUES (?, ?)", [event_id, fingerprint])
            sent = len(fresh)
        return report, sent

    def _progress(self, report: dict[str, Any], lag: float | None) -> str:
        lines = ["# HELP v6ops_flows_watch_files Files read by follow mode, by outcome",
                 "# TYPE v6ops_flows_watch_files gauge"]
        errors = len(report["inputs"]["file_errors"])
        lines += [f'v6ops_flows_watch_files{{outcome="read"}} {len(report["inputs"]["files"]) - errors}',
                  f'v6ops_flows_watch_files{{outcome="file_error"}} {errors}',
                  "# HELP v6ops_flows_watch_records Records read by follow mode",
                  "# TYPE v6ops_flows_watch_records gauge",
                  f'v6ops_flows_watch_records {report["inputs"]["records_read"]}']
        if lag is not None:
            lines += ["# HELP v6ops_flows_watch_lag_seconds Wall clock minus the newest record's end",
                      "# TYPE v6ops_flows_watch_lag_seconds gauge", f"v6ops_flows_watch_lag_seconds {lag:.3f}"]
        return "\n".join(lines) + "\n"


def _transitions(alarm: dict[str, Any]) -> list[Any]:
    from v6ops.flows.alarms import Transition

    out = []
    for t in alarm["transitions"]:
        at = calendar.timegm(time.strptime(t["at"], "%Y-%m-%dT%H:%M:%SZ"))
        out.append(Transition(t["alarm"], t["previous"], t["state"], at, t["reason"]).to_event())
    return out
