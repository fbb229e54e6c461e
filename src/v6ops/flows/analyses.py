"""The analyses, defined once: SQL text over the normalized ``flows`` table plus Arrow post-processing.

Nothing here knows which engine runs it. An engine supplies a ``Dialect`` (the few functions whose
spelling differs between SQL engines) and runs statements; DuckDB does it here, Spark can run the
same definitions. Counting rules (docs/flows.md):

- a *flow* is a VPC or pcap row that is not a NODATA/SKIPDATA status row; a *request* is an ALB row;
- the family is ``type`` when logged, else the endpoints' family after unmapping IPv4-mapped
  addresses, so ``::ffff:a.b.c.d`` counts as IPv4;
- IPv6 traffic to or from a NAT64 prefix (RFC 6052 64:ff9b::/96, RFC 8215 64:ff9b:1::/48) is class
  ``nat64``: it is IPv6 on the wire (in the IPv6 share) and reported separately;
- when ``flow-direction`` is logged, an ingress record whose 5-tuple also appears as an egress record
  on another interface within 60 s is the same conversation seen at the other end, and is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from v6ops.flows import rawscan
from v6ops.flows.addresses import prefix_text
from v6ops.flows.protocols import protocol_name
from v6ops.flows.schema import SOURCE_ALB, TRAFFIC_IPV4, TRAFFIC_IPV6, TRAFFIC_NAT64

Item = TypeVar("Item")
Result = TypeVar("Result")

CLASSES = (TRAFFIC_IPV4, TRAFFIC_IPV6, TRAFFIC_NAT64)
DEDUP_WINDOW_SECONDS = 60
# (label, IPv4 length, IPv6 length): privacy addresses (RFC 8981) rotate inside a /64.
LEVELS: tuple[tuple[str, int, int], ...] = (("address", 32, 128), ("/64", 24, 64), ("/56", 24, 56), ("/48", 24, 48))
TREND_BINS = (60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_TREND_BINS = 96
LATENCY = "(request_processing_time + target_processing_time + response_processing_time)"


class Dialect(Protocol):
    def epoch(self, column: str) -> str:
        """Seconds since the epoch of a timestamp column."""

    def quantile(self, expression: str, fraction: float) -> str:
        """Continuous (interpolated) quantile aggregate."""

    def keep_high_bits(self, expression: str, bits: int) -> str:
        """An unsigned 64-bit value with all but its ``bits`` most significant bits cleared."""

    def quote(self, identifier: str) -> str:
        """A column name that is also a keyword (``end``): "end" in DuckDB, `end` in Spark SQL."""


class Engine(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    def materialize(self, name: str, sql: str) -> None:
        """Compute ``sql`` once and keep it as table ``name`` for later statements."""

    def view(self, name: str, sql: str) -> None:
        """Name ``sql`` for later statements without computing it."""

    def query(self, sql: str) -> pa.Table: ...

    def each(self, work: Callable[[Any, Item], Result], items: Sequence[Item]) -> list[Result]:
        """``work(engine, item)`` for every item, results in order, side by side where the engine gains by it."""

    def unregister(self, name: str) -> None:
        """Forget the data ``register`` gave as ``name``, and the memory it holds."""


@dataclass(frozen=True)
class Options:
    top: int = 10
    bin_seconds: int | None = None  # None: chosen from the records' own time span


def _half_masks(d: Dialect, side: str, length4: int, length6: int) -> tuple[str, str]:
    """SQL for the (hi, lo) halves of ``side``'s prefix: IPv4 lives in the low 32 bits of ``lo``."""
    fam, hi, lo = f"{side}_family", f"{side}_hi", f"{side}_lo"
    hi6 = hi if length6 >= 64 else d.keep_high_bits(hi, length6)
    lo6 = lo if length6 == 128 else d.keep_high_bits(lo, max(0, length6 - 64))
    lo4 = lo if length4 == 32 else d.keep_high_bits(lo, 32 + length4)
    return (f"CASE WHEN {fam} = 6 THEN {hi6} ELSE {hi} END", f"CASE WHEN {fam} = 6 THEN {lo6} ELSE {lo4} END")


