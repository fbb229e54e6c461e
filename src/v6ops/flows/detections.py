"""Threat detections, defined once: SQL over the counted flows (rows, or the C reader's bins), windows on event time.

Like ``analyses``, nothing here knows which engine runs it: each rule is SQL text over the stage
``detect_base`` spelled with the engine's ``Dialect``, plus Python over the few breaching windows.
DuckDB and Spark therefore raise the same events from the same rows.

``detect_base`` is weighted: each row stands for ``flows`` counted flows of one source,
destination, protocol, port and start ``t``. A flow read row by row is a row of weight 1 at its
own start; a file the C reader aggregated (``rawscan``, ``RawScan.flows``) gives one row per
(source, destination, protocol, port, REJECT or not, internet-facing or not) and time bin, ``t``
the bin's start. The bin (``detect_bins``) divides every rule's slide and bins are aligned to epoch
multiples, as window starts are, so every window is an exact union of bins: the rules count
``sum(flows)`` where they would count rows, distinct values are the same over bins as over rows,
and both paths raise byte-identical events (tests/flows/test_detect_bins.py).

Windows are on the records' own ``start`` (never the clock): a rule's window of ``window`` seconds
slides by ``slide`` seconds (``slide == window``: tumbling); window starts are epoch multiples of
``slide``, so the same rows give the same windows whatever order or speed they arrive in. Each
rule is keyed by source address or by source /64 (RFC 8981 privacy addresses rotate inside one
/64, so a scan spread over many of them is one /64 source; /64 rules read IPv6 sources only).

Consecutive or overlapping breaching windows of one rule and one source are one *episode*, one
event (``Detection``) with its evidence: first and last window, windows breached, the peak value
and sample targets. Episodes of one kind that overlap in time from the same source (or from an
address inside a /64 episode's prefix) are one event, not one per rule or key
(``merge_overlapping``).
"""

from __future__ import annotations

import functools
import hashlib
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from v6ops.addr import Address, Prefix, format_address
from v6ops.addr.registry import ROWS, UNMATCHED_KIND
from v6ops.events import EventType, SecurityEvent, Severity
from v6ops.flows.analyses import Dialect, Engine, _half_masks
from v6ops.flows.schema import SOURCE_ALB

Kind = Literal["port_scan", "address_scan", "high_volume", "volume_baseline", "high_rejection_rate", "suspicious_source"]
KeyLevel = Literal["address", "/64"]

# Seed 002 (IPv6SecurityMonitor.detect_security_threats): severity per detection type, and the
# shared event model's severity for each (high -> error, medium -> warning, low -> info).
SEVERITY: dict[str, str] = {
    "port_scan": "high", "address_scan": "high", "high_volume": "medium", "volume_baseline": "medium",
    "high_rejection_rate": "low", "suspicious_source": "medium",
}
EVENT_SEVERITY = {"high": Severity.ERROR, "medium": Severity.WARNING, "low": Severity.INFO}
EVENT_TYPE = {
    "port_scan": EventType.PORT_SCAN, "address_scan": EventType.ADDRESS_SCAN, "high_volume": EventType.HIGH_VOLUME,
    "volume_baseline": EventType.HIGH_VOLUME, "high_rejection_rate": EventType.REJECTION_RATE,
    "suspicious_source": EventType.SUSPICIOUS_SOURCE,
}
# Transport protocols with ports: TCP 6, UDP 17, DCCP 33, SCTP 132 (IANA protocol numbers).
PORT_PROTOCOLS = (6, 17, 33, 132)
SAMPLES = 10


def _never_a_source() -> tuple[str, ...]:
    """Kinds no internet packet may carry as its source, from the address core's registry tables.

    A kind qualifies when every registry row of that kind is not a valid source or not forwardable
    (RFC 6890 section 2.2.2 "Source"/"Forwardable"): loopback, unspecified, link-local, multicast,
    documentation, ... plus IPv6 outside every row and 2000::/3 (unassigned by IANA, RFC 4291 2.4).
    """
    kinds: dict[str, bool] = {}
    for rows in ROWS.values():
        for row in rows:
            bad = row.source is False or row.forwardable is False
            kinds[row.kind] = kinds.get(row.kind, True) and bad
    return tuple(sorted({k for k, bad in kinds.items() if bad} | {UNMATCHED_KIND[6]}))


def _not_global() -> tuple[str, ...]:
    """Kinds that are valid inside a network but bogons from the internet (globally reachable False)."""
    kinds: dict[str, bool] = {}
    for rows in ROWS.values():
        for row in rows:
            kinds[row.kind] = kinds.get(row.kind, True) and row.globally_reachable is False
    return tuple(sorted(k for k, bad in kinds.items() if bad and k not in NEVER_A_SOURCE))


NEVER_A_SOURCE = _never_a_source()
NOT_GLOBAL = _not_global()


