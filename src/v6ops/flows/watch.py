"""Follow mode: new log files in a directory or under an S3 prefix read as they arrive, each once.

A ``Watcher`` keeps its state in one DuckDB database file (``STATE/flows.duckdb``): the normalized
rows of every file read so far, which files were read (name, version, size, time, records,
rejections) and which events were sent. A file's rows and its "read" mark are written in one
transaction, so a restart (or a crash) neither reads a file twice nor loses one.

Where files come from (``Place``):

- a local directory (recursively, dot files skipped). A file is read when it is *settled*: the
  same size and mtime at two polls and not modified for ``settle`` seconds (a writer still
  appending is waited for). A gzip file that ends early is left for later while it may still be
  completing, and read with its file error, once, when it has not changed for ``give_up`` seconds.
- ``s3://bucket/prefix`` (a glob in the key part filters): every page of ListObjectsV2 at each
  poll. An object is whole as soon as it is listed (a PUT or a multipart upload becomes visible
  only when complete, and S3 reads are strongly consistent), so it is read at once, a truncated
  gzip object too (with its file error and the lines before the damage): it cannot grow.

Ready files are read in name (key) order. A file is identified by its name and version: size
and mtime locally, the ETag for S3. A file that changes after it was read (an object rewritten
under the same key, a log appended to after it settled) is *not* read again, since its first
version is already counted and its events sent: it is reported instead, once per new version, as
a file error of the report's inputs ("changed after it was read"), in ``PollResult.changed`` and in
``v6ops_flows_watch_files{outcome="changed_after_read"}``. New data belongs in new files or keys.

The report, the alarms and the detections are updated incrementally, with the batch definitions,
so the result equals a batch run over the same files (the tests check it):

- the analyses' sums (facts at a fine bin, the time span, the conversations) are kept merged
  (``analyses.Partials``); a poll adds its new rows' aggregates, and the sections are rebuilt
  from them (cost: the new rows, plus the distinct bins and address pairs, not every row; the
  ALB percentiles are not sums and read the stored ALB rows);
- each detection rule's breaching windows are kept; a poll recomputes only the windows its new
  rows fall in (windows are on event time, epoch-aligned: a window whose rows did not change has
  the same breaches; a baseline window also depends on the ``history`` windows before it), from
  the rows inside those windows, then rebuilds the episodes from every kept window;
- flow-direction records can make an earlier ingress record a duplicate (removed from the counts),
  so a poll that reads them recomputes everything from the stored rows, as does the first update
  after a start.

New detections, updated ones (same ``event_id``, more windows or a higher peak) and new alarm
transitions go to the event sink. The report files are rewritten after each poll that read or
noticed something; progress and lag are in ``OUT/watch.prom``, rewritten at every poll.
"""

from __future__ import annotations

import calendar
import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from v6ops.events import Sink
from v6ops.flows import alarms, analyses, detections, pipeline, render
from v6ops.flows.duck import DuckEngine
from v6ops.flows.ingest import Ingest, read_batches
from v6ops.flows.problems import SAMPLES_PER_REASON, Rejections
from v6ops.flows.schema import CORE_FIELDS, SCHEMA_VERSION, complete
from v6ops.flows.sources import LocalFile, Source, list_s3

SCHEMA = """
CREATE TABLE IF NOT EXISTS watched_files (name VARCHAR PRIMARY KEY, size BIGINT, mtime_ns BIGINT, format VARCHAR,
    records BIGINT, rejections VARCHAR, error VARCHAR, read_at DOUBLE);
ALTER TABLE watched_files ADD COLUMN IF NOT EXISTS version VARCHAR;
CREATE TABLE IF NOT EXISTS changed_files (name VARCHAR PRIMARY KEY, version VARCHAR, message VARCHAR, noticed_at DOUBLE);
CREATE TABLE IF NOT EXISTS sent_events (event_id VARCHAR PRIMARY KEY, fingerprint VARCHAR);
"""
CORE_COLUMNS = [f.name for f in CORE_FIELDS]
MAX_RANGES = 16  # time ranges a detection update reads separately; more are read as one span (a superset)