def dedup_sql(d: Dialect) -> str:
    keys = ["src_hi", "src_lo", "dst_hi", "dst_lo", "src_port", "dst_port", "protocol"]
    same = " AND ".join(f"e.{k} = i.{k}" for k in keys)
    return (
        "SELECT DISTINCT i.interface_id, i.start, " + ", ".join(f"i.{k}" for k in keys) + " FROM flows i JOIN flows e "
        f"ON {same} AND e.interface_id <> i.interface_id "
        f"AND abs({d.epoch('e.start')} - {d.epoch('i.start')}) <= {DEDUP_WINDOW_SECONDS} "
        "WHERE i.flow_direction = 'ingress' AND e.flow_direction = 'egress'"
    )


def counted_sql(with_duplicates: bool) -> str:
    if not with_duplicates:
        return "SELECT * FROM flows"
    keys = ["interface_id", "start", "src_hi", "src_lo", "dst_hi", "dst_lo", "src_port", "dst_port", "protocol"]
    same = " AND ".join(f"x.{k} = f.{k}" for k in keys)
    return f"SELECT f.* FROM flows f WHERE NOT EXISTS (SELECT 1 FROM duplicates x WHERE {same})"


FACT_KEYS = ("source", "log_status", "traffic_class", "action", "protocol", "src_kind", "dst_kind")


def facts_sql(d: Dialect, bin_seconds: int) -> str:
    """One pass over the rows: every small-cardinality breakdown, trend bins included."""
    bin_expression = f"{d.epoch('start')} - ({d.epoch('start')} % {bin_seconds})"
    keys = ", ".join(FACT_KEYS)
    return (
        f"SELECT {keys}, {bin_expression} AS bin, "
        "count(*) AS records, sum(packets) AS packets, sum(bytes) AS bytes FROM counted "
        f"GROUP BY {keys}, {bin_expression}"
    )


def rebin_sql(inner: str, bin_seconds: int) -> str:
    """Rows of ``facts_sql`` (from ``inner``) summed into bins of ``bin_seconds``, a multiple of theirs.

    A record's bin is ``t - t % b``; with ``b`` a multiple of the finer bin ``f``, ``t - t % f``
    falls in the same ``b`` bin as ``t``, so re-binning the fine bins equals binning the rows.
    """
    keys = ", ".join(FACT_KEYS)
    return (f"SELECT {keys}, bin - (bin % {bin_seconds}) AS bin, CAST(sum(records) AS BIGINT) AS records, "
            f"sum(packets) AS packets, sum(bytes) AS bytes FROM ({inner}) f GROUP BY {keys}, bin - (bin % {bin_seconds})")


class Partials:
    """The counted rows' mergeable aggregates, for a caller that sees the rows in parts (follow mode).

    Every report section but the ALB figures is a sum over the rows, so the sums of the parts
    are the sums of the whole: the facts at ``fine_bin`` (which divides every bin asked for
    later), the time span, and the conversations (one row per pair of addresses); the two are
    engine tables named by ``facts`` and ``conversations``. ``add`` merges the aggregates of the engine's current ``counted`` view,
    rows never added before; the caller keeps ``counted`` naming every row when it runs the
    analyses (the ALB figures read it) and resets the parts when rows stop being only added
    (flow-direction duplicates found later remove rows).
    """

    def __init__(self, fine_bin: int, duplicates: int = 0) -> None:
        self.fine_bin = fine_bin
        self.duplicates = duplicates
        self.span: dict[str, Any] = {"first": None, "last": None}
        self.facts: str | None = None  # engine table: facts_sql rows at fine_bin
        self.conversations: str | None = None
        self._generation = 0

    def add(self, engine: Engine) -> None:
        d = engine.dialect
        span = engine.query(f"SELECT min(start) AS first, max({d.quote('end')}) AS last FROM counted").to_pylist()[0]
        for key, pick in (("first", min), ("last", max)):
            if span[key] is not None:
                self.span[key] = span[key] if self.span[key] is None else pick(self.span[key], span[key])
        self._generation += 1  # two names in turn: a table is rebuilt from its previous self
        facts, conversations = (f"kept_{kind}_{self._generation % 2}" for kind in ("facts", "conversations"))
        fresh = facts_sql(d, self.fine_bin)
        engine.materialize(facts, rebin_sql(fresh if self.facts is None else
                                             f"SELECT * FROM {self.facts} UNION ALL {fresh}", self.fine_bin))
        cols = "src_family, src_hi, src_lo, dst_family, dst_hi, dst_lo"
        parts = conversations_sql() if self.conversations is None else \
            f"SELECT * FROM {self.conversations} UNION ALL {conversations_sql()}"
        engine.materialize(conversations, f"SELECT {cols}, CAST(sum(flows) AS BIGINT) AS flows, "
                                          f"sum(packets) AS packets, sum(bytes) AS bytes FROM ({parts}) merged GROUP BY {cols}")
        self.facts, self.conversations = facts, conversations


