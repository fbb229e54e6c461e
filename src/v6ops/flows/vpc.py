"""AWS VPC Flow Logs: the default v2 format, any custom format (v2-v8 fields in any order), Parquet.

Field names and versions follow the AWS VPC user guide, "Flow log records". Missing values are
``-`` and become nulls; NODATA/SKIPDATA rows are status rows whose traffic fields stay null (never
zero). ``pkt-srcaddr``/``pkt-dstaddr``, when logged, are the true endpoints; ``type`` is the family.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from v6ops.flows.addresses import endpoints, traffic_class
from v6ops.flows.problems import SAMPLES_PER_REASON, FlowInputError, Rejections
from v6ops.flows.schema import SOURCE_VPC, conform, constant_label

DEFAULT_FORMAT = [
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
    "bytes", "start", "end", "action", "log-status",
]

# Field -> the flow log version that introduced it (AWS VPC user guide, "Available fields").
FIELD_VERSIONS: dict[str, int] = {
    **dict.fromkeys(DEFAULT_FORMAT, 2),
    **dict.fromkeys(
        ["vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr"], 3
    ),
    **dict.fromkeys(["region", "az-id", "sublocation-type", "sublocation-id"], 4),
    **dict.fromkeys(["pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path"], 5),
    **dict.fromkeys(
        [
            "ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn", "ecs-container-instance-id",
            "ecs-container-id", "ecs-second-container-id", "ecs-service-name", "ecs-task-definition-arn",
            "ecs-task-arn", "ecs-task-id",
        ],
        7,
    ),
    **dict.fromkeys(["reject-reason"], 8),
}
INT32_FIELDS = frozenset({"version", "srcport", "dstport", "protocol", "tcp-flags", "traffic-path"})
INT64_FIELDS = frozenset({"packets", "bytes", "start", "end"})
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_DIGITS = r"^[0-9]+$"


def parse_format(text: str, rejections: Rejections | None = None) -> list[str]:
    """Field list from a ``--format`` string (``${srcaddr} ${dstaddr}`` or ``srcaddr dstaddr``) or a header line.

    Unknown names are carried as text columns (AWS adds fields over time) and noted in the report.
    """
    names = []
    for token in text.split():
        if token.startswith("${") != token.endswith("}"):
            raise FlowInputError(f"flow log format: {token!r} is not a field name (expected e.g. ${{srcaddr}})")
        names.append(token.removeprefix("${").removesuffix("}").replace("_", "-"))
    if not names:
        raise FlowInputError("empty flow log format")
    for name in names:
        if not _FIELD_NAME.match(name):
            raise FlowInputError(f"flow log format: {name!r} is not a field name (expected e.g. ${{srcaddr}})")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FlowInputError(f"flow log format: field {duplicates[0]!r} appears twice")
    unknown = [n for n in names if n not in FIELD_VERSIONS]
    if unknown and rejections is not None:
        rejections.note(f"unknown flow log field(s) carried as text: {', '.join(unknown)}")
    return names


def looks_like_header(first_line: str) -> bool:
    tokens = first_line.split()
    return bool(tokens) and all(_FIELD_NAME.match(t.replace("_", "-")) for t in tokens) and (
        sum(t.replace("_", "-") in FIELD_VERSIONS for t in tokens) >= max(1, len(tokens) // 2)
    )


def _convert_options(fields: list[str], typed: bool, columns: list[str] | None = None) -> pacsv.ConvertOptions:
    types: dict[str, pa.DataType] = {}
    for name in fields:
        if typed and name in INT32_FIELDS:
            types[name] = pa.int32()
        elif typed and name in INT64_FIELDS:
            types[name] = pa.int64()
        else:
            types[name] = pa.string()
    return pacsv.ConvertOptions(
        column_types=types, null_values=["-"], strings_can_be_null=True, quoted_strings_can_be_null=True,
        include_columns=columns or [],
    )


# Fields that feed a core column; with ``core_only`` the other text fields are not converted at all.
# Integer fields are always converted, so a line is rejected the same way whether or not it is kept whole.
CORE_SOURCE_FIELDS = frozenset({
    "srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr", "action", "log-status", "flow-direction", "interface-id",
    "type", *INT32_FIELDS, *INT64_FIELDS,
})


class TextChunkParser:
    """Parses chunks of whole lines of one file: a fast typed path, and a checked path on bad values."""

    def __init__(self, fields: list[str], where: str, rejections: Rejections, core_only: bool = False) -> None:
        self.fields = fields
        self.where = where
        self.rejections = rejections
        self.kept = [f for f in fields if f in CORE_SOURCE_FIELDS] if core_only else fields

    def parse(self, data: pa.Buffer) -> pa.Table:
        odd_lines: list[str] = []

        def odd_row(row: pacsv.InvalidRow) -> str:
            odd_lines.append(row.text)
            return "skip"

        try:
            raw = self._read(data, typed=True, on_invalid=odd_row, columns=self.kept)
        except pa.ArrowInvalid:
            odd_lines.clear()
            try:
                raw = self._checked(self._read(data, typed=False, on_invalid=odd_row))
            except pa.ArrowInvalid:  # bytes that are not UTF-8: U+FFFD marks them, the field check rejects the row
                odd_lines.clear()
                data = pa.py_buffer(data.to_pybytes().decode("utf-8", "replace").encode())
                raw = self._checked(self._read(data, typed=False, on_invalid=odd_row))
        if odd_lines:
            raw = pa.concat_tables([raw, self._resplit(odd_lines)], promote_options="permissive")
        return normalize(raw.select(self.kept), self.where, self.rejections)

    def _read(self, data: pa.Buffer, typed: bool, on_invalid: Callable[[pacsv.InvalidRow], str],
              columns: list[str] | None = None) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(data),
            # Two blocks per chunk: both cores parse, and each column has few chunks to combine.
            read_options=pacsv.ReadOptions(column_names=self.fields, block_size=max(1 << 20, data.size // 2 + 1)),
            parse_options=pacsv.ParseOptions(
                delimiter=" ", quote_char=False, escape_char=False, invalid_row_handler=on_invalid,
                ignore_empty_lines=True,
            ),
            convert_options=_convert_options(self.fields, typed, columns),
        )

    def _resplit(self, lines: list[str]) -> pa.Table:
        """Lines whose field count was off on single spaces (AWS prints some with a doubled space)."""
        rows: list[list[str | None]] = []
        for line in lines:
            tokens = line.split()
            if len(tokens) != len(self.fields):
                self.rejections.reject(f"expected {len(self.fields)} fields, found {len(tokens)}", line, self.where)
                continue
            rows.append([None if t == "-" else t for t in tokens])
        columns = {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(self.fields)}
        return self._checked(pa.table(columns))

    def _checked(self, raw: pa.Table) -> pa.Table:
        """Reject rows whose integer fields are not integers, then cast the rest."""
        bad = np.zeros(raw.num_rows, dtype=bool)
        for name in self.fields:
            if name not in INT32_FIELDS and name not in INT64_FIELDS:
                continue
            column = raw.column(name)
            wrong = pc.fill_null(pc.invert(pc.match_substring_regex(column, _DIGITS)), False).to_numpy(
                zero_copy_only=False
            )
            over = _out_of_range(column, 2**31 - 1 if name in INT32_FIELDS else 2**63 - 1) & ~wrong
            for reason, rows in ((f"not an integer in {name}", wrong), (f"integer out of range in {name}", over)):
                new = rows & ~bad
                self.rejections.reject_many(
                    reason, int(new.sum()),
                    [_row_text(raw, int(i)) for i in np.flatnonzero(new)[:SAMPLES_PER_REASON]], self.where,
                )
                bad |= rows
        kept = raw.filter(pa.array(~bad)) if bad.any() else raw
        columns = {}
        for name in self.fields:
            column = kept.column(name)
            if name in INT32_FIELDS:
                column = column.cast(pa.int32())
            elif name in INT64_FIELDS:
                column = column.cast(pa.int64())
            columns[name] = column
        return pa.table(columns)


def _out_of_range(digits: pa.ChunkedArray, limit: int) -> np.ndarray:
    """Rows whose digits exceed ``limit`` (the column type's maximum), compared as text: no overflow."""
    bound = str(limit)
    trimmed = pc.utf8_ltrim(digits, characters="0")
    length = pc.utf8_length(trimmed)
    over = pc.or_(pc.greater(length, len(bound)), pc.and_(pc.equal(length, len(bound)), pc.greater(trimmed, bound)))
    return pc.fill_null(over, False).to_numpy(zero_copy_only=False)


def _row_text(table: pa.Table, index: int) -> str:
    return " ".join("-" if v is None else str(v) for v in table.slice(index, 1).to_pylist()[0].values())


def _chunked(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    return table.column(name).combine_chunks()


def normalize(raw: pa.Table, where: str, rejections: Rejections) -> pa.Table:
    """Map a table of VPC fields (AWS names, hyphens or underscores) onto the normalized flow table."""
    raw = raw.rename_columns([n.replace("_", "-") for n in raw.column_names])
    n = raw.num_rows
    src_text = _endpoint_text(raw, "pkt-srcaddr", "srcaddr", n)
    dst_text = _endpoint_text(raw, "pkt-dstaddr", "dstaddr", n)
    src, dst = endpoints(src_text), endpoints(dst_text)
    bad = src.invalid | dst.invalid
    if bad.any():
        for side, ends in (("source", src), ("destination", dst)):
            new = ends.invalid & ~src.invalid if side == "destination" else ends.invalid
            rejections.reject_many(
                f"invalid {side} address", int(new.sum()),
                [_row_text(raw, int(i)) for i in np.flatnonzero(new)[:SAMPLES_PER_REASON]], where,
            )
        keep = pa.array(~bad)
        raw, src, dst = raw.filter(keep), src.filter(keep), dst.filter(keep)
        n = raw.num_rows
    family = family_of(_chunked(raw, "type"), src.family, dst.family)
    columns: dict[str, pa.Array] = {
        "source": constant_label(SOURCE_VPC, n),
        "family": family,
        "traffic_class": traffic_class(family, src, dst),
        **src.columns("src"),
        **dst.columns("dst"),
    }
    renames = {
        "srcport": "src_port", "dstport": "dst_port", "protocol": "protocol", "packets": "packets",
        "bytes": "bytes", "action": "action", "log-status": "log_status", "flow-direction": "flow_direction",
        "interface-id": "interface_id", "tcp-flags": "tcp_flags",
    }
    for field, target in renames.items():
        value = _chunked(raw, field)
        if value is not None:
            columns[target] = value
    for field in ("start", "end"):
        value = _chunked(raw, field)
        if value is not None:
            columns[field] = value.cast(pa.int64()).cast(pa.timestamp("s", tz="UTC"))
    for name in raw.column_names:
        if name in renames or name in ("start", "end", "type", "srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"):
            continue
        value = _chunked(raw, name)
        if name == "account-id":
            value = _text(value)
            value = pc.if_else(pc.equal(value, "unknown"), pa.scalar(None, pa.string()), value)
        columns[name.replace("-", "_")] = value
    if "pkt-srcaddr" in raw.column_names:
        # The ENI-level addresses stay available next to the true endpoints.
        columns["eni_srcaddr"] = _chunked(raw, "srcaddr")
        columns["eni_dstaddr"] = _chunked(raw, "dstaddr")
    return conform(columns, n)


def _text(column: pa.Array) -> pa.Array:
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def _endpoint_text(raw: pa.Table, packet_field: str, eni_field: str, n: int) -> pa.Array:
    packet, eni = _chunked(raw, packet_field), _chunked(raw, eni_field)
    if packet is not None and eni is not None:
        return pc.coalesce(_text(packet), _text(eni))
    chosen = packet if packet is not None else eni
    return chosen if chosen is not None else pa.nulls(n, pa.string())


def family_of(type_column: pa.Array | None, src_family: pa.Array, dst_family: pa.Array) -> pa.Array:
    """``type`` (IPv4/IPv6/EFA) when logged, else the endpoints' family (IPv4-mapped already unmapped)."""
    from_addresses = pc.coalesce(src_family, dst_family)
    if type_column is None:
        return from_addresses
    if pa.types.is_dictionary(type_column.type):  # decide once per distinct value
        return pc.coalesce(pc.take(_type_family(type_column.dictionary), type_column.indices), from_addresses)
    return pc.coalesce(_type_family(type_column), from_addresses)


def _type_family(type_text: pa.Array) -> pa.Array:
    return pc.if_else(
        pc.equal(type_text, "IPv6"), pa.scalar(6, pa.uint8()),
        pc.if_else(pc.equal(type_text, "IPv4"), pa.scalar(4, pa.uint8()), pa.scalar(None, pa.uint8())),
    )


class ParquetReader:
    """AWS Parquet delivery (INT_32/INT_64/STRING columns named with underscores), one row group at a time.

    Each ``read`` opens its own handle, so row groups can be read and normalized on several threads.
    """

    def __init__(self, open_input: Callable[[], object], where: str, rejections: Rejections,
                 core_only: bool = False) -> None:
        self._open = open_input
        self.where = where
        self.rejections = rejections
        try:
            schema = pq.ParquetFile(open_input()).schema_arrow
            self.row_groups = pq.ParquetFile(open_input()).num_row_groups
        except (pa.ArrowInvalid, OSError) as exc:
            raise FlowInputError(f"{where}: not a readable Parquet file ({exc})") from exc
        parse_format(" ".join(schema.names), rejections)
        # Text columns come back dictionary-encoded: addresses are then parsed once per distinct value.
        self._text_columns = [f.name for f in schema if pa.types.is_string(f.type)]
        self._columns = [n for n in schema.names if n.replace("_", "-") in CORE_SOURCE_FIELDS] if core_only else None

    def read(self, group: int) -> pa.Table:
        parquet = pq.ParquetFile(self._open(), read_dictionary=self._text_columns)
        table = parquet.read_row_group(group, columns=self._columns, use_threads=True)
        columns = {}
        for name in table.column_names:
            column = table.column(name).combine_chunks()
            if name.replace("_", "-") in INT32_FIELDS:
                column = column.cast(pa.int32())
            elif name.replace("_", "-") in INT64_FIELDS:
                column = column.cast(pa.int64())
            columns[name] = column
        return normalize(pa.table(columns), self.where, self.rejections)
