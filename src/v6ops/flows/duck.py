"""The DuckDB engine: loads normalized flow batches and runs the analysis definitions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from v6ops.flows.schema import CORE_SCHEMA


class DuckDialect:
    def epoch(self, column: str) -> str:
        return f"epoch({column})"

    def quantile(self, expression: str, fraction: float) -> str:
        return f"quantile_cont({expression}, {fraction})"

    def keep_high_bits(self, expression: str, bits: int) -> str:
        mask = ((1 << 64) - 1) ^ ((1 << (64 - bits)) - 1) if bits > 0 else 0
        return f"({expression} & {mask}::UBIGINT)"


class DuckEngine:
    """One DuckDB connection holding table ``flows``; spills to ``temp_dir`` beyond ``memory_limit``."""

    dialect = DuckDialect()

    def __init__(self, threads: int | None = None, memory_limit: str = "1GB", temp_dir: Path | None = None) -> None:
        self.connection = duckdb.connect(":memory:")
        self.connection.execute(f"SET memory_limit = '{memory_limit}'")
        self.connection.execute("SET preserve_insertion_order = false")
        if threads:
            self.connection.execute(f"SET threads = {int(threads)}")
        if temp_dir is not None:
            self.connection.execute(f"SET temp_directory = '{temp_dir}'")
        self._columns: dict[str, str] = {}
        self._create(CORE_SCHEMA)

    def _create(self, schema: pa.Schema) -> None:
        empty = pa.Table.from_batches([], schema=_plain(schema))
        self.connection.register("_empty", empty)
        self.connection.execute("CREATE TABLE flows AS SELECT * FROM _empty")
        self.connection.unregister("_empty")
        self._columns = {name: "" for name in schema.names}

    def load(self, batches: Iterable[pa.Table]) -> int:
        """Append every batch; columns seen for the first time are added (nullable) to ``flows``."""
        rows = 0
        for batch in batches:
            for field in batch.schema:
                if field.name not in self._columns:
                    sql_type = _duck_type(field.type)
                    self.connection.execute(f'ALTER TABLE flows ADD COLUMN "{field.name}" {sql_type}')
                    self._columns[field.name] = sql_type
            self.connection.register("_batch", batch)
            names = ", ".join(f'"{n}"' for n in batch.column_names)
            self.connection.execute(f"INSERT INTO flows ({names}) SELECT {names} FROM _batch")
            self.connection.unregister("_batch")
            rows += batch.num_rows
        return rows

    def materialize(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def view(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def query(self, sql: str) -> pa.Table:
        return self.connection.sql(sql).to_arrow_table()

    def close(self) -> None:
        self.connection.close()


def _plain(schema: pa.Schema) -> pa.Schema:
    """Dictionary columns become plain text columns in DuckDB (it compresses them itself)."""
    return pa.schema(
        [pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in schema]
    )


def _duck_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    relation = duckdb.from_arrow(pa.table({"x": pa.nulls(0, arrow_type)}))
    return str(relation.types[0])