def facts(engine: Engine, bin_seconds: int, scans: Sequence[rawscan.RawScan] = (),
          partials: Partials | None = None) -> list[dict[str, Any]]:
    """``facts_sql`` at ``bin_seconds`` over the counted rows (or their ``partials``) and the scanned files."""
    if partials is None:
        rows = engine.query(facts_sql(engine.dialect, bin_seconds)).to_pylist()
    elif partials.facts is None:
        rows = []
    else:
        rows = engine.query(rebin_sql(f"SELECT * FROM {partials.facts}", bin_seconds)).to_pylist()
    return rows + scan_facts(engine, scans, bin_seconds)


def conversations_sql() -> str:
    """Flows per exact (source, destination): every talker list is re-aggregated from this, not the rows."""
    cols = "src_family, src_hi, src_lo, dst_family, dst_hi, dst_lo"
    return (
        f"SELECT {cols}, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM counted "
        f"WHERE source <> '{SOURCE_ALB}' AND (log_status IS NULL OR log_status = 'OK') GROUP BY {cols}"
    )


def _prefix_keys(d: Dialect, sides: tuple[str, ...], length4: int, length6: int) -> list[str]:
    keys: list[str] = []
    for s in sides:
        hi, lo = _half_masks(d, s, length4, length6)
        keys += [f"{s}_family", f"{hi} AS {s}_hi", f"{lo} AS {s}_lo"]
    return keys


def _level_sql(d: Dialect, table: str, sides: tuple[str, ...], length4: int, length6: int,
               where: str = "TRUE", count: str = "sum(flows)") -> str:
    """Re-aggregate ``table`` on the prefixes of each side (IPv4 /length4, IPv6 /length6)."""
    keys = _prefix_keys(d, sides, length4, length6)
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    return (
        f"SELECT {', '.join(keys)}, {count} AS flows, sum(packets) AS packets, sum(bytes) AS bytes "
        f"FROM {table} WHERE {where} GROUP BY {group}"
    )


SAMPLE_CONVERSATIONS = 10_000


def _pair_level_sql(engine: Engine, level: str, length4: int, length6: int, top: int) -> str:
    """Pairs of prefixes, aggregated from only the conversations whose two prefixes could rank.

    A pair of prefixes carries at most the bytes of its source prefix as a source (and of its
    destination prefix as a destination), so a pair among the ``top`` largest needs both at or
    above the ``top``-th largest pair total. A floor under that total comes from the largest
    conversations alone (``talk_pair_largest``): their sums per pair of prefixes only grow with the rest. Every pair that
    can rank is still aggregated whole, so the result's top rows are exact, ties included.
    """
    d = engine.dialect
    full = _level_sql(d, "talk_pair", ("src", "dst"), length4, length6)
    sample = _level_sql(d, "talk_pair_largest", ("src", "dst"), length4, length6)
    floor = engine.query(f"SELECT bytes FROM ({sample}) s WHERE bytes IS NOT NULL ORDER BY bytes DESC "
                         f"LIMIT 1 OFFSET {top - 1}").column("bytes").to_pylist()
    if not floor:
        return full  # fewer pairs of prefixes than places: nothing to prune
    keys = _prefix_keys(d, ("src", "dst"), length4, length6)
    joins = " ".join(
        f"JOIN (SELECT {s}_family AS f, {s}_hi AS h, {s}_lo AS l FROM talk_{role}_{level} WHERE bytes >= {int(floor[0])}) "
        f"{s}_ok ON k.{s}_family = {s}_ok.f AND k.{s}_hi = {s}_ok.h AND k.{s}_lo = {s}_ok.l"
        for s, role in (("src", "source"), ("dst", "destination"))
    )
    cols = "k.src_family, k.src_hi, k.src_lo, k.dst_family, k.dst_hi, k.dst_lo"
    return (
        f"SELECT {cols}, sum(k.flows) AS flows, sum(k.packets) AS packets, sum(k.bytes) AS bytes FROM "
        f"(SELECT {', '.join(keys)}, flows, packets, bytes FROM talk_pair) k {joins} GROUP BY {cols}"
    )


