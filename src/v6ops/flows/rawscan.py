"""VPC Flow Log files read straight into the report's aggregates, addresses as integer ids.

Materializing a normalized row per record costs far more than the report needs: every analysis
but the ALB percentiles is a sum. So a clean local VPC file (text, gzip or Parquet) is read by the
C reader (``encoded``) into two aggregates, facts and (source id, destination id) pairs (and with
detections a third, ``flows``: per source, destination, protocol, port and time bin); only the
distinct address texts are parsed (``v6ops.addr.vector``), which also checks the reader's code of
each. The pairs are then valued by the address table (id -> 128-bit value), so the same address
written three ways is still one talker.

Lines the reader does not take (a doubled space, ``\\r\\n``, a non-integer, ...) are handed to the
row path, which counts every rejection by reason; a file the reader cannot take at all (an address
that does not parse, ``flow-direction`` which needs per-row deduplication, remote or ALB input, more
odd lines than ``encoded.ODD_LINES_LIMIT``) goes through the row path whole.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from v6ops.flows import alb, encoded, vpc
from v6ops.flows.addresses import class_of, endpoints, is_nat64
from v6ops.flows.problems import FlowInputError, Rejections
from v6ops.flows.schema import SOURCE_VPC
from v6ops.flows.sources import GZIP_MAGIC, PARQUET_MAGIC, LocalFile, Source

_HEAD_BYTES = 1 << 16
_PARQUET_KIND = "vpc-parquet"
_TEXT_KIND = "vpc-flow-log"


@dataclass(frozen=True)
class RawVpcFile:
    """A local VPC file the engine reads directly: its fields (AWS names, hyphens) and layout."""

    source: LocalFile
    fields: tuple[str, ...]
    kind: str  # vpc-flow-log (text) or vpc-parquet
    header: bool = False
    compressed: bool = False


def sniff(source: Source, vpc_format: str | None, rejections: Rejections) -> RawVpcFile | None:
    """The file's layout if the engine can scan it directly, else None (the row path takes it)."""
    if not isinstance(source, LocalFile):
        return None
    try:
        with source.path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
        if head[:4] == PARQUET_MAGIC:
            return _sniff_parquet(source, rejections)
        compressed = head[:2] == GZIP_MAGIC
        if compressed:
            with gzip.open(source.path, "rb") as unzipped:
                head = unzipped.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        return None  # the row path reports the unreadable or truncated file
    return _sniff_text(source, head, compressed, vpc_format, rejections)


def _sniff_text(source: LocalFile, head: bytes, compressed: bool, vpc_format: str | None,
                rejections: Rejections) -> RawVpcFile | None:
    cut = head.find(b"\n")
    if cut < 0 or head[:4] == PARQUET_MAGIC:
        return None
    try:
        first_line = head[:cut].decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if not first_line or alb.looks_like_alb(first_line):
        return None
    header = vpc.looks_like_header(first_line)
    try:
        if header:
            fields = vpc.parse_format(first_line, rejections)
        elif vpc_format:
            fields = vpc.parse_format(vpc_format, rejections)
        else:
            tokens = first_line.split()
            if not (tokens[0].isdigit() and len(tokens) == len(vpc.DEFAULT_FORMAT)):
                return None
            fields = vpc.DEFAULT_FORMAT
    except FlowInputError:
        return None
    if "flow-direction" in fields:
        return None
    return RawVpcFile(source, tuple(fields), _TEXT_KIND, header=header, compressed=compressed)


def _sniff_parquet(source: LocalFile, rejections: Rejections) -> RawVpcFile | None:
    try:
        schema = pq.read_schema(source.path)
        fields = vpc.parse_format(" ".join(schema.names), rejections)
    except (pa.ArrowInvalid, OSError, FlowInputError):
        return None
    for field in schema:
        name = field.name.replace("_", "-")
        numeric = name in vpc.INT32_FIELDS or name in vpc.INT64_FIELDS
        if (numeric and not pa.types.is_integer(field.type)) or (not numeric and not pa.types.is_string(field.type)):
            return None
    if "flow-direction" in fields:
        return None
    return RawVpcFile(source, tuple(fields), _PARQUET_KIND)


