"""The normalized flow table: one Arrow schema for VPC Flow Logs, ALB requests and pcap flows.

Every source is mapped onto these columns so that one set of analysis definitions runs over all
of them. Addresses are stored as family + two uint64 halves (the 128-bit value), never as text, so
that the same address written three ways is one key. docs/flows.md documents each column.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

SOURCE_VPC = "vpc-flow-log"
SOURCE_ALB = "alb"
SOURCE_PCAP = "pcap"

TRAFFIC_IPV4 = "ipv4"
TRAFFIC_IPV6 = "ipv6"
TRAFFIC_NAT64 = "nat64"

# Low-cardinality text (sources, actions, statuses, kinds) is dictionary-encoded: 4 bytes a row.
_LABEL = pa.dictionary(pa.int32(), pa.string())
_KIND = _LABEL

# Columns every normalized table has, in this order. Source-specific extra fields (VPC fields
# such as vpc_id, all ALB fields) follow as additional nullable columns.
CORE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("source", _LABEL, nullable=False),
    pa.field("start", pa.timestamp("s", tz="UTC")),
    pa.field("end", pa.timestamp("s", tz="UTC")),
    pa.field("family", pa.uint8()),
    pa.field("traffic_class", _LABEL),
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


def conform(columns: dict[str, pa.Array], length: int) -> pa.Table:
    """Build a table with every core column (nulls where a source has no such field) plus extras."""
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for field in CORE_FIELDS:
        value = columns.get(field.name)
        if value is None:
            value = pa.nulls(length, field.type)
        elif not value.type.equals(field.type):
            value = value.cast(field.type)
        arrays.append(value)
        fields.append(field)
    for name, value in columns.items():
        if name not in CORE_NAMES:
            if pa.types.is_string(value.type):
                value = value.dictionary_encode()
            arrays.append(value)
            fields.append(pa.field(name, value.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