def _top_sql(table: str, sides: tuple[str, ...], top: int, measure: str = "bytes") -> str:
    order = ", ".join(f"{s}_family, {s}_hi, {s}_lo" for s in sides)
    return f"SELECT * FROM {table} ORDER BY {measure} DESC, {order} LIMIT {top}"


def _keys(table: pa.Table, side: str, length4: int, length6: int) -> list[str | None]:
    return prefix_text(
        table.column(f"{side}_family").combine_chunks(), table.column(f"{side}_hi").combine_chunks(),
        table.column(f"{side}_lo").combine_chunks(), length4, length6,
    )


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def run(engine: Engine, options: Options = Options(), scans: Sequence[rawscan.RawScan] = (),
        partials: Partials | None = None) -> dict[str, Any]:
    """Every report section from one engine; the report module adds inputs and rejections.

    ``flows`` holds the rows read record by record; ``scans`` are files the engine aggregated
    itself (``rawscan``). Every section but the ALB figures is a sum, so both add up. With
    ``partials`` (follow mode) the rows' sums come from there and ``counted`` is the caller's.
    """
    d = engine.dialect
    if partials is None:
        duplicates = prepare(engine)
        span = engine.query(f"SELECT min(start) AS first, max({d.quote('end')}) AS last FROM counted").to_pylist()[0]
    else:
        duplicates, span = partials.duplicates, dict(partials.span)
    for scan in scans:
        span = _wider(span, {"first": scan.first, "last": scan.last})
    size = options.bin_seconds or choose_bin(span["first"], span["last"])
    row_facts = facts(engine, size, partials=partials)
    all_facts = row_facts + scan_facts(engine, scans, size)
    kind_facts = row_facts + [f for scan in scans for f in engine.query(rawscan.kind_facts_sql(scan)).to_pylist()]
    sections: dict[str, Any] = {}
    sections["summary"] = _summary(all_facts, duplicates, span)
    sections["adoption"] = _adoption(all_facts)
    sections["actions"] = _actions(all_facts)
    sections["protocols"] = _protocols(all_facts)
    sections["address_types"] = _address_types(kind_facts)
    sections["trends"] = _trends(all_facts, size)
    sections["top_talkers"] = _top_talkers(engine, options, scans, partials)
    sections["alb"] = _alb(engine, options)
    return sections


def scan_facts(engine: Engine, scans: Sequence[rawscan.RawScan], bin_seconds: int) -> list[dict[str, Any]]:
    """The scanned files' rows of ``facts_sql`` (bins of ``bin_seconds``, a multiple of their 60 s bins)."""
    return [f for scan in scans for f in engine.query(rawscan.facts_sql(scan, bin_seconds)).to_pylist()]


def prepare(engine: Engine) -> int:
    """The ``counted`` view (flow-direction duplicates removed) every analysis and detection reads; how many were removed."""
    engine.materialize("duplicates", dedup_sql(engine.dialect))
    duplicates = _int(engine.query("SELECT count(*) AS n FROM duplicates").column("n")[0].as_py())
    engine.view("counted", counted_sql(duplicates > 0))
    return duplicates


def _wider(span: dict[str, Any], epochs: dict[str, Any]) -> dict[str, Any]:
    """The span of rows (timestamps) widened by a scanned file's span (epoch seconds)."""
    out = dict(span)
    for key, pick in (("first", min), ("last", max)):
        if epochs[key] is not None:
            moment = datetime.fromtimestamp(int(epochs[key]), UTC)
            out[key] = moment if out[key] is None else pick(out[key], moment)
    return out


