"""Alarms over the flow metrics with Amazon CloudWatch's semantics, evaluated on event time.

An alarm watches one metric's datapoints (one per ``period`` of the records' own time) and is
``OK``, ``ALARM`` or ``INSUFFICIENT_DATA``. At the end of every period it looks at the evaluation
range, the ``range_periods`` most recent periods (CloudWatch retrieves more points than
``EvaluationPeriods``: 5 for 3), and decides as the CloudWatch user guide ("Using Amazon CloudWatch
alarms", sections "Evaluating an alarm" and "How alarm state is evaluated when data is missing"):

- with at least N existing datapoints in the range, the N most recent existing ones are judged and
  the treatment of missing data is not used; ALARM when at least M of them breach ("M out of N",
  not necessarily consecutive), else OK;
- with none, ``missing`` gives INSUFFICIENT_DATA, ``ignore`` keeps the state, ``breaching`` ALARM,
  ``notBreaching`` OK;
- with fewer than N, every real point is judged and the gaps are filled, as few as needed:
  ``breaching`` and ``notBreaching`` fill with their kind; ``missing`` and ``ignore`` fill with
  non-breaching points when a real point does not breach, and otherwise (every real point
  breaches but fewer than M) ``ignore`` keeps the state and ``missing`` stays INSUFFICIENT_DATA
  while the newest period has data (too little data so far) but alarms once the data has
  stopped after breaching points (the guide's rows ``- - - - X`` and ``X - - - -``).

Every state change is a ``Transition`` (an event). ``tests/flows/test_alarms.py`` checks each row
of the guide's two tables under each treatment, each transition and M-of-N combinations.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from v6ops.events import EventType, SecurityEvent, Severity
from v6ops.flows import analyses, rawscan
from v6ops.flows.schema import SOURCE_ALB, TRAFFIC_IPV4, TRAFFIC_IPV6, TRAFFIC_NAT64

State = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
OK: State = "OK"
ALARM: State = "ALARM"
INSUFFICIENT: State = "INSUFFICIENT_DATA"
Treatment = Literal["missing", "notBreaching", "breaching", "ignore"]
Comparison = Literal["GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold",
                     "LessThanOrEqualToThreshold"]
Statistic = Literal["Sum", "Average", "Maximum", "Minimum", "SampleCount"]

# The seed's metrics (002, IPv6TrafficMonitor.publish_ipv6_metrics), computed from the flow facts.
METRICS: dict[str, str] = {
    "IPv6TotalBytes": "Bytes",
    "IPv6TotalPackets": "Count",
    "IPv6TotalFlows": "Count",
    "IPv6AcceptedFlows": "Count",
    "IPv6RejectedFlows": "Count",
    "IPv6AdoptionPercentage": "Percent",
}


class Alarm(BaseModel):
    """A CloudWatch metric alarm (PutMetricAlarm's fields that decide its state)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=255, pattern=r"^[\x20-\x7e]+$")  # CloudWatch: ASCII names
    metric: str
    statistic: Statistic = "Sum"
    period: int = Field(default=300, ge=10)
    evaluation_periods: int = Field(default=1, ge=1)
    datapoints_to_alarm: int | None = Field(default=None, ge=1)
    threshold: float
    comparison: Comparison = "GreaterThanThreshold"
    treat_missing_data: Treatment = "missing"
    range_periods: int | None = Field(default=None, ge=1, description="periods retrieved per evaluation (N + 2)")
    description: str = ""

    @property
    def m(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods

    @property
    def n(self) -> int:
        return self.evaluation_periods

    @property
    def range(self) -> int:
        return self.range_periods or self.evaluation_periods + 2

    @model_validator(mode="after")
    def _cloudwatch_limits(self) -> Alarm:
        # PutMetricAlarm: Period is 10, 20, 30 or a multiple of 60; M <= N; Period x N <= 1 day
        # (7 days when Period >= 1 hour).
        if self.period not in (10, 20, 30) and self.period % 60:
            raise ValueError(f"alarm {self.name}: period {self.period} must be 10, 20, 30 or a multiple of 60")
        if self.m > self.n:
            raise ValueError(f"alarm {self.name}: datapoints_to_alarm {self.m} exceeds evaluation_periods {self.n}")
        limit = 7 * 86400 if self.period >= 3600 else 86400
        if self.period * self.n > limit:
            raise ValueError(f"alarm {self.name}: period x evaluation_periods is over {limit} s")
        if self.range < self.n:
            raise ValueError(f"alarm {self.name}: range_periods {self.range} is under evaluation_periods {self.n}")
        if self.metric not in METRICS:
            raise ValueError(f"alarm {self.name}: unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        return self

    def breaches(self, value: float) -> bool:
        if self.comparison == "GreaterThanThreshold":
            return value > self.threshold
        if self.comparison == "GreaterThanOrEqualToThreshold":
            return value >= self.threshold
        if self.comparison == "LessThanThreshold":
            return value < self.threshold
        return value <= self.threshold


def default_alarms() -> tuple[Alarm, ...]:
    """The seed's three alarms (002, ``setup_ipv6_alarms``)."""
    return (
        Alarm(name="High-IPv6-Traffic", metric="IPv6TotalBytes", statistic="Sum", period=300, evaluation_periods=2,
              threshold=1_000_000_000.0, description="High IPv6 traffic detected"),
        Alarm(name="High-IPv6-Rejection-Rate", metric="IPv6RejectedFlows", statistic="Sum", period=300,
              evaluation_periods=3, threshold=1000.0, description="High IPv6 rejection rate detected"),
        Alarm(name="Low-IPv6-Adoption", metric="IPv6AdoptionPercentage", statistic="Average", period=3600,
              evaluation_periods=5, threshold=10.0, comparison="LessThanThreshold",
              description="IPv6 adoption rate below threshold"),
    )


def decide(alarm: Alarm, points: list[float | None], current: State) -> State:
    """The state after one evaluation of ``points`` (the evaluation range, oldest first; None = missing)."""
    if len(points) != alarm.range:
        raise ValueError(f"alarm {alarm.name}: expected {alarm.range} points in the range, got {len(points)}")
    real = [alarm.breaches(p) for p in points if p is not None]
    n, m, treat = alarm.n, alarm.m, alarm.treat_missing_data
    if len(real) >= n:
        return ALARM if sum(real[-n:]) >= m else OK
    if not real:
        empty: dict[str, State] = {"missing": INSUFFICIENT, "ignore": current, "breaching": ALARM, "notBreaching": OK}
        return empty[treat]
    gaps = n - len(real)
    if treat == "breaching":
        return ALARM if sum(real) + gaps >= m else OK
    if treat == "notBreaching" or not all(real):
        return ALARM if sum(real) >= m else OK
    if sum(real) >= m:
        return ALARM
    if treat == "ignore":
        return current
    return INSUFFICIENT if points[-1] is not None else ALARM


@dataclass(frozen=True)
class Transition:
    """An alarm's state change at the end of a period (event time)."""

    alarm: str
    previous: State
    state: State
    at: int  # epoch seconds: the end of the period whose evaluation changed the state
    reason: str

    def to_event(self) -> SecurityEvent:
        """The shared security event; the same transition always has the same ``event_id``."""
        digest = hashlib.sha256(f"{self.alarm}|{self.at}|{self.state}".encode()).digest()
        return SecurityEvent(
            timestamp=datetime.fromtimestamp(self.at, UTC), event_id=str(uuid.UUID(bytes=digest[:16], version=5)),
            vm_id="", event_type=EventType.ALARM_STATE_CHANGE,
            severity=Severity.WARNING if self.state == ALARM else Severity.INFO, source="flows.alarms",
            description=f"alarm {self.alarm}: {self.previous} -> {self.state}", details=self.as_dict(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {"alarm": self.alarm, "previous": self.previous, "state": self.state, "at": _iso(self.at),
                "reason": self.reason}


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evaluate(alarm: Alarm, series: Mapping[int, float], until: int | None = None,
             start: State = INSUFFICIENT) -> tuple[State, list[Transition]]:
    """Run ``alarm`` at the end of every period from the first datapoint to ``until`` (a period start).

    ``series`` maps period starts (multiples of ``alarm.period``) to datapoints; absent is missing.
    A new alarm starts in INSUFFICIENT_DATA, as in CloudWatch.
    """
    if not series:
        return start, []
    p = alarm.period
    first = min(series)
    last = max(series) if until is None else until
    state: State = start
    transitions: list[Transition] = []
    for period_start in range(first, last + p, p):
        window = [series.get(period_start - k * p) for k in range(alarm.range - 1, -1, -1)]
        new = decide(alarm, window, state)
        if new != state:
            shown = " ".join("-" if v is None else ("X" if alarm.breaches(v) else "0") for v in window)
            transitions.append(Transition(alarm.name, state, new, period_start + p,
                                          f"datapoints [{shown}] (oldest first), {alarm.m} of {alarm.n} to alarm, "
                                          f"missing data: {alarm.treat_missing_data}"))
            state = new
    return state, transitions


def metric_series(facts: Iterable[Mapping[str, Any]], metric: str, statistic: Statistic = "Sum") -> dict[int, float]:
    """One datapoint per bin of ``analyses.facts_sql`` rows; a bin without flows has none (missing).

    The IPv6 metrics count IPv6 on the wire (classes ipv6 and nat64, as the report's IPv6 share);
    the adoption percentage is IPv6 flows over all flows of known family, x 100. Each datapoint is
    one aggregate per period, so Sum, Average, Maximum and Minimum of it are the value itself and
    SampleCount is 1.
    """
    flows: dict[int, dict[str, float]] = {}
    for r in facts:
        if r["source"] == SOURCE_ALB or r["log_status"] not in (None, "OK") or r["bin"] is None:
            continue  # requests and status rows are not flows; a record without a time has no period
        cell = flows.setdefault(int(r["bin"]), {"v6": 0, "all": 0, "bytes": 0, "packets": 0, "accept": 0, "reject": 0})
        v6 = r["traffic_class"] in (TRAFFIC_IPV6, TRAFFIC_NAT64)
        if r["traffic_class"] in (TRAFFIC_IPV4, TRAFFIC_IPV6, TRAFFIC_NAT64):
            cell["all"] += r["records"]
        if v6:
            cell["v6"] += r["records"]
            cell["bytes"] += r["bytes"] or 0
            cell["packets"] += r["packets"] or 0
            cell["accept"] += r["records"] if r["action"] == "ACCEPT" else 0
            cell["reject"] += r["records"] if r["action"] == "REJECT" else 0
    pick = {
        "IPv6TotalBytes": lambda c: c["bytes"], "IPv6TotalPackets": lambda c: c["packets"],
        "IPv6TotalFlows": lambda c: c["v6"], "IPv6AcceptedFlows": lambda c: c["accept"],
        "IPv6RejectedFlows": lambda c: c["reject"],
        "IPv6AdoptionPercentage": lambda c: 100.0 * c["v6"] / c["all"] if c["all"] else None,
    }[metric]
    out: dict[int, float] = {}
    for b, cell in flows.items():
        value = pick(cell)
        if value is not None:
            out[b] = 1.0 if statistic == "SampleCount" else float(value)
    return out


def series(engine: analyses.Engine, period: int = 300, scans: Sequence[rawscan.RawScan] = (),
           partials: analyses.Partials | None = None) -> dict[str, dict[int, float]]:
    """Every seed metric per ``period`` of event time (``{metric: {period start: value}}``), for CloudWatch."""
    facts = analyses.facts(engine, period, scans, partials)
    return {m: metric_series(facts, m, "Average" if METRICS[m] == "Percent" else "Sum") for m in METRICS}


def run(engine: analyses.Engine, alarms: Iterable[Alarm] | None = None, scans: Sequence[rawscan.RawScan] = (),
        partials: analyses.Partials | None = None) -> list[dict[str, Any]]:
    """Every alarm over the engine's ``counted`` view (or its ``partials``) and scanned files: final state,
    datapoints, transitions."""
    out = []
    facts_by_period: dict[int, list[dict[str, Any]]] = {}
    for alarm in alarms if alarms is not None else default_alarms():
        if alarm.period not in facts_by_period:
            facts_by_period[alarm.period] = analyses.facts(engine, alarm.period, scans, partials)
        series = metric_series(facts_by_period[alarm.period], alarm.metric, alarm.statistic)
        state, transitions = evaluate(alarm, series)
        out.append({
            "alarm": alarm.name, "metric": alarm.metric, "state": state,
            "datapoints": [{"period_start": _iso(k), "value": v} for k, v in sorted(series.items())],
            "transitions": [t.as_dict() for t in transitions],
        })
    return out
