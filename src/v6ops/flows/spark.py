"""The Apache Spark engine: the same analysis and detection definitions, run by Spark SQL.

``analyses`` and ``detections`` are SQL text over the view ``flows`` plus Python over small
results; this module only supplies what differs in Spark (``SparkDialect``) and runs statements
(``SparkEngine``), so DuckDB and Spark give the same report and the same events (tests/flows/
test_spark.py compares them).

Spark has no unsigned 64-bit type, so the address halves ``*_hi``/``*_lo`` (uint64 in the
normalized table) are BIGINT here with the top bit flipped (``x XOR 2^63``, i.e. ``x - 2^63``): a
bijection that keeps the unsigned order as signed order (the top lists' tie order), and under which
keeping the high ``k >= 1`` bits is the same AND with the same mask (the flipped bit is inside it),
while unsigned 0 is ``-2^63``. Grouping and joining on BIGINT is far cheaper than on DECIMAL(20,0)
(Java BigDecimal). Results come back as Arrow with every ``*_hi``/``*_lo`` column flipped back to uint64.

Spark reads the inputs itself (``sparkread``): executors fetch the files (local, ``s3a://``, whole
partitioned trees) and normalize them with the row path's own parsers, so rejections are counted
exactly as with DuckDB and no record passes through the driver.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from v6ops.flows.ingest import Ingest
from v6ops.flows.schema import complete

Item = TypeVar("Item")
Result = TypeVar("Result")

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SIGN_BIT = 1 << 63


def _bigint(value: int) -> str:
    """A BIGINT literal (``L`` suffix); -2^63 is spelled as a sum, its magnitude being no BIGINT."""
    return f"{value}L" if value > -SIGN_BIT else f"({-SIGN_BIT + 1}L - 1L)"


def is_half(name: str) -> bool:
    """Address-half columns (``src_hi``, ``k_lo``, ...): the definitions name them all ``*_hi``/``*_lo``."""
    return name.endswith(("_hi", "_lo"))


def flip(column: pa.Array | pa.ChunkedArray, to: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """uint64 <-> BIGINT with the top bit flipped (order-preserving both ways)."""
    source = pa.uint64() if pa.types.is_int64(to) else pa.int64()
    flipped = pc.bit_wise_xor(column.cast(source), pa.scalar(SIGN_BIT if source == pa.uint64() else -SIGN_BIT, source))
    return flipped.cast(to, safe=False)


class SparkDialect:
    def epoch(self, column: str) -> str:
        return f"unix_timestamp({column})"

    def quantile(self, expression: str, fraction: float) -> str:
        return f"percentile({expression}, {fraction})"  # exact, linearly interpolated: DuckDB's quantile_cont

    def keep_high_bits(self, expression: str, bits: int) -> str:
        if bits >= 64:
            return expression
        if bits <= 0:
            return _bigint(-SIGN_BIT)  # unsigned 0, flipped
        mask = ((1 << 64) - 1) ^ ((1 << (64 - bits)) - 1)
        return f"({expression} & {_bigint(mask - (1 << 64))})"  # the mask's top bit is set: signed, negative

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"


def session(master: str | None = None, app_name: str = "v6ops") -> SparkSession:
    """A SparkSession on ``master`` (``local[2]``, ``spark://host:7077``, ``k8s://...``, ``yarn``); UTC times.

    Without ``master`` the session uses what spark-submit configured (or ``local[*]``).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # an optional engine: say what to install
        raise ValueError("the spark engine needs pyspark: pip install 'v6ops[spark]' (and Java 17)") from exc
    builder = SparkSession.builder.appName(app_name).config("spark.sql.session.timeZone", "UTC")
    if master:
        builder = builder.master(master)
    if (master or "").startswith("local"):  # one machine: few shuffle partitions, no web UI
        builder = builder.config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        # Executors parse the files with v6ops: in local mode they are this interpreter (on a cluster,
        # PYSPARK_PYTHON or spark.pyspark.python with the venv archive says which, docs/flows.md).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = builder.config("spark.ui.showConsoleProgress", "false")  # stderr is the CLI's
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    return builder.getOrCreate()


def to_spark_types(table: pa.Table) -> pa.Table:
    """The normalized table in types Spark takes: uint64 halves as flipped BIGINT, labels as strings."""
    columns, fields = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_uint64(kind):
            kind = pa.int64()
            column = flip(column, kind)
        elif pa.types.is_uint8(kind):
            kind = pa.int16()
        elif pa.types.is_timestamp(kind):
            kind = pa.timestamp("us", tz="UTC")
        columns.append(column.cast(kind))
        fields.append(pa.field(field.name, kind))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def from_spark_types(table: pa.Table) -> pa.Table:
    """Spark's answer with the address halves back as uint64 and times in UTC."""
    columns, fields = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_int64(kind) and is_half(field.name):
            kind = pa.uint64()
            column = flip(column, kind)
        elif pa.types.is_timestamp(kind) and kind.tz is None:
            column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
            kind = column.type
        columns.append(column.cast(kind))
        fields.append(pa.field(field.name, kind))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


CORE_SPARK = to_spark_types(complete(pa.table({}))).schema


class SparkEngine:
    """Runs the definitions on a SparkSession; ``materialize`` caches, ``view`` names a plan."""

    dialect = SparkDialect()

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.cached: list[DataFrame] = []
        self.views: list[str] = []

    def read(self, paths: list[str], ingest: Ingest, vpc_format: str | None = None) -> None:
        """Spark's executors read ``paths`` (local, ``s3://``/``s3a://``, any Hadoop URL) into view ``flows``."""
        from v6ops.flows.sparkread import read_inputs

        frame, cached = read_inputs(self.spark, paths, ingest, vpc_format)
        self.cached += cached
        self.register_frame("flows", frame)

    def register(self, name: str, table: pa.Table) -> None:
        self.register_frame(name, self.spark.createDataFrame(to_spark_types(table)))

    def register_frame(self, name: str, frame: DataFrame) -> None:
        frame.createOrReplaceTempView(name)
        self.views.append(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self.views.remove(name)

    def materialize(self, name: str, sql: str) -> None:
        frame = self.spark.sql(sql).cache()
        self.cached.append(frame)
        self.register_frame(name, frame)

    def view(self, name: str, sql: str) -> None:
        self.register_frame(name, self.spark.sql(sql))

    def query(self, sql: str) -> pa.Table:
        return from_spark_types(self.spark.sql(sql).toArrow())

    def each(self, work: Callable[[SparkEngine, Item], Result], items: Sequence[Item]) -> list[Result]:
        """``work(engine, item)`` for every item in turn: Spark spreads each statement over its executors."""
        return [work(self, item) for item in items]

    def close(self) -> None:
        for frame in self.cached:
            frame.unpersist()
        for name in set(self.views):
            self.spark.catalog.dropTempView(name)
        self.cached, self.views = [], []