def _is_flow(row: dict[str, Any]) -> bool:
    return row["source"] != SOURCE_ALB and row["log_status"] in (None, "OK")


def _summary(facts: list[dict[str, Any]], duplicates: int, span: dict[str, Any]) -> dict[str, Any]:
    flows = [r for r in facts if _is_flow(r)]
    requests = [r for r in facts if r["source"] == SOURCE_ALB]
    status: dict[str, int] = {}
    sources: dict[str, int] = {}
    for r in facts:
        sources[r["source"]] = sources.get(r["source"], 0) + r["records"]
        if r["source"] != SOURCE_ALB and r["log_status"] not in (None, "OK"):
            status[r["log_status"]] = status.get(r["log_status"], 0) + r["records"]
    return {
        "records": sum(r["records"] for r in facts),
        "flows": sum(r["records"] for r in flows),
        "requests": sum(r["records"] for r in requests),
        "packets": sum(_int(r["packets"]) for r in flows),
        "bytes": sum(_int(r["bytes"]) for r in flows),
        "request_bytes": sum(_int(r["bytes"]) for r in requests),
        "status_rows": dict(sorted(status.items())),
        "duplicates_removed": duplicates,
        "by_source": dict(sorted(sources.items())),
        "first_seen": _iso(span["first"]),
        "last_seen": _iso(span["last"]),
    }


def _by_class(rows: Iterable[dict[str, Any]], measure: str) -> dict[str, Any]:
    totals = {c: 0 for c in (*CLASSES, "unknown")}
    for r in rows:
        value = r["records"] if measure == "records" else _int(r[measure])
        totals[r["traffic_class"] or "unknown"] += value
    known = sum(totals[c] for c in CLASSES)
    return {
        **totals,
        "ipv6_share": _share(totals[TRAFFIC_IPV6] + totals[TRAFFIC_NAT64], known),
        "native_ipv6_share": _share(totals[TRAFFIC_IPV6], known),
        "nat64_share": _share(totals[TRAFFIC_NAT64], known),
    }


def _adoption(facts: list[dict[str, Any]]) -> dict[str, Any]:
    flows = [r for r in facts if _is_flow(r)]
    requests = [r for r in facts if r["source"] == SOURCE_ALB]
    return {
        "flows": _by_class(flows, "records"),
        "packets": _by_class(flows, "packets"),
        "bytes": _by_class(flows, "bytes"),
        "requests": _by_class(requests, "records"),
        "request_bytes": _by_class(requests, "bytes"),
    }