@dataclass(frozen=True)
class Listed:
    """A file as a listing shows it: ``version`` tells one content of ``name`` from another."""

    name: str
    version: str
    size: int
    modified: float  # epoch seconds: the file's mtime, the object's LastModified
    source: Source


class Place(Protocol):
    @property
    def complete_when_listed(self) -> bool:
        """Whether a listed file is whole (S3 objects) or may still be growing (local files)."""

    def listing(self) -> list[Listed]: ...


@dataclass(frozen=True)
class LocalDirectory:
    directory: Path
    complete_when_listed = False

    def listing(self) -> list[Listed]:
        out = []
        for path in sorted(p for p in self.directory.rglob("*") if p.is_file() and not p.name.startswith(".")):
            stat = path.stat()
            out.append(Listed(str(path), f"{stat.st_size}:{stat.st_mtime_ns}", stat.st_size, stat.st_mtime_ns / 1e9,
                              LocalFile(path)))
        return out


@dataclass(frozen=True)
class S3Prefix:
    url: str
    client: Any
    page_size: int | None = None  # keys per ListObjectsV2 page (None: S3's 1000)
    complete_when_listed = True

    def listing(self) -> list[Listed]:
        objects = list_s3(self.url, self.client, self.page_size)
        return sorted((Listed(o.object.name, o.etag, o.size, o.modified, o.object) for o in objects),
                      key=lambda listed: listed.name)


