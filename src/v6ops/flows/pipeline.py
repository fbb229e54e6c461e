"""Inputs -> normalized batches -> engine -> the versioned JSON report (docs/flows.md, "Report schema")."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import pyarrow as pa

from v6ops.events import Sink
from v6ops.flows import alarms, analyses, detections, encoded, rawscan, spark, vpc
from v6ops.flows.duck import DuckEngine
from v6ops.flows.ingest import Advance, FileSummary, Ingest, read_batches
from v6ops.flows.problems import FlowInputError
from v6ops.flows.schema import SCHEMA_VERSION
from v6ops.flows.sources import Source, expand
from v6ops.flows.spark import SparkEngine

REPORT_SCHEMA = "v6ops.flows.report"


def input_size(sources: list[Source]) -> int | None:
    """Total bytes to read, for the progress bar (None when a source cannot tell cheaply)."""
    total = 0
    for source in sources:
        path = getattr(source, "path", None)
        if path is None:
            return None
        total += path.stat().st_size
    return total


ENGINES = ("duckdb", "spark")
METRIC_PERIOD = 300  # seconds per datapoint of the seed's CloudWatch metrics (its dashboard's period)


# DuckDB's memory limit with detections on: their windowed stages over 10M records hold a few GB,
# and past the report's 1 GB limit DuckDB spills them to disk (docs/benchmarks.md).
DETECT_MEMORY_LIMIT = "4GB"


def open_engine(name: str, threads: int | None = None, master: str | None = None,
                memory_limit: str = "1GB") -> DuckEngine | SparkEngine:
    """DuckDB in this process, or Spark on ``master`` (``local[2]``, ``spark://...``; None: spark-submit's)."""
    if name == "duckdb":
        return DuckEngine(threads=threads, memory_limit=memory_limit)
    if name == "spark":
        return SparkEngine(spark.session(master))
    raise FlowInputError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


def report_sections(engine: analyses.Engine, options: analyses.Options, scans: list[rawscan.RawScan],
                    detect: detections.DetectionConfig | None, partials: analyses.Partials | None = None,
                    ) -> tuple[dict[str, Any], list[detections.Detection]]:
    """Every analysis, the alarms, the CloudWatch metric series and (with ``detect``) the detections.

    With ``partials`` (follow mode) the sums come from the rows' kept aggregates (``analyses.Partials``).
    """
    sections = analyses.run(engine, options, scans, partials)
    sections["alarms"] = alarms.run(engine, scans=scans, partials=partials)
    sections["metrics"] = {"period_seconds": METRIC_PERIOD, "series": {
        metric: [[start, value] for start, value in sorted(points.items())]
        for metric, points in alarms.series(engine, METRIC_PERIOD, scans, partials).items()
    }}
    binned = [scan.flows for scan in scans if scan.flows is not None]
    found = detections.run(engine, detect, binned) if detect is not None else []
    if detect is not None:
        sections["detections"] = [e.as_dict() for e in found]
    return sections, found


def read_inputs(engine: DuckEngine | SparkEngine, ingest: Ingest, paths: list[str], sources: list[Source] | None,
                vpc_format: str | None, s3_client: Any | None, advance: Advance | None, fine_bin: int,
                detect: detections.DetectionConfig | None, scan_files: bool = True) -> list[rawscan.RawScan]:
    """Load every input into ``engine``: clean local VPC files through the C reader into aggregates
    (``rawscan``; with ``detect`` also the detections' per-bin flow sums), the rest row by row;
    Spark's executors list and read ``paths`` themselves. Returns the scanned files' aggregates."""
    sources = [] if isinstance(engine, SparkEngine) else sources if sources is not None else expand(paths, s3_client)
    scan_files = scan_files and isinstance(engine, DuckEngine)
    bins = encoded.DetectBins(detections.detect_bins(detect), detect.internet_facing) if detect is not None else None
    scans: list[rawscan.RawScan] = []
    by_rows: list[Source] = []
    odd_rows: list[pa.Table] = []  # the scanned files' lines the reader did not take, parsed by rows
    for index, source in enumerate(sources):
        raw = rawscan.sniff(source, vpc_format, ingest.rejections) if scan_files else None
        scan = rawscan.scan_file(engine, raw, f"vpc_file_{index}", fine_bin, bins) if raw is not None else None
        if scan is None:
            by_rows.append(source)
            continue
        scans.append(scan)
        records = scan.records
        if scan.odd_lines:
            parser = vpc.TextChunkParser(list(scan.raw.fields), source.name, ingest.rejections, core_only=True)
            odd_rows.append(parser.parse(pa.py_buffer(scan.odd_lines)))
            records += odd_rows[-1].num_rows
        ingest.files.append(FileSummary(source.name, scan.raw.kind, records))
        if advance is not None:
            advance(scan.raw.source.path.stat().st_size)
    if isinstance(engine, SparkEngine):
        engine.read(paths, ingest, vpc_format)
    else:
        engine.load(itertools.chain(odd_rows, read_batches(paths, ingest, vpc_format, s3_client, advance, by_rows)))
    order = {source.name: index for index, source in enumerate(sources)}
    ingest.files.sort(key=lambda f: order.get(f.name, len(order)))
    return scans


def build_report(
    paths: list[str],
    options: analyses.Options = analyses.Options(),
    vpc_format: str | None = None,
    s3_client: Any | None = None,
    advance: Advance | None = None,
    sources: list[Source] | None = None,
    threads: int | None = None,
    scan_files: bool = True,
    detect: detections.DetectionConfig | None = None,
    engine_name: str = "duckdb",
    master: str | None = None,
) -> dict[str, Any]:
    """Read every input and run every analysis (and the detections, with ``detect``) on one engine.

    With DuckDB, local VPC files are read straight into aggregates (``rawscan``), the lines that
    reader does not take row by row; the rest (ALB, pcap, S3, flow-direction, files the reader
    cannot take, and with detections Parquet files) is read row by row, as is everything with
    ``scan_files=False`` (the reference the tests compare the scans with). With detections the reader
    also sums each file's counted flows per source, destination, port and time bin, which the rules
    read as the rows. With Spark (``engine_name="spark"`` on ``master``) the executors read ``paths``
    themselves.
    """
    started = time.perf_counter()
    ingest = Ingest(core_only=True)
    engine = open_engine(engine_name, threads, master, DETECT_MEMORY_LIMIT if detect is not None else "1GB")
    try:
        fine_bin = math.gcd(analyses.TREND_BINS[0], options.bin_seconds or analyses.TREND_BINS[0])
        scans = read_inputs(engine, ingest, paths, sources, vpc_format, s3_client, advance, fine_bin,
                            detect, scan_files)
        loaded = time.perf_counter()
        sections, _ = report_sections(engine, options, scans, detect)
    finally:
        engine.close()
    finished = time.perf_counter()
    return {
        "schema": REPORT_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "engine": engine_name,
        "inputs": {
            "files": [f.as_dict() for f in ingest.files],
            "records_read": ingest.records,
            **ingest.rejections.as_dict(),
        },
        **sections,
        "counting_rules": COUNTING_RULES,
        "timing_seconds": {"ingest": round(loaded - started, 3), "analyses": round(finished - loaded, 3)},
    }


def detect_threats(
    paths: list[str],
    config: detections.DetectionConfig | None = None,
    vpc_format: str | None = None,
    s3_client: Any | None = None,
    advance: Advance | None = None,
    sources: list[Source] | None = None,
    sink: Sink | None = None,
    engine_name: str = "duckdb",
    master: str | None = None,
) -> dict[str, Any]:
    """Read every input and run the detections alone (``v6ops flows detect``); events go to ``sink``.

    Inputs are read as ``build_report`` reads them with detections: clean local VPC text through the
    C reader into per-bin flow sums, the rest row by row, so both raise the same events.
    """
    config = config or detections.DetectionConfig()
    ingest = Ingest(core_only=True)
    engine = open_engine(engine_name, None, master, DETECT_MEMORY_LIMIT)
    try:
        scans = read_inputs(engine, ingest, paths, sources, vpc_format, s3_client, advance,
                            analyses.TREND_BINS[0], config)
        analyses.prepare(engine)
        found = detections.run(engine, config, [scan.flows for scan in scans if scan.flows is not None])
    finally:
        engine.close()
    if sink is not None:
        for detection in found:
            sink.emit(detection.to_event())
        sink.flush()
    return {
        "schema": DETECTIONS_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "engine": engine_name,
        "inputs": {"files": [f.as_dict() for f in ingest.files], "records_read": ingest.records,
                   **ingest.rejections.as_dict()},
        "rules": [r.model_dump() for r in config.rules],
        "detections": [e.as_dict() for e in found],
    }


DETECTIONS_SCHEMA = "v6ops.flows.detections"

COUNTING_RULES = [
    "A flow is a VPC Flow Log or pcap record that is not a NODATA/SKIPDATA status row; a request is an ALB record.",
    "Family is the VPC 'type' field when logged, else the endpoints' family; pkt-srcaddr/pkt-dstaddr are the "
    "endpoints when logged.",
    "IPv4-mapped addresses (::ffff:0:0/96) are unmapped before counting: they count as IPv4.",
    "IPv6 traffic to or from a NAT64 prefix (64:ff9b::/96, 64:ff9b:1::/48) is class nat64: included in the IPv6 "
    "share and reported separately.",
    "With flow-direction logged, an ingress record matching an egress record of the same 5-tuple on another "
    "interface within 60 s is one conversation seen twice and is not counted.",
    "Addresses are compared by their 128-bit value, never their text; talkers are also ranked per IPv6 /64, /56 "
    "and /48 (IPv4 /24).",
    "ALB processing times of -1 are failed dispatches, excluded from latency figures and counted in "
    "failed_dispatch.",
    "Trend bins are aligned to the records' own timestamps (epoch multiples of bin_seconds), never to the clock.",
]
