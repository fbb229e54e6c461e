"""The DuckDB engine: loads normalized flow batches and runs the analysis definitions."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa

from v6ops.flows.schema import CORE_NAMES, CORE_SCHEMA, complete

Item = TypeVar("Item")
Result = TypeVar("Result")


class DuckDialect:
    def epoch(self, column: str) -> str:
        return f"epoch({column})"

    def quantile(self, expression: str, fraction: float) -> str:
        return f"quantile_cont({expression}, {fraction})"

    def keep_high_bits(self, expression: str, bits: int) -> str:
        mask = ((1 << 64) - 1) ^ ((1 << (64 - bits)) - 1) if bits > 0 else 0
        return f"({expression} & {mask}::UBIGINT)"

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'


class DuckEngine:
    """One DuckDB connection scanning the normalized Arrow batches in place as view ``flows``.

    The batches are not copied into DuckDB storage: its Arrow scan reads them zero-copy, which is
    both faster and smaller than an INSERT. Core columns no batch has (ALB fields in a VPC-only
    run) are typed NULL columns of the view, so every definition sees the full core schema.
    """

    dialect = DuckDialect()

    def __init__(self, threads: int | None = None, memory_limit: str = "1GB", temp_dir: Path | None = None,
                 database: Path | None = None) -> None:
        self.connection = duckdb.connect(str(database) if database is not None else ":memory:")
        # In memory, stages are plain tables, which every cursor of ``each`` sees (a TEMP table is
        # its connection's own); in a database file they stay TEMP, never written to the file.
        self.scope = "TEMP " if database is not None else ""
        self.connection.execute(f"SET memory_limit = '{memory_limit}'")
        self.connection.execute("SET preserve_insertion_order = false")
        self.connection.execute("SET enable_progress_bar = false")  # stdout belongs to the CLI (--json)
        if threads:
            self.connection.execute(f"SET threads = {int(threads)}")
        if temp_dir is not None:
            self.connection.execute(f"SET temp_directory = '{temp_dir}'")
        self.table: pa.Table | None = None

    def load(self, batches: Iterable[pa.Table]) -> int:
        """Collect every normalized batch and expose them as ``flows``."""
        # The definitions read core columns only; extra source fields would just hold memory.
        tables = [batch.select([n for n in batch.column_names if n in CORE_NAMES]) for batch in batches]
        table = pa.concat_tables(tables, promote_options="permissive") if tables else complete(pa.table({}))
        self.table = table
        pa.default_memory_pool().release_unused()  # hand the parsers' scratch memory back before the queries
        self.connection.register("flows_arrow", table)
        missing = [
            f"CAST(NULL AS {_duck_type(field.type)}) AS \"{field.name}\""
            for field in CORE_SCHEMA if field.name not in table.column_names
        ]
        columns = ", ".join(["*", *missing])
        self.connection.execute(f"CREATE OR REPLACE VIEW flows AS SELECT {columns} FROM flows_arrow")
        return table.num_rows

    def quote(self, identifier: str) -> str:
        return self.dialect.quote(identifier)

    def register(self, name: str, table: pa.Table) -> None:
        self.connection.register(name, table)

    def unregister(self, name: str) -> None:
        self.connection.unregister(name)

    def materialize(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE {self.scope}TABLE {name} AS {sql}")

    def view(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def query(self, sql: str) -> pa.Table:
        return self.connection.sql(sql).to_arrow_table()

    def each(self, work: Callable[[DuckEngine, Item], Result], items: Sequence[Item]) -> list[Result]:
        """``work(engine, item)`` for every item, results in order: on an in-memory engine, on every
        core at once, each with a cursor of its own whose queries run on one thread.

        Why: many independent statements (the detection rules) keep the cores busier side by side
        than each split over the cores in turn, as DuckDB's parallel hash aggregates and windows
        spend much of a second core on partitioning and merging. Tables made before are shared;
        ``work`` must name the tables it makes apart from every other item's.
        """
        setting = self.connection.execute("SELECT current_setting('threads')").fetchone()
        threads = int(setting[0]) if setting is not None else 1
        if self.scope or threads < 2 or len(items) < 2:
            return [work(self, item) for item in items]

        def job(item: Item) -> Result:
            fork = copy.copy(self)
            fork.connection = self.connection.cursor()
            try:
                return work(fork, item)
            finally:
                fork.connection.close()

        self.connection.execute("SET threads = 1")
        try:
            with ThreadPoolExecutor(threads) as pool:
                return list(pool.map(job, items))
        finally:
            self.connection.execute(f"SET threads = {threads}")

    def close(self) -> None:
        self.connection.close()


def _duck_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    relation = duckdb.from_arrow(pa.table({"x": pa.nulls(0, arrow_type)}))
    return str(relation.types[0])