def open_place(location: Path | str, s3_client: Any | None = None, page_size: int | None = None) -> Place:
    """The directory or ``s3://bucket/prefix`` to watch; ValueError naming it when it cannot be."""
    text = str(location)
    if text.startswith("s3://"):
        if s3_client is None:
            from v6ops.flows.sources import connect_s3

            s3_client = connect_s3()
        return S3Prefix(text, s3_client, page_size)
    directory = Path(location)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory (nor an s3://bucket/prefix URL)")
    return LocalDirectory(directory)


@dataclass
class PollResult:
    read: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    events: int = 0
    report: dict[str, Any] | None = None


class Watcher:
    def __init__(self, location: Path | str, state: Path, out: Path, sink: Sink | None = None,
                 config: detections.DetectionConfig | None = None, options: analyses.Options = analyses.Options(),
                 settle: float = 2.0, give_up: float = 60.0, s3_client: Any | None = None,
                 page_size: int | None = None) -> None:
        self.place = open_place(location, s3_client, page_size)
        self.out, self.sink = out, sink
        self.config = config or detections.DetectionConfig()
        self.options, self.settle, self.give_up = options, settle, give_up
        periods = [a.period for a in alarms.default_alarms()]
        self.fine_bin = math.gcd(analyses.TREND_BINS[0], options.bin_seconds or 0, pipeline.METRIC_PERIOD, *periods)
        state.mkdir(parents=True, exist_ok=True)
        self.engine = DuckEngine(database=state / "flows.duckdb")
        self.db = self.engine.connection
        self.db.execute(SCHEMA)
        empty = complete(pa.table({})).select(CORE_COLUMNS)
        self.db.register("empty_rows", empty)
        self.db.execute("CREATE TABLE IF NOT EXISTS flows_store AS SELECT * FROM empty_rows LIMIT 0")
        self.db.unregister("empty_rows")
        self.db.execute("CREATE OR REPLACE VIEW flows AS SELECT * FROM flows_store")
        self.seen: dict[str, str] = {}  # name -> version at the previous poll (local files settle over two)
        self.fresh: list[pa.Table] = []  # rows read since the last update
        self.partials: analyses.Partials | None = None  # None: the next update recomputes from every row
        self.breaches: list[list[detections.Breach]] = [[] for _ in self.config.rules]
        self.last_read_delay: float | None = None

    def close(self) -> None:
        self.engine.close()

    def poll(self, now: float | None = None) -> PollResult:
        """One pass: read the ready new files, then update outputs and send events if anything was read."""
        now = time.time() if now is None else now
        started = time.perf_counter()
        result = PollResult()
        done = dict(self.db.execute("SELECT name, coalesce(version, size || ':' || mtime_ns) FROM watched_files").fetchall())
        noticed = dict(self.db.execute("SELECT name, version FROM changed_files").fetchall())
        pending: list[float] = []
        for listed in self.place.listing():
            if listed.name in done:
                if listed.version != done[listed.name] and noticed.get(listed.name) != listed.version:
                    self._changed(listed, done[listed.name], now)
                    result.changed.append(listed.name)
                continue
            previous = self.seen.get(listed.name)
            self.seen[listed.name] = listed.version
            if not self.place.complete_when_listed and (previous != listed.version or now - listed.modified < self.settle):
                result.waiting.append(listed.name)  # first sight, still growing, or touched moments ago
                pending.append(listed.modified)
                continue
            if self._read(listed, now):
                result.read.append(listed.name)
                self.last_read_delay = max(0.0, now - listed.modified)
            else:
                result.waiting.append(listed.name)
                pending.append(listed.modified)
        if result.read or result.changed:
            result.report, result.events = self._update(now)
        self._write_progress(now, pending, time.perf_counter() - started)
        return result

    def _read(self, listed: Listed, now: float) -> bool:
        """The file's rows and its mark in one transaction; False to wait (a gzip that may still complete)."""
        ingest = Ingest(core_only=True)
        batches = [complete(b).select(CORE_COLUMNS) for b in read_batches([listed.name], ingest, sources=[listed.source])]
        error = "; ".join(e["error"] for e in ingest.rejections.file_errors) or None
        if error and not self.place.complete_when_listed and now - listed.modified < self.give_up:
            return False  # e.g. a truncated gzip: the writer may not be done
        self.db.begin()
        try:
            for index, batch in enumerate(batches):
                self.db.register(f"batch_{index}", batch)
                self.db.execute(f"INSERT INTO flows_store SELECT * FROM batch_{index}")
                self.db.unregister(f"batch_{index}")
            summary = ingest.files[0].as_dict() if ingest.files else {"format": "unreadable", "records": 0}
            self.db.execute(
                "INSERT INTO watched_files (name, size, mtime_ns, format, records, rejections, error, read_at, version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                    listed.name, listed.size, int(listed.modified * 1e9), summary["format"], summary["records"],
                    json.dumps(ingest.rejections.as_dict()), error, now, listed.version,
                ])
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise
        self.fresh += batches
        return True

    def _changed(self, listed: Listed, read_version: str, now: float) -> None:
        kind = "ETag" if self.place.complete_when_listed else "size:mtime_ns"
        message = (f"{listed.name}: changed after it was read ({kind} {read_version} -> {listed.version}); the new "
                   "content is not read (its first version is counted): write new data to a new file or key")
        self.db.execute("INSERT OR REPLACE INTO changed_files VALUES (?, ?, ?, ?)", [listed.name, listed.version, message, now])

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
        for name, message in self.db.execute("SELECT name, message FROM changed_files ORDER BY name").fetchall():
            merged.file_error(name, message)
        return {"files": files, "records_read": sum(f["records"] for f in files), **merged.as_dict()}

    def _update(self, now: float) -> tuple[dict[str, Any], int]:
        """Fold the new rows into the kept aggregates and windows, rewrite the outputs, send new and updated events."""
        started = time.perf_counter()
        fresh, self.fresh = self.fresh, []
        if self.partials is None or _has_flow_direction(fresh):
            self._recompute()
        elif fresh:
            self._add(fresh)
        partials = self.partials
        assert partials is not None  # set by _recompute
        self.engine.view("counted", analyses.counted_sql(partials.duplicates > 0))  # every row (the ALB figures)
        sections, _ = pipeline.report_sections(self.engine, self.options, [], None, partials)
        found = detections.ordered([e for rule, kept in zip(self.config.rules, self.breaches, strict=True)
                                    for e in detections.episodes(rule, kept)], self.config)
        sections["detections"] = [e.as_dict() for e in found]
        report = {
            "schema": pipeline.REPORT_SCHEMA, "schema_version": SCHEMA_VERSION, "engine": "duckdb",
            "inputs": self._inputs(), **sections, "counting_rules": pipeline.COUNTING_RULES,
            "timing_seconds": {"ingest": 0.0, "analyses": round(time.perf_counter() - started, 3)},
        }
        render.write_outputs(report, self.out)
        events = [d.to_event() for d in found]
        for alarm in sections["alarms"]:
            events += _transitions(alarm)
        return report, self._send(events)

    def _recompute(self) -> None:
        """Every aggregate and window from the stored rows (the first update, or rows no longer only added)."""
        duplicates = analyses.prepare(self.engine)  # ``counted``: every stored row, duplicates removed
        self.partials = analyses.Partials(self.fine_bin, duplicates)
        self.partials.add(self.engine)
        self.engine.materialize("detect_rows", detections.base_sql(self.engine.dialect))
        self.engine.materialize("detect_base", "SELECT * FROM detect_rows")
        self.breaches = [detections.rule_breaches(self.engine, index, rule, self.config)
                         for index, rule in enumerate(self.config.rules)]

    def _add(self, fresh: list[pa.Table]) -> None:
        """The new rows' aggregates merged, and each rule's windows that hold new rows recomputed."""
        assert self.partials is not None
        self.db.execute("CREATE OR REPLACE TEMP TABLE fresh_rows AS SELECT * FROM flows_store LIMIT 0")
        for index, batch in enumerate(fresh):
            self.db.register(f"fresh_{index}", batch)
            self.db.execute(f"INSERT INTO fresh_rows SELECT * FROM fresh_{index}")
            self.db.unregister(f"fresh_{index}")
        self.engine.view("counted", "SELECT * FROM fresh_rows")  # no duplicates: no flow-direction rows among them
        self.partials.add(self.engine)
        self.engine.materialize("detect_fresh", detections.base_sql(self.engine.dialect))
        self.db.execute("INSERT INTO detect_rows SELECT * FROM detect_fresh")
        bins: dict[int, list[int]] = {}
        loaded: tuple[tuple[int, int], ...] | None = None
        for index, rule in enumerate(self.config.rules):
            if rule.step not in bins:
                bins[rule.step] = [int(r[0]) for r in self.db.execute(
                    f"SELECT DISTINCT t - (t % {rule.step}) FROM detect_fresh").fetchall()]
            windows = affected_windows(rule, bins[rule.step])
            if not windows:
                continue
            ranges = rows_needed(rule, windows)
            if ranges != loaded:  # rules with the same geometry share the rows
                where = " OR ".join(f"(t >= {lo} AND t < {hi})" for lo, hi in ranges)
                self.engine.materialize("detect_base", f"SELECT * FROM detect_rows WHERE {where}")
                loaded = ranges
            recomputed = [b for b in detections.rule_breaches(self.engine, index, rule, self.config) if b.start in windows]
            self.breaches[index] = [b for b in self.breaches[index] if b.start not in windows] + recomputed

    def _send(self, events: list[Any]) -> int:
        """Events not sent before, or changed since (same ``event_id``, other details), to the sink."""
        if self.sink is None:
            return 0
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
        return len(fresh)

    def _write_progress(self, now: float, pending: list[float], poll_seconds: float) -> None:
        """``OUT/watch.prom`` (Prometheus text format), replaced whole so a scrape never sees half a file."""
        files = dict(self.db.execute(
            "SELECT CASE WHEN error IS NULL THEN 'read' ELSE 'file_error' END, count(*) FROM watched_files GROUP BY 1 "
            "UNION ALL SELECT 'changed_after_read', count(*) FROM changed_files "
            "UNION ALL SELECT 'records', coalesce(sum(records), 0) FROM watched_files"
        ).fetchall())
        last = self.partials.span["last"] if self.partials is not None else None
        gauges: list[tuple[str, str, Iterable[tuple[str, float]]]] = [
            ("files", "Files by outcome: read, read with a file error, changed after it was read",
             [(f'{{outcome="{k}"}}', float(files.get(k, 0))) for k in ("read", "file_error", "changed_after_read")]),
            ("records", "Records read", [("", float(files["records"]))]),
            ("pending_files", "Files listed but not read yet (settling, or a gzip that may still complete)",
             [("", float(len(pending)))]),
            ("oldest_pending_seconds", "Wall clock minus the mtime/LastModified of the oldest file not read yet",
             [("", max(0.0, now - min(pending)) if pending else 0.0)]),
            ("poll_seconds", "Duration of the last poll", [("", poll_seconds)]),
            ("last_poll_timestamp_seconds", "When the last poll ran (epoch seconds)", [("", now)]),
        ]
        if self.last_read_delay is not None:
            gauges.append(("read_delay_seconds", "Last file read: wall clock at reading minus its mtime/LastModified",
                           [("", self.last_read_delay)]))
        if last is not None:
            lag = now - calendar.timegm(last.utctimetuple())
            gauges.append(("lag_seconds", "Wall clock minus the newest record's end", [("", lag)]))
        lines = []
        for name, help_text, samples in gauges:
            lines += [f"# HELP v6ops_flows_watch_{name} {help_text}", f"# TYPE v6ops_flows_watch_{name} gauge"]
            lines += [f"v6ops_flows_watch_{name}{labels} {value:.3f}" for labels, value in samples]
        self.out.mkdir(parents=True, exist_ok=True)
        partial = self.out / ".watch.prom.tmp"
        partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(partial, self.out / "watch.prom")


