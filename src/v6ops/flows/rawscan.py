"""VPC Flow Log files the engine scans itself, aggregated on the raw address text first.

Materializing a normalized row per record costs far more than the report needs: every analysis
but the ALB percentiles is a sum. So a clean local VPC file (text, gzip or Parquet) is scanned by the
engine in two passes, each a GROUP BY straight over the file: the (source text, destination text)
pairs, then the small-cardinality facts. Only the distinct address texts are parsed (with
``v6ops.addr.vector``), into a table that maps text to the 128-bit value; the pair aggregate is then
re-aggregated by that value, so the same address written three ways is still one talker.

Any file this path cannot take exactly as the checked row path would (a line the typed reader
rejects, an address that does not parse, ``flow-direction`` which needs per-row deduplication,
remote or ALB input) goes through the row path instead, which counts every rejection by reason.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from v6ops.flows import alb, vpc
from v6ops.flows.addresses import endpoints
from v6ops.flows.problems import FlowInputError, Rejections
from v6ops.flows.schema import SOURCE_VPC, TRAFFIC_IPV4, TRAFFIC_IPV6, TRAFFIC_NAT64
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

    @property
    def columns(self) -> list[str]:
        """Column names as the engine sees them (underscores, as in AWS Parquet)."""
        return [f.replace("-", "_") for f in self.fields]


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


def raw_view_sql(q: Callable[[str], str], relation: str, raw: RawVpcFile) -> str:
    """The file's columns under fixed names: endpoints, family signal, labels, counters, epochs.

    ``q`` quotes a column name (the dialect's ``quote``). ``pkt-srcaddr``/``pkt-dstaddr`` are the
    true endpoints when logged (docs/flows.md).
    """
    present = set(raw.columns)

    def column(name: str, sql_type: str) -> str:
        return f"CAST({q(name)} AS {sql_type})" if name in present else f"CAST(NULL AS {sql_type})"

    def endpoint(packet: str, eni: str) -> str:
        chosen = [q(n) for n in (packet, eni) if n in present]
        if not chosen:
            return "CAST(NULL AS STRING)"
        return chosen[0] if len(chosen) == 1 else f"coalesce({', '.join(chosen)})"

    return (
        f"SELECT {endpoint('pkt_srcaddr', 'srcaddr')} AS src_text, {endpoint('pkt_dstaddr', 'dstaddr')} AS dst_text, "
        f"{column('type', 'STRING')} AS flow_type, {column('action', 'STRING')} AS action, "
        f"{column('log_status', 'STRING')} AS log_status, {column('protocol', 'INT')} AS protocol, "
        f"{column('packets', 'BIGINT')} AS packets, {column('bytes', 'BIGINT')} AS bytes, "
        f"{column('start', 'BIGINT')} AS start_epoch, {column('end', 'BIGINT')} AS end_epoch FROM {relation}"
    )


_OK = "(log_status IS NULL OR log_status = 'OK')"


def one_pass_sql(view: str, fine_bin: int) -> str:
    """The only full pass in the common case: two aggregates of the file at once (GROUPING SETS).

    Set ``pair`` (by source text, destination text) feeds talkers, kinds, span and the address
    table; set ``facts`` (status, class, action, protocol, time bin of ``fine_bin`` seconds) feeds
    every other section. Its class uses the colon rule alone (``_traffic_class``), which the
    address table then confirms; where it cannot (IPv4-mapped or NAT64 text present), ``facts_sql``
    runs a second pass.
    """
    return (
        "SELECT src_text, dst_text, log_status, traffic_class, action, protocol, fine_bin, "
        "grouping(src_text) AS facts_set, count(*) AS records, CAST(sum(packets) AS BIGINT) AS packets, "
        f"CAST(sum(bytes) AS BIGINT) AS bytes, sum(CASE WHEN {_OK} THEN 1 ELSE 0 END) AS flows, "
        f"CAST(sum(CASE WHEN {_OK} THEN packets END) AS BIGINT) AS flow_packets, "
        f"CAST(sum(CASE WHEN {_OK} THEN bytes END) AS BIGINT) AS flow_bytes, "
        "min(start_epoch) AS first, max(end_epoch) AS last FROM ("
        f"SELECT *, {_traffic_class('', mapped=False, nat64=False)} AS traffic_class, "
        f"start_epoch - (start_epoch % {fine_bin}) AS fine_bin FROM {view}) rows "
        "GROUP BY GROUPING SETS ((src_text, dst_text), (log_status, traffic_class, action, protocol, fine_bin))"
    )


def pairs_sql(groups: str) -> str:
    """Per (source text, destination text): every record, the counted flows, and the span."""
    return (
        "SELECT src_text, dst_text, records, CAST(flows AS BIGINT) AS flows, flow_packets AS packets, "
        f"flow_bytes AS bytes, first, last FROM {groups} WHERE facts_set = 0"
    )


def distinct_text_sql(pairs: str) -> str:
    return (
        f"SELECT src_text AS text FROM {pairs} WHERE src_text IS NOT NULL "
        f"UNION SELECT dst_text AS text FROM {pairs} WHERE dst_text IS NOT NULL"
    )


def address_table(text: pa.Array) -> tuple[pa.Table, int]:
    """Distinct address text -> family, 128-bit halves, kind (IPv4-mapped unmapped), and how many are invalid."""
    ends = endpoints(text)
    table = pa.table({
        "text": text, "family": ends.family, "hi": ends.hi, "lo": ends.lo, "kind": ends.kind.cast(pa.string()),
    })
    return table, int(ends.invalid.sum())


def _family_of(column: str, mapped: str | None) -> str:
    """Family of a validated address text: IPv6 text has a colon, IPv4 text never does (RFC 4291
    section 2.2, RFC 791). The address table confirms this for every distinct text of the file; the
    texts where it does not hold (IPv4-mapped, counted as IPv4) are the subquery ``mapped``."""
    rule = f"CASE WHEN {column} IS NULL THEN NULL WHEN instr({column}, ':') > 0 THEN 6 ELSE 4 END"
    return f"(CASE WHEN {column} IN {mapped} THEN 4 ELSE {rule} END)" if mapped else rule


def _traffic_class(addresses: str, mapped: bool, nat64: bool) -> str:
    """The row rule of ``vpc._family`` and ``addresses.traffic_class`` without a join per record.

    The address table was parsed from every distinct text; only the rare texts the colon rule does
    not decide (IPv4-mapped, NAT64) are looked up, and not at all when the file has none.
    """
    mapped_texts = f"(SELECT text FROM {addresses} WHERE family = 4 AND instr(text, ':') > 0)" if mapped else None
    family = (
        "coalesce(CASE flow_type WHEN 'IPv6' THEN 6 WHEN 'IPv4' THEN 4 END, "
        f"{_family_of('src_text', mapped_texts)}, {_family_of('dst_text', mapped_texts)})"
    )
    nat64_texts = f"(SELECT text FROM {addresses} WHERE kind = 'nat64')"
    touches_nat64 = f"(coalesce(src_text IN {nat64_texts}, FALSE) OR coalesce(dst_text IN {nat64_texts}, FALSE))"
    ipv6 = f"(CASE WHEN {touches_nat64} THEN '{TRAFFIC_NAT64}' ELSE '{TRAFFIC_IPV6}' END)" if nat64 else f"'{TRAFFIC_IPV6}'"
    return f"CASE WHEN {family} = 6 THEN {ipv6} WHEN {family} = 4 THEN '{TRAFFIC_IPV4}' END"


def facts_sql(scan: RawScan, bin_seconds: int) -> str:
    """The columns of ``analyses.facts_sql`` except the address kinds (see ``kind_facts_sql``).

    From the one pass when its colon-rule class holds for the whole file and the bins nest, else
    a second pass over the file that looks up the texts the rule cannot decide.
    """
    kinds = "CAST(NULL AS STRING) AS src_kind, CAST(NULL AS STRING) AS dst_kind"
    if not (scan.mapped or scan.nat64) and bin_seconds % scan.fine_bin == 0:
        return (
            f"SELECT '{SOURCE_VPC}' AS source, log_status, traffic_class, action, protocol, {kinds}, "
            f"fine_bin - (fine_bin % {bin_seconds}) AS bin, CAST(sum(records) AS BIGINT) AS records, "
            f"CAST(sum(packets) AS BIGINT) AS packets, CAST(sum(bytes) AS BIGINT) AS bytes "
            f"FROM {scan.groups} WHERE facts_set = 1 GROUP BY 2, 3, 4, 5, 8"
        )
    return (
        f"SELECT '{SOURCE_VPC}' AS source, log_status, {_traffic_class(scan.addresses, scan.mapped, scan.nat64)} "
        f"AS traffic_class, action, protocol, {kinds}, start_epoch - (start_epoch % {bin_seconds}) AS bin, "
        f"count(*) AS records, sum(packets) AS packets, sum(bytes) AS bytes FROM {scan.view} GROUP BY 2, 3, 4, 5, 8"
    )


def valued_pairs_sql(pairs: str, addresses: str) -> str:
    """The counted pairs with each side's 128-bit value and kind (the address table joined once)."""
    return (
        "SELECT s.family AS src_family, s.hi AS src_hi, s.lo AS src_lo, d.family AS dst_family, d.hi AS dst_hi, "
        "d.lo AS dst_lo, s.kind AS src_kind, d.kind AS dst_kind, p.flows, p.packets, p.bytes "
        f"FROM {pairs} p LEFT JOIN {addresses} s ON s.text = p.src_text "
        f"LEFT JOIN {addresses} d ON d.text = p.dst_text WHERE p.flows > 0"
    )


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


def span_sql(scan: RawScan) -> str:
    return f"SELECT min(first) AS first, max(last) AS last FROM {scan.pairs}"


@dataclass(frozen=True)
class RawScan:
    """One scanned file: its raw view, pair aggregate and address table, by engine name."""

    raw: RawVpcFile
    view: str
    groups: str
    fine_bin: int
    pairs: str
    addresses: str
    valued: str
    records: int
    canonical: bool  # no two texts of the file are the same address
    mapped: bool  # some text is IPv4-mapped (the colon rule does not give its counted family)
    nat64: bool  # some text is in a NAT64 prefix


class RawEngine(Protocol):
    """What scanning a file needs from an engine, beyond running statements."""

    input_errors: tuple[type[Exception], ...]  # what a bad file raises while it is scanned

    def quote(self, identifier: str) -> str: ...

    def open_vpc_file(self, name: str, raw: RawVpcFile) -> str:
        """SQL for the file as a relation with typed columns; a line it cannot take raises ``input_errors``."""

    def materialize(self, name: str, sql: str) -> None: ...

    def view(self, name: str, sql: str) -> None: ...

    def query(self, sql: str) -> pa.Table: ...

    def register(self, name: str, table: pa.Table) -> None: ...


def scan_file(engine: RawEngine, raw: RawVpcFile, name: str, fine_bin: int = 60) -> RawScan | None:
    """The one pass over the file and its address table; None if the row path must read it instead.

    ``fine_bin`` divides every trend bin the report may choose (``analyses.TREND_BINS``).
    """
    view, groups, pairs, addresses, valued = (f"{name}_{part}" for part in ("raw", "groups", "pairs", "addresses", "valued"))
    try:
        relation = engine.open_vpc_file(name, raw)
        engine.view(view, raw_view_sql(engine.quote, relation, raw))
        engine.materialize(groups, one_pass_sql(view, fine_bin))
    except engine.input_errors:
        return None  # a rejected line, a truncated gzip: the row path counts or reports it
    engine.view(pairs, pairs_sql(groups))
    text = engine.query(distinct_text_sql(pairs)).column("text").combine_chunks()
    table, invalid = address_table(text)
    if invalid:
        return None  # the row path rejects those records by reason, with samples
    engine.register(addresses, table)
    engine.materialize(valued, valued_pairs_sql(pairs, addresses))
    canonical = table.select(["family", "hi", "lo"]).group_by(["family", "hi", "lo"]).aggregate([]).num_rows == len(table)
    records = engine.query(f"SELECT sum(records) AS n FROM {pairs}").column("n")[0].as_py() or 0
    has_colon = pc.greater(pc.find_substring(text, ":"), -1)
    family = table.column("family")
    if pc.any(pc.and_(pc.invert(has_colon), pc.equal(family, 6))).as_py():
        return None  # the colon rule of ``_family_of`` would not hold: let the row path decide
    mapped = bool(pc.any(pc.and_(has_colon, pc.equal(family, 4))).as_py())
    nat64 = bool(pc.any(pc.equal(table.column("kind"), "nat64")).as_py())
    return RawScan(raw, view, groups, fine_bin, pairs, addresses, valued, int(records), canonical, mapped, nat64)