def address_table(text: pa.Array) -> tuple[pa.Table, int]:
    """Address id (its row) -> text, family, 128-bit halves, kind (IPv4-mapped unmapped); and how many are invalid."""
    ends = endpoints(text)
    table = pa.table({
        "text": text, "family": ends.family, "hi": ends.hi, "lo": ends.lo, "kind": ends.kind.cast(pa.string()),
    })
    return table, int(ends.invalid.sum())


def expected_codes(addresses: pa.Table) -> np.ndarray:
    """The code the reader must have given each address: its counted family, 64 in a NAT64 prefix."""
    family = pc.fill_null(addresses.column("family"), 0).to_numpy(zero_copy_only=False)
    nat64 = is_nat64(addresses.column("kind").combine_chunks()).to_numpy(zero_copy_only=False)
    return np.where(nat64, 64, np.where(family == 4, 4, np.where(family == 6, 6, encoded.CODE_UNKNOWN))).astype(np.uint8)


def classified_facts(facts: pa.Table) -> pa.Table:
    """The reader's facts with ``traffic_class``, by the row path's own rules (``vpc.family_of``, ``class_of``)."""
    def family(code: pa.ChunkedArray) -> pa.Array:
        values = code.to_numpy()
        return pa.array(np.where(values == 64, 6, values).astype(np.uint8), mask=values == encoded.CODE_NULL)

    src, dst = facts.column("src_code"), facts.column("dst_code")
    fam = vpc.family_of(facts.column("flow_type").combine_chunks(), family(src), family(dst))
    touches = pa.array((src.to_numpy() == 64) | (dst.to_numpy() == 64))
    return facts.append_column("traffic_class", class_of(fam, touches))


def facts_sql(scan: RawScan, bin_seconds: int) -> str:
    """The columns of ``analyses.facts_sql`` except the address kinds (see ``kind_facts_sql``).

    The file's ``fine_bin`` divides ``bin_seconds`` (``pipeline`` picks it so), so the bins nest.
    """
    kinds = "CAST(NULL AS STRING) AS src_kind, CAST(NULL AS STRING) AS dst_kind"
    return (
        f"SELECT '{SOURCE_VPC}' AS source, CAST(log_status AS STRING) AS log_status, "
        f"CAST(traffic_class AS STRING) AS traffic_class, CAST(action AS STRING) AS action, protocol, {kinds}, "
        f"fine_bin - (fine_bin % {bin_seconds}) AS bin, CAST(sum(records) AS BIGINT) AS records, "
        f"CAST(sum(packets) AS BIGINT) AS packets, CAST(sum(bytes) AS BIGINT) AS bytes "
        f"FROM {scan.facts} GROUP BY 2, 3, 4, 5, 8"
    )


def valued_pairs(pairs: pa.Table, addresses: pa.Table) -> pa.Table:
    """The counted pairs with each side's 128-bit value and kind (ids index the address table)."""
    out: dict[str, pa.Array | pa.ChunkedArray] = {}
    for side in ("src", "dst"):
        ids = pairs.column(side)
        for name in ("family", "hi", "lo"):
            out[f"{side}_{name}"] = pc.take(addresses.column(name), ids)
    for side in ("src", "dst"):
        out[f"{side}_kind"] = pc.take(addresses.column("kind"), pairs.column(side))
    for name in ("flows", "packets", "bytes"):
        out[name] = pairs.column(name)
    return pa.table(out)


def kind_facts_sql(scan: RawScan) -> str:
    """Counted flows by source and destination address kind, from the pairs (kinds are only reported apart)."""
    return (
        f"SELECT '{SOURCE_VPC}' AS source, CAST(NULL AS STRING) AS log_status, src_kind, dst_kind, "
        "CAST(sum(flows) AS BIGINT) AS records, CAST(sum(packets) AS BIGINT) AS packets, "
        f"CAST(sum(bytes) AS BIGINT) AS bytes FROM {scan.valued} GROUP BY 3, 4"
    )