def _has_flow_direction(fresh: list[pa.Table]) -> bool:
    """Whether new rows may pair with stored ones as one conversation seen twice (``analyses.dedup_sql``)."""
    return any(batch.column("flow_direction").null_count < batch.num_rows for batch in fresh if batch.num_rows)


def affected_windows(rule: detections.Rule, bins: Iterable[int]) -> set[int]:
    """Window starts of ``rule`` whose breaches new rows in slide bins ``bins`` may change.

    A row in bin ``b`` lies in the windows starting at ``b - j * slide`` (``j`` < window/slide,
    ``detections._windowed``); a baseline window is also judged against the ``history`` windows
    before it, so a changed window changes the judgement of the ``history`` windows after it.
    """
    step, count = rule.step, rule.window // rule.step
    windows = {b - j * step for b in bins for j in range(count)}
    if rule.kind == "volume_baseline":
        windows = {w + k * rule.window for w in windows for k in range(rule.history + 1)}
    return windows


def rows_needed(rule: detections.Rule, windows: set[int]) -> tuple[tuple[int, int], ...]:
    """Event-time ranges ``[lo, hi)`` holding every row the ``windows`` (and a baseline's history) read, merged."""
    before = rule.history * rule.window if rule.kind == "volume_baseline" else 0
    merged: list[list[int]] = []
    for start in sorted(windows):
        lo, hi = start - before, start + rule.window
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    if len(merged) > MAX_RANGES:
        merged = [[merged[0][0], merged[-1][1]]]
    return tuple((lo, hi) for lo, hi in merged)


def _transitions(alarm: dict[str, Any]) -> list[Any]:
    out = []
    for t in alarm["transitions"]:
        at = calendar.timegm(time.strptime(t["at"], "%Y-%m-%dT%H:%M:%SZ"))
        out.append(alarms.Transition(t["alarm"], t["previous"], t["state"], at, t["reason"]).to_event())
    return out