def _grouped(rows: Iterable[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        k = tuple(r[c] for c in key)
        entry = out.setdefault(k, {**dict(zip(key, k, strict=True)), "flows": 0, "packets": 0, "bytes": 0})
        entry["flows"] += r["records"]
        entry["packets"] += _int(r["packets"])
        entry["bytes"] += _int(r["bytes"])
    return sorted(out.values(), key=lambda e: (-e["flows"], tuple(str(e[c]) for c in key)))


def _actions(facts: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [r for r in facts if _is_flow(r)]
    by_action = _grouped(rows, ("action",))
    return {
        "by_action": by_action,
        "by_action_and_class": _grouped(({**r, "traffic_class": r["traffic_class"] or "unknown"} for r in rows),
                                        ("action", "traffic_class")),
    }


def _protocols(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [r for r in facts if _is_flow(r)]
    out = _grouped(rows, ("protocol",))
    per_class = _grouped(({**r, "traffic_class": r["traffic_class"] or "unknown"} for r in rows),
                         ("protocol", "traffic_class"))
    for entry in out:
        entry["name"] = protocol_name(entry["protocol"])
        entry["flows_by_class"] = {e["traffic_class"]: e["flows"] for e in per_class if e["protocol"] == entry["protocol"]}
    return out


def _address_types(facts: list[dict[str, Any]]) -> dict[str, Any]:
    flows = [r for r in facts if _is_flow(r)]
    requests = [r for r in facts if r["source"] == SOURCE_ALB]
    return {
        "flow_sources": _grouped(flows, ("src_kind",)),
        "flow_destinations": _grouped(flows, ("dst_kind",)),
        "request_clients": _grouped(requests, ("src_kind",)),
    }


def choose_bin(first: datetime | None, last: datetime | None) -> int:
    """The smallest standard bin that keeps the series under MAX_TREND_BINS over the records' own span."""
    if first is None or last is None:
        return TREND_BINS[0]
    span = max(1, int((last - first).total_seconds()))
    return next((b for b in TREND_BINS if span / b <= MAX_TREND_BINS), TREND_BINS[-1])


def _trends(facts: list[dict[str, Any]], size: int) -> dict[str, Any]:
    bins: dict[tuple[int, str], dict[str, Any]] = {}
    for r in facts:
        if r["bin"] is None or r["log_status"] not in (None, "OK"):
            continue
        kind = "requests" if r["source"] == SOURCE_ALB else "flows"
        entry = bins.setdefault((int(r["bin"]), kind), {
            "start": _iso(datetime.fromtimestamp(int(r["bin"]), UTC)), "kind": kind,
            **{c: {"records": 0, "packets": 0, "bytes": 0} for c in (*CLASSES, "unknown")},
        })
        cell = entry[r["traffic_class"] or "unknown"]
        cell["records"] += r["records"]
        cell["packets"] += _int(r["packets"])
        cell["bytes"] += _int(r["bytes"])
    series = [bins[k] for k in sorted(bins)]
    for entry in series:
        known = sum(entry[c]["records"] for c in CLASSES)
        entry["ipv6_share"] = _share(entry[TRAFFIC_IPV6]["records"] + entry[TRAFFIC_NAT64]["records"], known)
    return {"bin_seconds": size, "bins": series}


def _top_talkers(engine: Engine, options: Options, scans: Sequence[rawscan.RawScan],
                 partials: Partials | None = None) -> dict[str, Any]:
    d = engine.dialect
    roles = {"source": ("src",), "destination": ("dst",), "pair": ("src", "dst")}
    out: dict[str, Any] = {}
    rows = _int(engine.query("SELECT count(*) AS n FROM counted").column("n")[0].as_py()) if scans else 0
    if partials is not None and not scans:  # kept merged, one row per pair (an empty start: no row yet)
        engine.view("conversations", f"SELECT * FROM {partials.conversations}" if partials.conversations
                    else f"SELECT * FROM ({conversations_sql()}) none WHERE FALSE")
    elif len(scans) == 1 and scans[0].canonical and rows == 0:  # already one row per pair of values
        engine.view("conversations", rawscan.conversations_sql(scans[0]))
    elif scans:  # the rows' conversations and each file's pairs, merged by 128-bit value
        parts = " UNION ALL ".join([conversations_sql(), *(rawscan.conversations_sql(s) for s in scans)])
        cols = "src_family, src_hi, src_lo, dst_family, dst_hi, dst_lo"
        engine.materialize("conversations", f"SELECT {cols}, CAST(sum(flows) AS BIGINT) AS flows, "
                                            f"sum(packets) AS packets, sum(bytes) AS bytes FROM ({parts}) merged "
                                            f"GROUP BY {cols}")
    else:
        engine.materialize("conversations", conversations_sql())
    for role, sides in roles.items():
        stage = f"talk_{role}"
        present = " AND ".join(f"{s}_family IS NOT NULL" for s in sides)
        if len(sides) == 2:  # conversations are already grouped by the pair
            engine.view(stage, f"SELECT * FROM conversations WHERE {present}")
        else:
            engine.materialize(stage, _level_sql(d, "conversations", sides, 32, 128, where=present))
        out[role] = {}
        for label, length4, length6 in LEVELS:
            if label != "address" and len(sides) == 2:  # after both sides' levels, which bound it
                if label == LEVELS[1][0]:
                    engine.materialize("talk_pair_largest",
                                       f"SELECT * FROM talk_pair ORDER BY bytes DESC LIMIT {SAMPLE_CONVERSATIONS}")
                stage = f"talk_{role}_{label[1:]}"
                engine.materialize(stage, _pair_level_sql(engine, label[1:], length4, length6, options.top))
            elif label != "address":  # each prefix level re-aggregates the finer one, not the rows
                finer, stage = stage, f"talk_{role}_{label[1:]}"
                engine.materialize(stage, _level_sql(d, finer, sides, length4, length6))
            table = engine.query(_top_sql(stage, sides, options.top))
            keys = {s: _keys(table, s, length4, length6) for s in sides}
            rows = table.to_pylist()
            out[role][label] = [
                {
                    **({"key": keys[sides[0]][i]} if len(sides) == 1 else
                       {"source": keys["src"][i], "destination": keys["dst"][i]}),
                    "family": rows[i][f"{sides[0]}_family"],
                    "flows": _int(rows[i]["flows"]), "packets": _int(rows[i]["packets"]), "bytes": _int(rows[i]["bytes"]),
                }
                for i in range(len(rows))
            ]
    return out


def _alb(engine: Engine, options: Options) -> dict[str, Any]:
    d = engine.dialect
    ok = "NOT dispatch_failed"
    table = engine.query(
        "SELECT coalesce(CAST(traffic_class AS STRING), 'unknown') AS traffic_class, count(*) AS requests, "
        "sum(CASE WHEN dispatch_failed THEN 1 ELSE 0 END) AS failed_dispatch, "
        "sum(CASE WHEN elb_status_code BETWEEN 400 AND 499 THEN 1 ELSE 0 END) AS status_4xx, "
        "sum(CASE WHEN elb_status_code BETWEEN 500 AND 599 THEN 1 ELSE 0 END) AS status_5xx, "
        f"avg(CASE WHEN {ok} THEN {LATENCY} END) AS mean, "
        + ", ".join(f"{d.quantile(f'CASE WHEN {ok} THEN {LATENCY} END', q)} AS p{int(q * 100)}"
                    for q in (0.5, 0.95, 0.99))
        + f", avg(CASE WHEN {ok} THEN target_processing_time END) AS target_mean "
        f"FROM counted WHERE source = '{SOURCE_ALB}' GROUP BY 1 ORDER BY 1"
    )
    per_class = []
    for r in table.to_pylist():
        n = r["requests"]
        per_class.append({
            "traffic_class": r["traffic_class"], "requests": n,
            "failed_dispatch": _int(r["failed_dispatch"]), "failed_dispatch_rate": _share(_int(r["failed_dispatch"]), n),
            "status_4xx": _int(r["status_4xx"]), "rate_4xx": _share(_int(r["status_4xx"]), n),
            "status_5xx": _int(r["status_5xx"]), "rate_5xx": _share(_int(r["status_5xx"]), n),
            "latency_seconds": {k: None if r[k] is None else round(r[k], 6) for k in ("mean", "p50", "p95", "p99")},
            "target_processing_mean_seconds": None if r["target_mean"] is None else round(r["target_mean"], 6),
        })
    histogram = engine.query(
        "SELECT coalesce(CAST(traffic_class AS STRING), 'unknown') AS traffic_class, "
        f"floor(log10(greatest({LATENCY}, 0.0001)) * 10) AS bucket, count(*) AS requests FROM counted "
        f"WHERE source = '{SOURCE_ALB}' AND {ok} GROUP BY 1, 2 ORDER BY 1, 2"
    ).to_pylist()
    engine.materialize("alb_clients_64", _level_sql(
        d, "counted", ("src",), 24, 64, where=f"source = '{SOURCE_ALB}' AND src_family = 6", count="count(*)",
    ))
    top = engine.query(_top_sql("alb_clients_64", ("src",), options.top, measure="flows"))
    keys = _keys(top, "src", 24, 64)
    return {
        "per_class": per_class,
        "latency_histogram": [
            {"traffic_class": h["traffic_class"], "from_seconds": round(10 ** (h["bucket"] / 10), 6),
             "to_seconds": round(10 ** ((h["bucket"] + 1) / 10), 6), "requests": h["requests"]}
            for h in histogram
        ],
        "top_ipv6_clients_by_64": [
            {"prefix": keys[i], "requests": _int(r["flows"]), "bytes": _int(r["bytes"])} for i, r in enumerate(top.to_pylist())
        ],
    }