def conversations_sql(scan: RawScan) -> str:
    """The pairs by 128-bit value (columns of ``analyses.conversations_sql``).

    Already one row per pair of values when each value has one text in the file (``canonical``);
    else the caller re-aggregates (the same address written several ways).
    """
    return (
        "SELECT src_family, src_hi, src_lo, dst_family, dst_hi, dst_lo, flows, packets, bytes "
        f"FROM {scan.valued}"
    )


@dataclass(frozen=True)
class RawScan:
    """One scanned file: its facts and valued pairs by engine name, and its span."""

    raw: RawVpcFile
    facts: str
    valued: str
    records: int  # taken by the reader; ``odd_lines`` are the row path's to count
    first: int | None  # epoch seconds
    last: int | None
    canonical: bool  # no two texts of the file are the same address
    odd_lines: bytes = b""  # lines the reader did not take, in file order, for the row path
    flows: str | None = None  # with detections: the valued flows aggregate (``valued_flows``)


class RawEngine(Protocol):
    """What a scanned file needs from an engine: its tables under names the analyses then query."""

    def register(self, name: str, table: pa.Table) -> None: ...


def read_aggregates(raw: RawVpcFile, fine_bin: int,
                    detect: encoded.DetectBins | None = None) -> encoded.FileAggregates | None:
    if raw.kind == _PARQUET_KIND:
        return encoded.read_parquet(raw.source, raw.fields, fine_bin) if detect is None else None
    return encoded.read_text(raw.source, raw.fields, raw.header, raw.compressed, fine_bin, detect)


def valued_flows(flows: pa.Table, addresses: pa.Table) -> pa.Table:
    """The flows aggregate as the columns of ``detections.base_sql``: ids valued by the address table,
    ``rejected`` the bin's rejected flows, ``t`` the bin's start (epoch seconds)."""
    src, dst = flows.column("src"), flows.column("dst")
    count = flows.column("flows")
    rejected = pc.multiply(pc.cast(flows.column("rejected"), pa.int64()), count)
    return pa.table({
        "src_family": pc.take(addresses.column("family"), src), "src_hi": pc.take(addresses.column("hi"), src),
        "src_lo": pc.take(addresses.column("lo"), src), "dst_family": pc.take(addresses.column("family"), dst),
        "dst_hi": pc.take(addresses.column("hi"), dst), "dst_lo": pc.take(addresses.column("lo"), dst),
        "dst_port": flows.column("dst_port"), "protocol": flows.column("protocol"),
        "packets": flows.column("packets"), "bytes": flows.column("bytes"), "rejected": rejected,
        "src_kind": pc.take(addresses.column("kind").combine_chunks().dictionary_encode(), src),  # ids, not 10M texts
        "facing": pc.cast(flows.column("facing"), pa.int64()),
        "t": flows.column("bin"), "flows": count,
    })


def scan_file(engine: RawEngine, raw: RawVpcFile, name: str, fine_bin: int = 60,
              detect: encoded.DetectBins | None = None) -> RawScan | None:
    """The file's aggregates, registered with the engine; None if the row path must read it instead.

    ``fine_bin`` divides every trend bin the report may choose (``analyses.TREND_BINS``); with
    ``detect``, the flows aggregate the detections read is registered too (``RawScan.flows``).
    """
    facts, valued = f"{name}_facts", f"{name}_valued"
    file = read_aggregates(raw, fine_bin, detect)
    if file is None:
        return None  # a line the reader does not take, a truncated gzip: the row path counts or reports it
    table, invalid = address_table(file.addresses)
    if invalid or not np.array_equal(expected_codes(table), file.codes):
        return None  # the row path rejects invalid records by reason; a code the reader got wrong is its limit
    engine.register(facts, classified_facts(file.facts))
    engine.register(valued, valued_pairs(file.pairs, table))
    flows = None
    if file.flows is not None:
        flows = f"{name}_flows"
        engine.register(flows, valued_flows(file.flows, table))
    canonical = table.select(["family", "hi", "lo"]).group_by(["family", "hi", "lo"]).aggregate([]).num_rows == len(table)
    return RawScan(raw, facts, valued, file.records, file.first, file.last, canonical, file.odd_lines, flows)