class Rule(BaseModel):
    """One detection rule. The defaults are the seed's thresholds (002, ``alert_threshold``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    kind: Kind
    key: KeyLevel = "address"
    window: int = Field(default=60, ge=1, description="seconds of event time per window")
    slide: int | None = Field(default=None, ge=1, description="seconds between window starts; None: tumbling")
    threshold: float = Field(ge=0, description="value the window must exceed")
    prefix6: int = Field(default=64, ge=1, le=128, description="address_scan: destinations counted inside this IPv6 prefix")
    prefix4: int = Field(default=24, ge=1, le=32, description="address_scan: ... and this IPv4 prefix")
    measure: Literal["bytes", "packets"] = "bytes"
    min_share: float = Field(default=0.0, ge=0, le=1, description="high_rejection_rate: rejected / flows at least")
    history: int = Field(default=12, ge=1, description="volume_baseline: previous windows forming the baseline")
    min_history: int = Field(default=3, ge=1, description="volume_baseline: windows with traffic needed before judging")
    floor: float = Field(default=0, ge=0, description="volume_baseline: the window must also carry at least this much")
    severity: Literal["high", "medium", "low"] | None = None

    @property
    def step(self) -> int:
        return self.slide or self.window

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.window % self.step:
            raise ValueError(f"rule {self.name}: window {self.window} is not a multiple of slide {self.step}")
        if self.window // self.step > 288:
            raise ValueError(f"rule {self.name}: window/slide is {self.window // self.step}, at most 288")
        if self.kind == "volume_baseline" and self.step != self.window:
            raise ValueError(f"rule {self.name}: a baseline compares tumbling windows (no slide)")
        if self.kind == "suspicious_source" and self.key != "address":
            raise ValueError(f"rule {self.name}: suspicious_source is judged per address")
        return self


def default_rules() -> tuple[Rule, ...]:
    """The seed's thresholds per minute, a slow variant over an hour (flow-dscan's 64), and the /64 keys."""
    rules: list[Rule] = []
    keys: tuple[tuple[KeyLevel, str], ...] = (("address", ""), ("/64", "-64"))
    for key, suffix in keys:
        rules += [
            Rule(name=f"port-scan{suffix}", kind="port_scan", key=key, window=60, threshold=50),
            Rule(name=f"port-scan-slow{suffix}", kind="port_scan", key=key, window=3600, slide=300, threshold=64),
            Rule(name=f"address-scan{suffix}", kind="address_scan", key=key, window=60, threshold=50),
            Rule(name=f"address-scan-slow{suffix}", kind="address_scan", key=key, window=3600, slide=300,
                 threshold=64),
            Rule(name=f"address-scan-48{suffix}", kind="address_scan", key=key, window=3600, slide=300,
                 threshold=64, prefix6=48, prefix4=16),
            Rule(name=f"high-volume{suffix}", kind="high_volume", key=key, window=60, threshold=10_000_000),
            Rule(name=f"volume-baseline{suffix}", kind="volume_baseline", key=key, window=300, threshold=10,
                 history=12, min_history=3, floor=20_000_000),
            Rule(name=f"high-rejection-rate{suffix}", kind="high_rejection_rate", key=key, window=60, threshold=20,
                 min_share=0.5),
        ]
    rules.append(Rule(name="suspicious-source", kind="suspicious_source", window=3600, threshold=0))
    return tuple(rules)


class DetectionConfig(BaseModel):
    """Rules plus the operator's exemptions (a lab's documentation space, say) and internet-facing ENIs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...] = Field(default_factory=default_rules)
    exempt: tuple[str, ...] = Field(default=(), description="source prefixes never reported (any rule)")
    internet_facing: tuple[str, ...] = Field(
        default=(), description="interface ids facing the internet: sources of non-global kinds (private, ULA) are bogons there",
    )
    samples: int = Field(default=SAMPLES, ge=1, le=100)

    @field_validator("exempt")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            Prefix.parse(text)  # raises PrefixValueError naming the text
        return value

    @field_validator("rules")
    @classmethod
    def _unique(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        names = [r.name for r in value]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names repeat: {sorted({n for n in names if names.count(n) > 1})}")
        return value

    def exempt_prefixes(self) -> list[Prefix]:
        return [Prefix.parse(text) for text in self.exempt]


@dataclass(frozen=True)
class Breach:
    """One window of one rule over its threshold."""

    key: tuple[int, int, int]  # family, hi, lo of the source (address or /64)
    target: tuple[Any, ...]  # what the rule counts within: a destination, a destination prefix, or ()
    start: int  # window start, epoch seconds
    value: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Detection:
    """One episode: consecutive breaching windows of one rule and one source, with its evidence."""

    rule: str
    kind: str
    key_level: str
    source: str  # the address, or the /64 prefix
    severity: str
    first_window: int
    last_window_end: int
    windows: int
    peak: float
    peak_window: int
    threshold: float
    evidence: dict[str, Any]

    @property
    def detection_id(self) -> str:
        """Stable across replays: the rule, the source and where the episode starts in event time."""
        digest = hashlib.sha256(f"{self.rule}|{self.source}|{self.first_window}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=5))

    def to_event(self) -> SecurityEvent:
        """The shared security event. Its ``event_id`` is the detection id: an ongoing episode sent
        again with more windows is the same event, updated (``details.windows``, ``last_seen``)."""
        details = {k: v for k, v in self.as_dict().items() if k not in ("detection_id", "severity", "source")}
        network = self.source.split("/")[0]
        if "/" in self.source:
            details["source_prefix"] = self.source
        return SecurityEvent(
            timestamp=datetime.fromtimestamp(self.first_window, UTC), event_id=self.detection_id, vm_id="",
            event_type=EVENT_TYPE[self.kind], severity=EVENT_SEVERITY.get(self.severity, Severity.WARNING),
            source_ip=network, source="flows.detect", threat_indicators=(self.kind, self.rule),
            description=f"{self.kind.replace('_', ' ')} from {self.source}: peak {self.peak:g} over "
                        f"{self.threshold:g} in a {self.evidence['window_seconds']} s window",
            details=details,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "detection_id": self.detection_id,
            "rule": self.rule,
            "kind": self.kind,
            "key": self.key_level,
            "source": self.source,
            "severity": self.severity,
            "first_seen": _iso(self.first_window),
            "last_seen": _iso(self.last_window_end),
            "windows": self.windows,
            "peak": self.peak,
            "peak_window": _iso(self.peak_window),
            "threshold": self.threshold,
            "evidence": self.evidence,
        }


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


BASE_COLUMNS = ("src_family", "src_hi", "src_lo", "dst_family", "dst_hi", "dst_lo", "dst_port", "protocol", "packets",
                "bytes", "rejected", "src_kind", "facing", "t", "flows")


def base_sql(d: Dialect, internet_facing: Sequence[str] = (), binned: Sequence[str] = ()) -> str:
    """Counted flows (status rows and ALB requests are not flows), weighted: the rows of ``counted``
    (weight 1, ``t`` their start in epoch seconds) and the scanned files' flows aggregates ``binned``
    (``rawscan.valued_flows``). ``facing``: the flow came in on one of ``internet_facing``."""
    facing = (f"CASE WHEN CAST(interface_id AS STRING) IN ({', '.join(map(_literal, internet_facing))}) THEN 1 ELSE 0 END"
              if internet_facing else "0")
    rows = (
        "SELECT src_family, src_hi, src_lo, dst_family, dst_hi, dst_lo, dst_port, protocol, packets, bytes, "
        "CAST(CASE WHEN CAST(action AS STRING) = 'REJECT' THEN 1 ELSE 0 END AS BIGINT) AS rejected, "
        f"CAST(src_kind AS STRING) AS src_kind, CAST({facing} AS BIGINT) AS facing, "
        f"CAST({d.epoch('start')} AS BIGINT) AS t, CAST(1 AS BIGINT) AS flows FROM counted "
        f"WHERE source <> '{SOURCE_ALB}' AND (log_status IS NULL OR CAST(log_status AS STRING) = 'OK') "
        "AND src_family IS NOT NULL AND start IS NOT NULL"
    )
    columns = ", ".join("CAST(src_kind AS STRING) AS src_kind" if c == "src_kind" else c for c in BASE_COLUMNS)
    return " UNION ALL ".join([rows, *(f"SELECT {columns} FROM {name}" for name in binned)])


def detect_bins(config: DetectionConfig) -> int:
    """Seconds per bin of the scanned files' flows aggregate: the gcd of every rule's slide, so each
    rule's windows (starts at epoch multiples of its slide) are unions of whole bins."""
    return math.gcd(*(rule.step for rule in config.rules)) if config.rules else 60


def _rows(rule: Rule) -> str:
    """The rows a rule reads: all counted flows, or IPv6 sources only for /64 keys (IPv4 keys stay per address)."""
    return "detect_base" if rule.key == "address" else "(SELECT * FROM detect_base WHERE src_family = 6) r"


def _key_columns(d: Dialect, rule: Rule) -> list[str]:
    """The rule's source key as (k_family, k_hi, k_lo): the address, or its /64."""
    if rule.key == "address":
        return ["src_family AS k_family", "src_hi AS k_hi", "src_lo AS k_lo"]
    hi, lo = _half_masks(d, "src", 32, 64)
    return ["src_family AS k_family", f"{hi} AS k_hi", f"{lo} AS k_lo"]


KEY = ["k_family", "k_hi", "k_lo"]
FLOWS = "CAST(sum(flows) AS BIGINT)"  # counted flows of a group of weighted rows


def _offsets(count: int) -> str:
    """A relation of window offsets 0..count-1 (column ``j``), as an inline VALUES table."""
    return "(VALUES " + ", ".join(f"({j})" for j in range(count)) + ") AS o(j)"


def _candidates(inner: str, group: list[str], having: str, distinct: list[str] | None = None) -> str:
    """``inner``'s rows of the groups whose whole-data total passes ``having``.

    A window holds part of a group's rows, so its sum of non-negative values (or its distinct
    count) is at most the group's total: a group below the threshold over all the data is below it
    in every window. Dropping those groups first is exact and spares spreading their rows over
    ``window/slide`` windows (almost every group, in benign traffic).
    """
    cols = ", ".join(group)
    source = f"(SELECT DISTINCT {cols}, {', '.join(distinct)} FROM ({inner}) a)" if distinct else f"({inner})"
    on = " AND ".join(f"x.{c} = c.{c}" for c in group)
    return (f"SELECT x.* FROM ({inner}) x JOIN (SELECT {cols} FROM {source} t GROUP BY {cols} HAVING {having}) c "
            f"ON {on}")


def _windowed(rule: Rule, inner: str, group: list[str], measures: dict[str, str], prune: str | None = None) -> str:
    """``inner`` pre-aggregated per slide bin, then spread to each window containing the bin."""
    step, count = rule.step, rule.window // rule.step
    if prune is not None:
        inner = _candidates(inner, group, prune)
    cols = ", ".join(group)
    binned = f"SELECT {cols}, t - (t % {step}) AS b, " + ", ".join(f"{agg} AS {name}" for name, agg in measures.items())
    binned += f" FROM ({inner}) x GROUP BY {cols}, t - (t % {step})"
    if count == 1:
        return f"SELECT {cols}, b AS ws, " + ", ".join(measures) + f" FROM ({binned}) y"
    sums = ", ".join(f"sum({name}) AS {name}" for name in measures)
    return (f"SELECT {cols}, b - j * {step} AS ws, {sums} FROM ({binned}) y CROSS JOIN {_offsets(count)} "
            f"GROUP BY {cols}, b - j * {step}")


def _distinct_windowed(rule: Rule, inner: str, group: list[str], items: list[str]) -> str:
    """Distinct ``items`` per group and window, for the windows over ``threshold``: group, ``ws``, ``n``.

    Only groups with more than ``threshold`` over all the data are counted (``_candidates``). An
    item seen in slide bins b1 < b2 < ... lies in the windows starting at ``b - j * slide`` (j below
    ``window / slide``); bin b adds those after its previous bin, a range of starts. So each (item,
    bin) gives two events, +1 where its new range of windows starts and -1 after it ends, and a
    running sum of the events per group is its distinct count from that window start to the next
    event: the count per window without repeating every item in every window holding it. Only the
    ranges over the threshold are spread to their windows (at most ``window / slide`` each: an
    item's range is that long, and every bin holding an item ends a range).
    """
    inner = _candidates(inner, group, f"count(*) > {rule.threshold}", distinct=items)
    step, count = rule.step, rule.window // rule.step
    cols, keys = ", ".join(group + items), ", ".join(group)
    binned = f"SELECT DISTINCT {cols}, t - (t % {step}) AS b FROM ({inner}) x"
    if count == 1:
        return (f"SELECT {keys}, ws, n FROM (SELECT {keys}, b AS ws, count(*) AS n FROM ({binned}) y "
                f"GROUP BY {keys}, b) z WHERE n > {rule.threshold}")
    lagged = f"SELECT {cols}, b, lag(b) OVER (PARTITION BY {cols} ORDER BY b) AS prev FROM ({binned}) y"
    first = f"CASE WHEN prev IS NULL OR prev < b - {count * step} THEN b - {(count - 1) * step} ELSE prev + {step} END"
    events = (f"SELECT {keys}, {first} AS pos, 1 AS d FROM ({lagged}) z UNION ALL "
              f"SELECT {keys}, b + {step} AS pos, -1 AS d FROM ({binned}) y")
    summed = f"SELECT {keys}, pos, sum(d) AS d FROM ({events}) e GROUP BY {keys}, pos"
    order = f"PARTITION BY {keys} ORDER BY pos"
    running = (f"SELECT {keys}, pos, CAST(sum(d) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS n, "
               f"lead(pos) OVER ({order}) AS next FROM ({summed}) s")
    return (f"SELECT {keys}, pos + j * {step} AS ws, n FROM ({running}) r CROSS JOIN {_offsets(count)} "
            f"WHERE n > {rule.threshold} AND pos + j * {step} < next")


def _target(d: Dialect, rule: Rule) -> tuple[list[str], list[str]]:
    """(columns of the target a rule counts within, SELECT expressions producing them)."""
    if rule.kind == "port_scan":
        return ["dst_family", "dst_hi", "dst_lo"], ["dst_family", "dst_hi", "dst_lo"]
    if rule.kind == "address_scan":
        hi, lo = _half_masks(d, "dst", rule.prefix4, rule.prefix6)
        return ["p_family", "p_hi", "p_lo"], ["dst_family AS p_family", f"{hi} AS p_hi", f"{lo} AS p_lo"]
    return [], []


def _scan_items(d: Dialect, rule: Rule) -> tuple[list[str], str, str]:
    """A scan rule's (distinct items it counts, their SELECT expressions, the rows' WHERE)."""
    if rule.kind == "port_scan":
        return (["port"], "protocol * 65536 + dst_port AS port",
                f"protocol IN ({', '.join(map(str, PORT_PROTOCOLS))}) AND dst_port IS NOT NULL AND dst_family IS NOT NULL")
    return ["dst_hi", "dst_lo"], "dst_hi, dst_lo", "dst_family IS NOT NULL"


VOLUME_KINDS = ("high_volume", "volume_baseline", "high_rejection_rate")


def shared_stage(rule: Rule) -> tuple[Any, ...] | None:
    """Rules that share one first stage: port scans and address scans per prefix length share
    their items per source address and bin (``scan_items_sql``), volume rules per key level their
    sums (``volume_sql``)."""
    if rule.kind == "port_scan":
        return ("port_scan",)
    if rule.kind == "address_scan":
        return ("address_scan", rule.prefix6, rule.prefix4)
    if rule.kind in VOLUME_KINDS:
        return ("volume", rule.key)
    return None


def shared_sql(d: Dialect, rule: Rule, sharing: Sequence[Rule]) -> str:
    """The first stage of ``rule``'s ``shared_stage`` for every rule of ``sharing``."""
    seconds = math.gcd(*(r.step for r in sharing))
    if rule.kind in VOLUME_KINDS:
        return volume_sql(d, rule, seconds)
    return scan_items_sql(d, rule, min(r.threshold for r in sharing), seconds)


def volume_sql(d: Dialect, rule: Rule, seconds: int) -> str:
    """Flows, bytes, packets and rejected flows per source key (of ``rule``'s level) and bin of
    ``seconds``, which divides the slide of every rule reading it: their windows are unions of these
    bins, so they window these sums instead of the rows (a busy source has one row a bin)."""
    key = _key_columns(d, rule)
    inner = f"SELECT {', '.join(key)}, t - (t % {seconds}) AS t, flows, bytes, packets, rejected FROM {_rows(rule)}"
    return (f"SELECT {', '.join(KEY)}, t, {FLOWS} AS flows, CAST(sum(bytes) AS BIGINT) AS bytes, "
            f"CAST(sum(packets) AS BIGINT) AS packets, CAST(sum(rejected) AS BIGINT) AS rejected FROM ({inner}) x "
            f"GROUP BY {', '.join(KEY)}, t")


def scan_items_sql(d: Dialect, rule: Rule, threshold: float, seconds: int) -> str:
    """Each distinct (source address, target, item, bin of ``seconds``) of the scan rules sharing
    ``rule``'s stage, for the targets with more than ``threshold`` distinct items from all sources
    over all the data: src_family, src_hi, src_lo, the target's columns, the items, ``t`` (the bin).

    A source key counts, in one window, at most the items its target saw from everyone over all
    the data, so a scan rule (and every rule of the same ``shared_stage`` with a threshold at least
    this one) can only breach on these targets: dropping the others first is exact, and in benign
    traffic (a handful of ports per server, a few hosts per /64) leaves almost nothing to window.
    ``seconds`` divides each sharing rule's slide, so their windows are unions of these bins and
    each rule (by address or by /64) counts distinct items over these rows as over the flows.
    """
    target, target_select = _target(d, rule)
    _, item_select, where = _scan_items(d, rule)
    cols = ", ".join(target)
    bound = (f"SELECT {cols} FROM (SELECT DISTINCT {', '.join(target_select)}, {item_select} FROM detect_base "
             f"WHERE {where}) a GROUP BY {cols} HAVING count(*) > {threshold}")
    rows = (f"SELECT src_family, src_hi, src_lo, {', '.join(target_select)}, {item_select}, t - (t % {seconds}) AS t "
            f"FROM detect_base WHERE {where}")
    on = " AND ".join(f"r.{c} = g.{c}" for c in target)
    return f"SELECT DISTINCT r.* FROM ({rows}) r JOIN ({bound}) g ON {on}"


def breach_sql(d: Dialect, rule: Rule, config: DetectionConfig, shared: str | None = None) -> str:
    """Every window of ``rule`` over its threshold: key, target, ``ws`` (window start), ``n`` (value), extras.

    ``shared``: the table of the rule's ``shared_sql`` (a scan rule's items per source address and bin, a volume
    rule's sums to read instead of the rows), or None to start from the rows.
    """
    key = _key_columns(d, rule)
    target, target_select = _target(d, rule)
    group = [*KEY, *target]
    if rule.kind in ("port_scan", "address_scan"):
        items, item_select, where = _scan_items(d, rule)
        inner = f"SELECT {', '.join(key + target_select)}, {item_select}, t FROM {_rows(rule)} WHERE {where}"
        if shared is not None:  # the stage's items per source address, target and bin (``scan_items_sql``)
            rows = shared if rule.key == "address" else f"(SELECT * FROM {shared} WHERE src_family = 6) r"
            inner = f"SELECT {', '.join(key + target + items)}, t FROM {rows}"
        return _distinct_windowed(rule, inner, group, items)
    inner = f"SELECT {', '.join(key)}, packets, bytes, rejected, flows, t FROM {_rows(rule)}"
    if shared is not None:
        inner = f"SELECT {', '.join(KEY)}, packets, bytes, rejected, flows, t FROM {shared}"
    if rule.kind == "suspicious_source":
        facing = ", ".join(_literal(i) for i in config.internet_facing)
        kinds = " OR ".join(filter(None, [
            f"src_kind IN ({', '.join(map(_literal, NEVER_A_SOURCE))})",
            f"(facing = 1 AND src_kind IN ({', '.join(map(_literal, NOT_GLOBAL))}))" if facing else "",
        ]))
        inner = (f"SELECT {', '.join(key)}, src_kind, t, packets, bytes, rejected, flows FROM {_rows(rule)} WHERE {kinds}")
        windows = _windowed(rule, inner, [*KEY, "src_kind"], {"flows": FLOWS, "bytes_": "sum(bytes)"})
        return f"SELECT {', '.join(KEY)}, src_kind, ws, flows AS n, bytes_ FROM ({windows}) w WHERE flows > {rule.threshold}"
    measures = {"flows": FLOWS, "bytes_": "sum(bytes)", "packets_": "sum(packets)", "rejected_": "sum(rejected)"}
    prune = {"high_volume": f"sum({rule.measure}) > {rule.threshold}",
             "high_rejection_rate": f"sum(rejected) > {rule.threshold}",
             "volume_baseline": f"sum({rule.measure}) >= {rule.floor}" if rule.floor > 0 else None}.get(rule.kind)
    windows = _windowed(rule, inner, KEY, measures, prune)
    if rule.kind == "high_volume":
        return f"SELECT *, {rule.measure}_ AS n FROM ({windows}) w WHERE {rule.measure}_ > {rule.threshold}"
    if rule.kind == "high_rejection_rate":
        return (f"SELECT *, rejected_ AS n FROM ({windows}) w WHERE rejected_ > {rule.threshold} "
                f"AND rejected_ >= {rule.min_share} * flows")
    # volume_baseline: the window against the mean of the key's previous ``history`` windows (silent ones count 0)
    frame = f"PARTITION BY {', '.join(KEY)} ORDER BY ws RANGE BETWEEN {rule.history * rule.window} PRECEDING AND " \
            f"{rule.window} PRECEDING"
    baselined = (f"SELECT *, coalesce(sum({rule.measure}_) OVER ({frame}), 0) AS prior, "
                 f"count(*) OVER ({frame}) AS prior_windows FROM ({windows}) w")
    return (f"SELECT *, {rule.measure}_ AS n FROM ({baselined}) v WHERE prior_windows >= {rule.min_history} "
            f"AND {rule.measure}_ >= {rule.floor} AND {rule.measure}_ > {rule.threshold} * prior / {rule.history}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def samples_sql(d: Dialect, rule: Rule, breaches: str, limit: int) -> str | None:
    """Up to ``limit`` sample targets per breaching window (smallest values first, so every engine agrees)."""
    key = _key_columns(d, rule)
    if rule.kind in ("port_scan", "address_scan"):
        match, target_select = _target(d, rule)
        item, item_select, where = _scan_items(d, rule)
        inner = f"SELECT {', '.join(key + target_select)}, {item_select}, t FROM {_rows(rule)} WHERE {where}"
    elif rule.kind in VOLUME_KINDS:
        item, inner = ["dst_family", "dst_hi", "dst_lo"], \
            f"SELECT {', '.join(key)}, dst_family, dst_hi, dst_lo, t FROM {_rows(rule)} WHERE dst_family IS NOT NULL"
        match = []
    else:
        return None
    hit = _in_windows(rule, inner, breaches, [*KEY, *match], item)
    part = ", ".join([*KEY, *match, "ws"])
    ranked = f"SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY {', '.join(item)}) AS r FROM ({hit}) h"
    return f"SELECT * FROM ({ranked}) s WHERE r <= {limit}"


def _in_windows(rule: Rule, inner: str, breaches: str, match: list[str], items: list[str]) -> str:
    """Each distinct ``items`` of ``inner`` once per window of ``breaches`` that holds it: columns
    ``match``, ``ws``, ``items``. The windows are spread to their slide bins (``window / slide``
    each) and the rows joined on their bin, so a row meets only the windows that hold it, however
    many windows its key breached. ``match`` may be coarser than a breach (a /64's sources,
    breaching on several targets): its windows are taken once."""
    step, count = rule.step, rule.window // rule.step
    cols = ", ".join(match)
    bins = f"SELECT DISTINCT {cols}, ws, ws + j * {step} AS b FROM {breaches} CROSS JOIN {_offsets(count)}"
    on = " AND ".join(f"a.{c} = w.{c}" for c in match)
    return (f"SELECT DISTINCT {', '.join(f'w.{c}' for c in match)}, w.ws, {', '.join(f'a.{c}' for c in items)} "
            f"FROM ({inner}) a JOIN ({bins}) w ON {on} AND a.t - (a.t % {step}) = w.b")


def sources_sql(d: Dialect, rule: Rule, breaches: str, limit: int) -> str:
    """For /64 keys: how many source addresses of the /64 took part, and the first few (a privacy-address spread)."""
    key = _key_columns(d, rule)
    inner = f"SELECT {', '.join(key)}, src_hi, src_lo, t FROM {_rows(rule)}"
    hit = _in_windows(rule, inner, breaches, KEY, ["src_hi", "src_lo"])
    ranked = (f"SELECT *, row_number() OVER (PARTITION BY k_family, k_hi, k_lo, ws ORDER BY src_hi, src_lo) AS r, "
              f"count(*) OVER (PARTITION BY k_family, k_hi, k_lo, ws) AS sources FROM ({hit}) h")
    return f"SELECT * FROM ({ranked}) s WHERE r <= {limit}"


def _text(family: int, hi: int, lo: int, length: int | None = None) -> str:
    if family == 4:
        value, version = lo & 0xFFFFFFFF, 4
    else:
        value, version = (int(hi) << 64) | int(lo), 6
    text = format_address(version, value)
    return text if length is None else f"{text}/{length}"


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def run(engine: Engine, config: DetectionConfig | None = None, binned: Sequence[str] = ()) -> list[Detection]:
    """Every rule over the engine's ``counted`` view and the flows aggregates ``binned`` (of bins of
    ``detect_bins(config)`` seconds); episodes sorted by start, rule and source.

    ``binned`` are registered tables this consumes: once ``detect_base`` holds their rows they are
    unregistered, as they hold as much memory again (about 1 GB at 10M records) while the rules run.
    """
    config = config or DetectionConfig()
    d = engine.dialect
    engine.materialize("detect_base", base_sql(d, config.internet_facing, binned))
    for name in binned:
        engine.unregister(name)
    stages: dict[tuple[Any, ...], str] = {}
    for rule in config.rules:  # one first pass per group of rules that can share it
        stage = shared_stage(rule)
        if stage is not None and stage not in stages:
            stages[stage] = f"detect_shared_{len(stages)}"
    sharing = {stage: [r for r in config.rules if shared_stage(r) == stage] for stage in stages}
    engine.each(lambda e, stage: e.materialize(stages[stage], shared_sql(d, sharing[stage][0], sharing[stage])),
                list(stages))

    def detect(e: Engine, index: int) -> list[Detection]:
        rule = config.rules[index]
        stage = shared_stage(rule)
        breaches = rule_breaches(e, index, rule, config, stages[stage] if stage is not None else None, evidence=False)
        runs = episode_runs(rule, breaches)
        if runs:  # the evidence of each episode's peak window only: thousands of windows may breach
            e.materialize(f"detect_peak_{index}", peaks_sql(d, rule, f"detect_breach_{index}"))
            add_evidence(e, rule, config, f"detect_peak_{index}", [_peak(run_) for _, run_ in runs])
        return [_detection(rule, key, run_) for key, run_ in runs]

    # Scan rules first: they cost the most, and the cores stay busy while the rest fill in behind them.
    order = sorted(range(len(config.rules)), key=lambda i: config.rules[i].kind not in ("address_scan", "port_scan"))
    found = [e for episodes_ in engine.each(detect, order) for e in episodes_]
    return ordered(found, config)


def ordered(found: list[Detection], config: DetectionConfig) -> list[Detection]:
    """The events: overlapping episodes merged, sorted by start, rule and source."""
    return sorted(merge_overlapping(found, config.rules), key=lambda e: (e.first_window, e.rule, e.source))


def rule_breaches(engine: Engine, index: int, rule: Rule, config: DetectionConfig,
                  shared: str | None = None, evidence: bool = True) -> list[Breach]:
    """The breaching windows of ``rule`` (the ``index``-th) over the rows of ``detect_base`` (table
    ``detect_breach_{index}``), each with its evidence (``add_evidence``) unless ``evidence`` is False.

    ``shared``: the table of the rule's ``shared_sql`` over the same ``detect_base`` (see ``breach_sql``), if made.
    """
    d = engine.dialect
    exempt = config.exempt_prefixes()
    name = f"detect_breach_{index}"
    engine.materialize(name, breach_sql(d, rule, config, shared))
    rows = engine.query(f"SELECT * FROM {name}").to_pylist()
    target_cols, _ = _target(d, rule)
    breaches = []
    for r in rows:
        if _exempt(r, rule, exempt):
            continue
        extra = {c: r[c] for c in r if c.endswith("_") or c in ("flows", "prior", "prior_windows", "src_kind")}
        breaches.append(Breach((r["k_family"], r["k_hi"], r["k_lo"]), tuple(r[c] for c in target_cols), r["ws"],
                               float(r["n"]), extra))
    if evidence and breaches:
        add_evidence(engine, rule, config, name, breaches)
    return breaches


def add_evidence(engine: Engine, rule: Rule, config: DetectionConfig, windows: str, breaches: Sequence[Breach]) -> None:
    """Each breach's sample targets (``extra["samples"]``) and, for /64 keys, its source addresses
    (``extra["sources"]``), read from ``detect_base`` for the windows of table ``windows`` (rows of
    ``detect_breach_*`` holding those of ``breaches``)."""
    d = engine.dialect
    target_cols, _ = _target(d, rule)
    scan = rule.kind in ("port_scan", "address_scan")
    samples: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    sample_sql = samples_sql(d, rule, windows, config.samples)
    if sample_sql is not None:
        for s in engine.query(sample_sql).to_pylist():
            match = [s[c] for c in target_cols] if scan else []
            samples.setdefault((*[s[c] for c in KEY], *match, s["ws"]), []).append(s)
    sources: dict[tuple[Any, ...], dict[str, Any]] = {}
    if rule.key == "/64":
        for s in engine.query(sources_sql(d, rule, windows, config.samples)).to_pylist():
            entry = sources.setdefault((*[s[c] for c in KEY], s["ws"]), {"count": s["sources"], "sample": []})
            entry["sample"].append(s)
    for b in breaches:
        b.extra["samples"] = samples.get((*b.key, *(b.target if scan else ()), b.start), [])
        b.extra["sources"] = sources.get((*b.key, b.start))


def peaks_sql(d: Dialect, rule: Rule, breaches: str) -> str:
    """The peak window of each episode of table ``breaches`` (``episode_runs`` and ``_peak`` in SQL):
    an episode is the windows of one key whose start is at most ``window`` after the previous one's
    (ordered by start, then target); its peak has the highest value, then the earliest start and
    the smallest target. The run's evidence is read for its peak only."""
    target, _ = _target(d, rule)
    order = ", ".join(["ws", *target])
    key = ", ".join(KEY)
    lagged = f"SELECT *, lag(ws) OVER (PARTITION BY {key} ORDER BY {order}) AS prev_ws FROM {breaches}"
    numbered = (f"SELECT *, sum(CASE WHEN prev_ws IS NULL OR ws > prev_ws + {rule.window} THEN 1 ELSE 0 END) "
                f"OVER (PARTITION BY {key} ORDER BY {order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS episode "
                f"FROM ({lagged}) l")
    ranked = (f"SELECT *, row_number() OVER (PARTITION BY {key}, episode ORDER BY n DESC, {order}) AS peak_rank "
              f"FROM ({numbered}) e")
    return f"SELECT * FROM ({ranked}) r WHERE peak_rank = 1"


def _exempt(row: dict[str, Any], rule: Rule, exempt: Sequence[Prefix]) -> bool:
    """Whether the operator exempted the source (an address, or a /64 wholly inside an exempt prefix)."""
    if not exempt:
        return False
    family, hi, lo = row["k_family"], row["k_hi"], row["k_lo"]
    value = (lo & 0xFFFFFFFF) if family == 4 else (int(hi) << 64 | int(lo))
    length = (32 if family == 4 else 128) if rule.key == "address" else (32 if family == 4 else 64)
    item = Prefix(family, value, length)
    return any(p.version == family and p.contains(item) for p in exempt)


def episode_runs(rule: Rule, breaches: Iterable[Breach]) -> list[tuple[tuple[int, int, int], list[Breach]]]:
    """Breaching windows of one rule grouped per source: a window starting at or before the last one's end continues it."""
    by_key: dict[tuple[int, int, int], list[Breach]] = {}
    for b in breaches:
        by_key.setdefault(b.key, []).append(b)
    out: list[tuple[tuple[int, int, int], list[Breach]]] = []
    for key, items in by_key.items():
        items.sort(key=lambda b: (b.start, b.target))
        run_: list[Breach] = []
        for b in items:  # sorted by start: the run's latest start is its last breach's
            if run_ and b.start > run_[-1].start + rule.window:
                out.append((key, run_))
                run_ = []
            run_.append(b)
        if run_:
            out.append((key, run_))
    return out


def episodes(rule: Rule, breaches: Iterable[Breach]) -> list[Detection]:
    """One detection per run of ``episode_runs`` (the breaches carry their evidence)."""
    return [_detection(rule, key, run_) for key, run_ in episode_runs(rule, breaches)]


def _peak(run_: list[Breach]) -> Breach:
    """The run's highest window, the earliest of equals (``peaks_sql`` picks the same)."""
    return max(run_, key=lambda b: (b.value, -b.start))


def _detection(rule: Rule, key: tuple[int, int, int], run_: list[Breach]) -> Detection:
    family, hi, lo = key
    source = _text(family, hi, lo, None if rule.key == "address" or family == 4 else 64)
    peak = _peak(run_)
    starts = sorted({b.start for b in run_})
    evidence: dict[str, Any] = {
        "window_seconds": rule.window, "slide_seconds": rule.step,
        "peak_value": peak.value, "peak_window_start": _iso(peak.start),
    }
    if rule.kind in ("port_scan", "address_scan"):
        targets = sorted({b.target for b in run_})
        length = None if rule.kind == "port_scan" else "prefix"
        evidence["targets"] = [
            _text(t[0], t[1], t[2], None if length is None else (rule.prefix4 if t[0] == 4 else rule.prefix6))
            for t in targets[:SAMPLES]
        ]
        evidence["target_count"] = len(targets)
        if rule.kind == "port_scan":
            evidence["sample_ports"] = sorted({s["port"] % 65536 for s in peak.extra["samples"]})
        else:
            fam = peak.target[0]
            evidence["sample_destinations"] = [_text(fam, s["dst_hi"], s["dst_lo"]) for s in peak.extra["samples"]]
    elif rule.kind == "suspicious_source":
        evidence["address_kind"] = peak.extra["src_kind"]
        evidence["flows"] = int(sum(b.value for b in run_ if b.start in starts))
    else:
        evidence.update({
            "flows": _int(peak.extra.get("flows")), "bytes": _int(peak.extra.get("bytes_")),
            "packets": _int(peak.extra.get("packets_")), "rejected": _int(peak.extra.get("rejected_")),
        })
        if rule.kind == "volume_baseline":
            evidence["baseline_mean"] = round(float(peak.extra["prior"]) / rule.history, 3)
        evidence["sample_destinations"] = [_text(s["dst_family"], s["dst_hi"], s["dst_lo"])
                                           for s in peak.extra["samples"]]
    sources = peak.extra.get("sources")
    if sources:
        evidence["source_addresses"] = sources["count"]
        evidence["sample_sources"] = [_text(family, s["src_hi"], s["src_lo"]) for s in sources["sample"]]
    return Detection(
        rule=rule.name, kind=rule.kind, key_level=rule.key, source=source,
        severity=rule.severity or SEVERITY[rule.kind], first_window=starts[0],
        last_window_end=starts[-1] + rule.window, windows=len(starts), peak=peak.value, peak_window=peak.start,
        threshold=rule.threshold, evidence=evidence,
    )


def merge_overlapping(found: list[Detection], rules: Sequence[Rule]) -> list[Detection]:
    """One event per attack: episodes of one kind that overlap in time and share the source are one.

    An address episode wins over its /64's, an earlier rule over a later one (the defaults list the
    fast rule first); the dropped rules are named in the kept event's ``also_matched``.
    """
    order = {r.name: i for i, r in enumerate(rules)}
    ranked = sorted(found, key=lambda e: (e.key_level != "address", order[e.rule], e.first_window, e.source))
    kept: list[Detection] = []
    by_kind: dict[str, list[Detection]] = {}  # the kept ones, per kind, in the order kept
    for e in ranked:
        same_kind = by_kind.setdefault(e.kind, [])
        twin = next((k for k in same_kind if k.first_window < e.last_window_end and e.first_window < k.last_window_end
                     and _covers(e.source, k.source)), None)
        if twin is None:
            kept.append(e)
            same_kind.append(e)
        elif e.rule != twin.rule and e.rule not in twin.evidence.setdefault("also_matched", []):
            twin.evidence["also_matched"].append(e.rule)
    return kept


def _covers(source: str, other: str) -> bool:
    """``source`` is ``other`` or a prefix containing it."""
    if source == other:
        return True
    return "/" in source and "/" not in other and _prefix(source).contains(_address(other))


@functools.lru_cache(maxsize=4096)
def _prefix(text: str) -> Prefix:
    return Prefix.parse(text)


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> Address:
    return Address.parse(text)
