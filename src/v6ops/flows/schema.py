"""The normalized flow table: one Arrow schema for VPC Flow Logs, ALB requests and pcap flows.

Every source is mapped onto these columns so that one set of analysis definitions runs over all
of them. Addresses are stored as family + two uint64 halves (the 128-bit value), never as text, so
that the same address written three ways is one key. docs/flows.md documents each column.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 1

SOURCE_VPC = "vpc-flow-log"
SOURCE_ALB = "alb"
SOURCE_PCAP = "pcap"

TRAFFIC_IPV4 = "ipv4"
TRAFFIC_IPV6 = "ipv6"
TRAFFIC_NAT64 = "nat64"

# Low-cardinality text is dictionary-encoded: one byte a row for our own labels (source, class,
# address kind), four for labels read from input (actions, statuses, interface ids).
_OURS = pa.dictionary(pa.int8(), pa.string())
_LABEL = pa.dictionary(pa.int32(), pa.string())
_KIND = _OURS

# Columns every normalized table has, in this order. Source-specific extra fields (VPC fields
# such as vpc_id, all ALB fields) follow as additional nullable columns.
CORE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("source", _OURS, nullable=False),
    pa.field("start", pa.timestamp("s", tz="UTC")),
    pa.field("end", pa.timestamp("s", tz="UTC")),
    pa.field("family", pa.uint8()),
    pa.field("traffic_class", _OURS),
    pa.field("src_family", pa.uint8()),
    pa.field("src_hi", pa.uint64()),
    pa.field("src_lo", pa.uint64()),
    pa.field("src_kind", _KIND),
    pa.field("dst_family", pa.uint8()),
    pa.field("dst_hi", pa.uint64()),
    pa.field("dst_lo", pa.uint64()),
    pa.field("dst_kind", _KIND),
    pa.field("src_port", pa.int32()),
    pa.field("dst_port", pa.int32()),
    pa.field("protocol", pa.int32()),
    pa.field("packets", pa.int64()),
    pa.field("bytes", pa.int64()),
    pa.field("action", _LABEL),
    pa.field("log_status", _LABEL),
    pa.field("flow_direction", _LABEL),
    pa.field("interface_id", _LABEL),
    pa.field("tcp_flags", pa.int32()),
    pa.field("elb_status_code", pa.int32()),
    pa.field("target_status_code", pa.int32()),
    pa.field("request_processing_time", pa.float64()),
    pa.field("target_processing_time", pa.float64()),
    pa.field("response_processing_time", pa.float64()),
    pa.field("dispatch_failed", pa.bool_()),
)

CORE_SCHEMA = pa.schema(list(CORE_FIELDS))
CORE_NAMES = frozenset(CORE_SCHEMA.names)


def constant_label(value: str, length: int) -> pa.Array:
    """A label column with one value (the source of a batch) at one byte a row."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(length, np.int8)), pa.array([value], pa.string()))


def conform(columns: dict[str, pa.Array], length: int) -> pa.Table:
    """Core columns a source has (cast to the core types, in core order), then its extra columns.

    Core columns a source lacks are not materialized here (a VPC batch would otherwise carry ~80
    bytes a row of null ALB columns); ``complete`` and the engines add them as nulls.
    """
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for field in CORE_FIELDS:
        value = columns.get(field.name)
        if value is None:
            continue
        if not value.type.equals(field.type):
            value = value.cast(field.type)
        arrays.append(value)
        fields.append(field)
    for name, value in columns.items():
        if name not in CORE_NAMES:
            if pa.types.is_string(value.type):
                value = value.dictionary_encode()
            arrays.append(value)
            fields.append(pa.field(name, value.type))
    if not arrays:
        return complete(pa.table({}))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def complete(table: pa.Table) -> pa.Table:
    """The table with every core column, in core order, nulls where its sources had no such field."""
    columns: list[pa.ChunkedArray | pa.Array] = []
    fields: list[pa.Field] = []
    for field in CORE_FIELDS:
        if field.name in table.column_names:
            columns.append(table.column(field.name))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
        fields.append(field)
    for name in table.column_names:
        if name not in CORE_NAMES:
            columns.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
