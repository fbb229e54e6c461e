"""Spark reads the inputs itself: executors fetch and parse the files, the driver sees only summaries.

The Spark engine is for data past one machine, so no record passes through the driver. Spark lists
the inputs (``s3a://`` prefixes, ``hdfs://``, ``file://``, Hadoop globs, whole trees: AWS's
``AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{MM}/{dd}/`` delivery and Hive-style ``key=value``
partitions alike, with ``recursiveFileLookup``); local paths are expanded on the driver exactly as
the DuckDB path does (same files, order and names) and then read by Spark. Two routes:

- whole files (Spark's ``binaryFile`` source): every file up to ``SPLIT_BYTES``, and larger gzip,
  Parquet and capture files (not splittable; at most 2 GiB, binaryFile's limit). An executor runs
  the row path's own reader over the file's bytes (``ingest.read_batches``): the same format
  sniffing from content, parsers, rejections and truncated-gzip handling. Spark's gzip codec is not
  used: it fails the job on a truncated member, where the row path keeps the lines before the break
  and records a file error.
- split text (Spark's ``text`` source, lines cut on ``\\n`` only, as the row path cuts them): plain
  VPC or ALB text files over ``SPLIT_BYTES``, which Spark splits across tasks. The driver reads the
  first line of each (64 KiB, through Hadoop's filesystem, so ``s3a://`` too) to learn its layout
  with ``ingest.text_layout``; executors parse the lines with ``vpc.TextChunkParser`` or
  ``alb.parse_chunk``, dropping the header line where the file's first split starts.

Every task yields the normalized rows in Spark's types plus, per file it read, one ``meta`` row: a
JSON summary (format, records, rejections by reason with samples, file errors, notes). The driver
merges those in the DuckDB path's file order, so the report's ``inputs`` section is the same.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from v6ops.flows import alb, vpc
from v6ops.flows.ingest import FileSummary, Ingest, head_line, read_batches, text_layout
from v6ops.flows.pcap import PCAP_MAGICS, PCAPNG_MAGIC
from v6ops.flows.problems import SAMPLES_PER_REASON, FlowInputError
from v6ops.flows.schema import CORE_NAMES, complete
from v6ops.flows.sources import GZIP_MAGIC, PARQUET_MAGIC, expand

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPLIT_BYTES = 64 << 20  # plain text files over this are split across tasks; the rest are read whole
WHOLE_LIMIT = (1 << 31) - 1  # binaryFile keeps a file's bytes in one row (a Java array)
HEAD_BYTES = 1 << 16  # what the driver reads of a file it splits: the first line, as the row path reads it
PARSE_BYTES = 16 << 20  # lines of one file gathered before a parse on an executor
HADOOP_AWS = "org.apache.hadoop:hadoop-aws"
_NOT_READ_BY_SPARK = ("Spark did not read it: Hadoop skips files whose name starts with '_' or '.' "
                      "(or ends in ._COPYING_); rename it")


def is_url(text: str) -> bool:
    """A URL Spark resolves (``s3://``, ``s3a://``, ``hdfs://``, ``file://`` ...) rather than a local path."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isalnum()


def spark_url(text: str) -> str:
    """The URL Spark reads: ``s3://`` (boto3's and the AWS CLI's spelling) is Hadoop's ``s3a://``."""
    return "s3a://" + text[len("s3://"):] if text.startswith("s3://") else text


def report_name(uri: str, typed: str) -> str:
    """A file Spark listed under the root ``typed``, named in the user's spelling (``s3://`` stays ``s3://``)."""
    scheme, _, rest = uri.partition(":")
    if scheme == "file" and not rest.startswith("//"):
        return "file://" + rest  # Hadoop prints file:/x for file:///x
    if scheme == "s3a" and typed.startswith("s3://"):
        return "s3:" + rest
    return uri


def _order_key(name: str) -> tuple[str, ...]:
    """S3 lists keys in byte order (the DuckDB path's s3:// order); directories sort by path parts (``sorted(rglob)``)."""
    if name.startswith(("s3://", "s3a://")):
        return (name,)
    return PurePosixPath(name.partition("://")[2] if is_url(name) else name).parts


def s3a_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Hadoop S3A settings from the environment boto3 reads, so both engines reach the same store.

    Credentials come from the AWS SDK's default chain (environment, profile, container, instance
    role); ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` (MinIO, a local S3) set the endpoint with
    path-style access; ``AWS_REGION``/``AWS_DEFAULT_REGION`` the region.
    """
    env = os.environ if environ is None else environ
    settings = {"fs.s3a.aws.credentials.provider": "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        settings["fs.s3a.endpoint"] = endpoint
        settings["fs.s3a.path.style.access"] = "true"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        settings["fs.s3a.endpoint.region"] = region
    return settings


def configure_s3a(spark: SparkSession, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Apply ``s3a_settings`` where the job's own configuration (``--conf spark.hadoop.fs.s3a.*``) is silent.

    The SDK v2 credentials chain only where hadoop-aws uses SDK v2 (Hadoop 3.4 on); older S3A keeps its own chain.
    """
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    settings = s3a_settings(environ)
    version = re.match(r"(\d+)\.(\d+)", hadoop_version(spark))  # "3.5.0", "3.3.6-amzn-3"
    if version is not None and (int(version[1]), int(version[2])) < (3, 4):
        settings.pop("fs.s3a.aws.credentials.provider")
    applied = {}
    for key, value in settings.items():
        if conf.get(key) is None:
            conf.set(key, value)
            applied[key] = value
    return applied


def _jvm(spark: SparkSession) -> Any:
    """The driver's JVM view (py4j): Hadoop's classes, for what Spark's Python API does not offer."""
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the Spark session has no JVM gateway (stopped?)")
    return jvm


def hadoop_version(spark: SparkSession) -> str:
    return str(_jvm(spark).org.apache.hadoop.util.VersionInfo.getVersion())


def explain_failure(spark: SparkSession, text: str, error: Exception) -> FlowInputError:
    """A Spark error about input ``text`` as a FlowInputError saying what to do (a missing jar, a missing path)."""
    message = str(error)
    if "S3AFileSystem not found" in message or 'No FileSystem for scheme "s3a"' in message:
        version = hadoop_version(spark)
        return FlowInputError(
            f"{text}: this Spark has no s3a filesystem (Class org.apache.hadoop.fs.s3a.S3AFileSystem not found): add "
            f"the hadoop-aws jar matching its Hadoop {version}: spark-submit --packages {HADOOP_AWS}:{version}, or "
            f"PYSPARK_SUBMIT_ARGS='--packages {HADOOP_AWS}:{version} pyspark-shell' when running v6ops directly")
    if "PATH_NOT_FOUND" in message or "Path does not exist" in message:
        return FlowInputError(f"{text}: no such file, directory or prefix (Spark: {message.splitlines()[0]})")
    return FlowInputError(f"{text}: Spark cannot list or read it: {message.splitlines()[0]}")


@dataclass
class _Plan:
    """What the driver decided: roots as typed, local files by position, files it split, outcomes it recorded."""

    roots: list[str]
    local: dict[str, tuple[int, int]] = field(default_factory=dict)  # file URI -> (argument, position in expand)
    names: dict[str, str] = field(default_factory=dict)  # file URI -> report name (local files, split files)
    whole_local: list[str] = field(default_factory=list)  # file URIs read whole
    whole_big: list[tuple[int, str]] = field(default_factory=list)  # (root, URI) of big unsplittable files
    split: dict[str, tuple[int, list[str] | None, bool]] = field(default_factory=dict)  # URI -> (root, fields, header)
    metas: list[dict[str, Any]] = field(default_factory=list)  # driver-side outcomes (file errors, empty files)


def _meta(root: int, name: str, block: int, ingest: Ingest) -> dict[str, Any]:
    rejections = ingest.rejections
    return {
        "root": root, "name": name, "block": block, "files": [f.as_dict() for f in ingest.files],
        "counts": dict(rejections.counts), "samples": rejections.samples, "file_errors": rejections.file_errors,
        "notes": rejections.notes,
    }


def _local_uri(path: Path) -> str:
    return "file:" + str(path.resolve())


def _head(spark: SparkSession, uri: str) -> bytes:
    """The first HEAD_BYTES of a file through Hadoop's filesystem (s3a://, hdfs://, file:)."""
    jvm = _jvm(spark)
    path = jvm.org.apache.hadoop.fs.Path(uri)
    stream = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).open(path)
    try:
        return bytes(stream.readNBytes(HEAD_BYTES))  # Java's byte[] comes back to Python by value
    finally:
        stream.close()


def _classify_big(plan: _Plan, root: int, uri: str, name: str, size: int, head: bytes, fields: list[str] | None) -> None:
    """Route a file over SPLIT_BYTES: split text, read whole (gzip, Parquet, pcap), or a file error."""
    ingest = Ingest(core_only=True)
    binary = head[:2] == GZIP_MAGIC or head[:4] in (PARQUET_MAGIC, PCAPNG_MAGIC, *PCAP_MAGICS)
    if binary:
        if size <= WHOLE_LIMIT:
            plan.whole_big.append((root, uri))
            plan.names[uri] = name
            return
        ingest.rejections.file_error(name, f"{name}: {size} bytes; gzip, Parquet and capture files are read whole by one "
                                           "Spark task, at most 2 GiB (binaryFile): split or recompress it")
        plan.metas.append(_meta(root, name, -1, ingest))
        return
    line, _ = head_line(pa.py_buffer(head))
    if not line:
        ingest.files.append(FileSummary(name, "empty"))
        plan.metas.append(_meta(root, name, -1, ingest))
        return
    try:
        kind, file_fields, header = text_layout(line, fields, name, ingest.rejections)
    except FlowInputError as exc:
        ingest.rejections.file_error(name, str(exc))
        plan.metas.append(_meta(root, name, -1, ingest))
        return
    ingest.files.append(FileSummary(name, kind))
    plan.metas.append(_meta(root, name, -1, ingest))
    plan.split[uri] = (root, file_fields, header)
    plan.names[uri] = name


def _plan(spark: SparkSession, paths: list[str], fields: list[str] | None) -> tuple[_Plan, list[DataFrame]]:
    """Expand local paths, let Spark list URLs, route the files over SPLIT_BYTES; the whole-file frames per root."""
    plan = _Plan(roots=list(paths))
    frames: list[DataFrame] = []
    from pyspark.sql import functions as fn

    reader = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    for root, text in enumerate(paths):
        if not is_url(text):
            try:
                files = expand([text])
            except FlowInputError:
                if Path(text).is_dir():
                    continue  # an empty directory among other inputs, as expand(paths) takes it
                raise
            for position, source in enumerate(files):
                path = source.path  # type: ignore[attr-defined]
                uri = _local_uri(path)
                plan.local[uri] = (root, position)
                plan.names[uri] = source.name
                size = path.stat().st_size
                if size <= SPLIT_BYTES:
                    plan.whole_local.append(uri)
                    continue
                with path.open("rb") as handle:
                    head = handle.read(HEAD_BYTES)
                _classify_big(plan, root, uri, source.name, size, head, fields)
            continue
        url = spark_url(text)
        if url.startswith("s3a://"):
            configure_s3a(spark)
        try:
            listing = reader.load(url)
            big = listing.where(fn.col("length") > SPLIT_BYTES).select("path", "length").collect()
        except Exception as exc:  # py4j/AnalysisException: say which input and what to do
            raise explain_failure(spark, text, exc) from exc
        for row in big:
            name = report_name(row["path"], text)
            _classify_big(plan, root, row["path"], name, row["length"], _head(spark, row["path"]), fields)
        frames.append(listing.where(fn.col("length") <= SPLIT_BYTES).select(fn.lit(root).alias("root"), "path", "content"))
    # Local files and big whole files carry a placeholder root: their own comes from the plan (fixed_roots).
    if plan.whole_local:
        frames.append(reader.load(plan.whole_local).select(fn.lit(-1).alias("root"), "path", "content"))
    if plan.whole_big:
        frames.append(reader.load([uri for _, uri in plan.whole_big]).select(fn.lit(-2).alias("root"), "path", "content"))
    return plan, frames


class _MemoryFile:
    """A file's bytes as fetched by Spark, under its report name: the row path's reader takes it as a Source."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._data = data

    def open(self) -> IO[bytes]:
        import io

        return io.BytesIO(self._data)


def _flow_batches(table: pa.Table) -> Iterator[pa.RecordBatch]:
    """Normalized rows in the Spark frame's Arrow types, with a null ``meta``."""
    from v6ops.flows.spark import to_spark_types

    core = to_spark_types(complete(table.select([n for n in table.column_names if n in CORE_NAMES])))
    out = core.append_column("meta", pa.nulls(core.num_rows, pa.string()))
    yield from out.to_batches()


def _meta_batch(schema: pa.Schema, meta: dict[str, Any]) -> pa.RecordBatch:
    arrays = [pa.nulls(1, f.type) for f in schema if f.name != "meta"]
    return pa.RecordBatch.from_arrays([*arrays, pa.array([json.dumps(meta)], pa.string())], schema=schema)


def _read_whole(schema: pa.Schema, roots: list[str], names: dict[str, str], fixed_roots: dict[str, int],
                vpc_format: str | None) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The executor side of the whole-file route: the row path's reader over each file's bytes."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for row in batch.to_pylist():
                uri = row["path"]
                root = fixed_roots.get(uri, row["root"])
                name = names.get(uri) or report_name(uri, roots[root])
                ingest = Ingest(core_only=True)
                for table in read_batches([], ingest, vpc_format, sources=[_MemoryFile(name, row["content"])]):
                    yield from _flow_batches(table)
                yield _meta_batch(schema, _meta(root, name, 0, ingest))

    return run


@dataclass
class _SplitState:
    """One file's lines in one task: the parser, what waits to be parsed, and what was counted."""

    name: str
    root: int
    ingest: Ingest
    parse: Callable[[pa.Buffer], pa.Table]
    block: int
    records: int = 0
    pending: list[pa.Buffer] = field(default_factory=list)
    size: int = 0


def _joined_lines(lines: pa.Array) -> pa.Buffer:
    """The lines as one buffer, each ending in ``\\n`` (the bytes the row path parses), without a Python loop."""
    ended = pc.binary_join_element_wise(lines, pa.scalar(b"", lines.type), pa.scalar(b"\n", lines.type))
    width = np.int64 if pa.types.is_large_binary(ended.type) else np.int32
    offsets = np.frombuffer(ended.buffers()[1], dtype=width)[ended.offset: ended.offset + len(ended) + 1]
    return ended.buffers()[2][int(offsets[0]):int(offsets[-1])]


def _read_split(schema: pa.Schema, files: dict[str, tuple[int, list[str] | None, bool]],
                names: dict[str, str]) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The executor side of the split route: lines of big text files, parsed a few MiB at a time."""

    def state_for(uri: str, block: int, states: dict[str, _SplitState]) -> _SplitState:
        if uri not in states:
            root, fields, _ = files[uri]
            name = names[uri]
            ingest = Ingest(core_only=True)
            parse: Callable[[pa.Buffer], pa.Table]
            if fields is None:
                parse = functools.partial(alb.parse_chunk, where=name, rejections=ingest.rejections)
            else:
                parse = vpc.TextChunkParser(fields, name, ingest.rejections, core_only=True).parse
            states[uri] = _SplitState(name, root, ingest, parse, block)
        return states[uri]

    def flush(state: _SplitState) -> Iterator[pa.RecordBatch]:
        if state.pending:
            table = state.parse(pa.py_buffer(b"".join(b.to_pybytes() for b in state.pending))
                                if len(state.pending) > 1 else state.pending[0])
            state.pending, state.size = [], 0
            state.records += table.num_rows
            yield from _flow_batches(table)

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        states: dict[str, _SplitState] = {}
        last: tuple[str, int] | None = None
        for batch in batches:
            uris = batch.column("file").to_pylist()
            blocks = batch.column("block").to_pylist()
            lines = batch.column("line")
            start = 0
            for index in range(len(uris) + 1):
                if index < len(uris) and (uris[index], blocks[index]) == (uris[start], blocks[start]):
                    continue
                uri, block = unquote(uris[start]), blocks[start]
                run_lines = lines.slice(start, index - start)
                if (uri, block) != last and block == 0 and files[uri][2]:
                    run_lines = run_lines.slice(1)  # the file's header line, which the driver already read
                last = (uri, block)
                state = state_for(uri, block, states)
                state.block = min(state.block, block)
                if len(run_lines):
                    buffer = _joined_lines(run_lines)
                    state.pending.append(buffer)
                    state.size += buffer.size
                    if state.size >= PARSE_BYTES:
                        yield from flush(state)
                start = index
        for state in states.values():
            yield from flush(state)
            state.ingest.files = [FileSummary(state.name, "", state.records)]  # the driver's summary has the format
            yield _meta_batch(schema, _meta(state.root, state.name, state.block, state.ingest))

    return run


def merge(metas: Iterable[dict[str, Any]], plan: _Plan, ingest: Ingest) -> None:
    """Per-file summaries into ``ingest`` in the DuckDB path's file order; lines split over tasks add up."""

    uris = {name: uri for uri, name in plan.names.items()}

    def order(meta: dict[str, Any]) -> tuple[Any, ...]:
        uri = uris.get(meta["name"])
        if uri is not None and uri in plan.local:
            return (*plan.local[uri], (), meta["block"])
        return (meta["root"], 0, _order_key(meta["name"]), meta["block"])

    formats = {plan.names[u]: None for u in plan.split}
    rejections = ingest.rejections
    for meta in sorted(metas, key=order):
        for summary in meta["files"]:
            last = ingest.files[-1] if ingest.files else None
            if last is not None and last.name == summary["name"] and summary["name"] in formats:
                last.records += summary["records"]
            else:
                ingest.files.append(FileSummary(summary["name"], summary["format"], summary["records"]))
        for reason, count in meta["counts"].items():
            rejections.counts[reason] += count
            kept = rejections.samples.setdefault(reason, [])
            kept.extend(meta["samples"].get(reason, [])[: SAMPLES_PER_REASON - len(kept)])
        rejections.file_errors.extend(meta["file_errors"])
        for note in meta["notes"]:
            rejections.note(note)


def read_inputs(spark: SparkSession, paths: list[str], ingest: Ingest,
                vpc_format: str | None) -> tuple[DataFrame, list[DataFrame]]:
    """Every input read by Spark's executors: the normalized rows and the cached frames holding them (to unpersist).

    Summaries, rejections and file errors land in ``ingest`` as the row path records them.
    """
    from pyspark.sql import functions as fn
    from pyspark.sql.pandas.types import from_arrow_schema

    from v6ops.flows.spark import CORE_SPARK

    fields = vpc.parse_format(vpc_format, ingest.rejections) if vpc_format else None
    plan, frames = _plan(spark, paths, fields)
    schema = CORE_SPARK.append(pa.field("meta", pa.string()))
    spark_schema = from_arrow_schema(schema)
    parts: list[tuple[DataFrame, str]] = []  # each part and its Arrow batch size (rows) into the executors
    batch_rows = "spark.sql.execution.arrow.maxRecordsPerBatch"
    default_rows = spark.conf.get(batch_rows) or "10000"
    if frames:
        whole = frames[0]
        for frame in frames[1:]:
            whole = whole.unionByName(frame)
        fixed = {uri: root for uri, (root, _) in plan.local.items()} | {uri: root for root, uri in plan.whole_big}
        # One file per batch: a batch holds whole files' bytes.
        parts.append((whole.mapInArrow(_read_whole(schema, plan.roots, plan.names, fixed, vpc_format), spark_schema), "1"))
    if plan.split:
        lines = (spark.read.option("lineSep", "\n").text(list(plan.split))
                 .select(fn.col("value").cast("binary").alias("line"), fn.col("_metadata.file_path").alias("file"),
                         fn.col("_metadata.file_block_start").alias("block")))
        split_names = {uri: plan.names[uri] for uri in plan.split}
        parts.append((lines.mapInArrow(_read_split(schema, {unquote(u): v for u, v in plan.split.items()},
                                                   {unquote(u): n for u, n in split_names.items()}), spark_schema),
                      default_rows))
    metas = list(plan.metas)
    cached: list[DataFrame] = []
    for part, rows in parts:
        frame = part.persist()  # parsed once: every analysis reads the cached rows
        cached.append(frame)
        spark.conf.set(batch_rows, rows)
        try:
            metas += [json.loads(r["meta"]) for r in frame.where(fn.col("meta").isNotNull()).select("meta").collect()]
        finally:
            spark.conf.set(batch_rows, default_rows)
    merge(metas, plan, ingest)
    read = {f.name for f in ingest.files} | {e["path"] for e in ingest.rejections.file_errors}
    for uri, name in plan.names.items():
        if uri in plan.local and name not in read:
            ingest.rejections.file_error(name, f"{name}: {_NOT_READ_BY_SPARK}")
    if not ingest.files and not ingest.rejections.file_errors:
        raise FlowInputError(f"no input files under {', '.join(paths)}")
    flows = cached[0] if cached else spark.createDataFrame([], spark_schema)
    for frame in cached[1:]:
        flows = flows.unionByName(frame)
    return flows.where(fn.col("meta").isNull()).drop("meta"), cached
