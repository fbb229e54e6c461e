"""Alarms against the rules of the CloudWatch user guide ("Using Amazon CloudWatch alarms")."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6ops.flows.alarms import (
    ALARM,
    INSUFFICIENT,
    OK,
    Alarm,
    decide,
    default_alarms,
    evaluate,
    metric_series,
)
from v6ops.flows.generate import generate
from v6ops.flows.pipeline import build_report

RETAIN = "retain"
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")

# The guide's tables, "How alarm state is evaluated when data is missing": 5 points retrieved,
# 0 = not breaching, X = breaching, - = missing; the state under MISSING, IGNORE, BREACHING, NOT BREACHING.
THREE_OF_THREE = [
    ("0 - X - X", (OK, OK, OK, OK)),
    ("0 - - - -", (OK, OK, OK, OK)),
    ("- - - - -", (INSUFFICIENT, RETAIN, ALARM, OK)),
    ("0 X X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("- - - - X", (INSUFFICIENT, RETAIN, ALARM, OK)),
    ("X - - - -", (ALARM, RETAIN, ALARM, OK)),
]
TWO_OF_THREE = [
    ("0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 - X - -", (OK, OK, ALARM, OK)),
    ("- - - - 0", (OK, OK, ALARM, OK)),
    ("- - - - X", (INSUFFICIENT, RETAIN, ALARM, OK)),
]


def _alarm(m: int, n: int, treat: str = "missing", range_periods: int | None = None) -> Alarm:
    return Alarm(name="t", metric="IPv6TotalBytes", period=300, evaluation_periods=n, datapoints_to_alarm=m,
                 threshold=3, treat_missing_data=treat, range_periods=range_periods)  # type: ignore[arg-type]


def _points(text: str) -> list[float | None]:
    return [None if c == "-" else (5.0 if c == "X" else 1.0) for c in text.split()]


@pytest.mark.parametrize(("m", "row", "expected"), [(3, *r) for r in THREE_OF_THREE] + [(2, *r) for r in TWO_OF_THREE])
@pytest.mark.parametrize("treat_index", range(4))
@pytest.mark.parametrize("current", [OK, ALARM, INSUFFICIENT])
def test_the_guides_tables(m: int, row: str, expected: tuple[str, ...], treat_index: int, current: str) -> None:
    want = expected[treat_index]
    got = decide(_alarm(m, 3, TREATMENTS[treat_index]), _points(row), current)  # type: ignore[arg-type]
    assert got == (current if want == RETAIN else want)


def test_the_guides_figure() -> None:
    """Threshold 3, 3 of 3: ALARM in periods 3-5, OK at period 6, one breach at period 9 stays OK."""
    values = [1, 2, 4, 5, 4, 2, 1, 2, 5, 1]
    alarm = _alarm(3, 3)
    state, transitions = evaluate(alarm, {i * 300: float(v) for i, v in enumerate(values)})
    assert [(t.previous, t.state, t.at // 300) for t in transitions] == [
        (INSUFFICIENT, OK, 1), (OK, ALARM, 5), (ALARM, OK, 6),
    ]
    assert state == OK


@given(n=st.integers(1, 5), data=st.data())
def test_m_out_of_n_with_every_point_present(n: int, data: st.DataObject) -> None:
    """With N real points the treatment is unused: ALARM exactly when at least M of the last N breach."""
    m = data.draw(st.integers(1, n))
    breaching = data.draw(st.lists(st.booleans(), min_size=n + 2, max_size=n + 2))
    for treat in TREATMENTS:
        got = decide(_alarm(m, n, treat), [5.0 if b else 1.0 for b in breaching], INSUFFICIENT)
        assert got == (ALARM if sum(breaching[-n:]) >= m else OK)


@pytest.mark.parametrize(("m", "n", "row", "state"), [
    (1, 3, "- - - - X", ALARM),  # one real breaching point suffices for 1 of 3
    (2, 4, "- - - X X", ALARM),  # 2 of 4 with two real breaching points
    (3, 4, "- - - X X", INSUFFICIENT),  # 3 of 4: too little data yet
    (3, 4, "- - 0 X X", OK),  # a real good point: gaps are not breaching
    (2, 2, "0 X - X", ALARM),  # M = N = 2: the two most recent real points, not the newest periods
    (2, 5, "X 0 0 0 X 0 0", OK),  # range 7: the 5 most recent real points hold one breach
])
def test_m_out_of_n_combinations(m: int, n: int, row: str, state: str) -> None:
    points = _points(row)
    assert decide(_alarm(m, n, range_periods=len(points)), points, OK) == state


def test_every_transition_is_an_event() -> None:
    alarm = _alarm(1, 1, "missing", range_periods=1)
    series = {0: 1.0, 300: 5.0, 600: 1.0, 1200: 5.0, 1800: 1.0}
    state, transitions = evaluate(alarm, series, until=2100)
    seen = [(t.previous, t.state) for t in transitions]
    assert seen == [
        (INSUFFICIENT, OK),  # first datapoint, good
        (OK, ALARM),  # breach
        (ALARM, OK),  # back to good
        (OK, INSUFFICIENT),  # 900: no data
        (INSUFFICIENT, ALARM),  # 1200: breach after a gap
        (ALARM, INSUFFICIENT),  # 1500: no data
        (INSUFFICIENT, OK),  # 1800
        (OK, INSUFFICIENT),  # 2100: data stopped
    ]
    assert state == INSUFFICIENT
    assert transitions[1].as_dict()["at"] == "1970-01-01T00:10:00Z"  # the end of the breaching period
    assert "missing data: missing" in transitions[1].reason


def test_ignore_keeps_the_state_through_a_gap() -> None:
    alarm = _alarm(1, 1, "ignore", range_periods=1)
    _, transitions = evaluate(alarm, {0: 5.0, 1500: 1.0})
    assert [(t.previous, t.state, t.at) for t in transitions] == [(INSUFFICIENT, ALARM, 300), (ALARM, OK, 1800)]


def test_cloudwatch_limits() -> None:
    with pytest.raises(ValueError, match="multiple of 60"):
        Alarm(name="x", metric="IPv6TotalBytes", period=90, threshold=1)
    with pytest.raises(ValueError, match="exceeds evaluation_periods"):
        Alarm(name="x", metric="IPv6TotalBytes", evaluation_periods=2, datapoints_to_alarm=3, threshold=1)
    with pytest.raises(ValueError, match="over 86400"):
        Alarm(name="x", metric="IPv6TotalBytes", period=600, evaluation_periods=145, threshold=1)
    Alarm(name="x", metric="IPv6TotalBytes", period=3600, evaluation_periods=168, threshold=1)  # 7 days: allowed
    with pytest.raises(ValueError, match="unknown metric"):
        Alarm(name="x", metric="Bogus", threshold=1)
    assert [a.name for a in default_alarms()] == ["High-IPv6-Traffic", "High-IPv6-Rejection-Rate", "Low-IPv6-Adoption"]


def test_metrics_from_facts() -> None:
    facts = [
        {"source": "vpc-flow-log", "log_status": "OK", "traffic_class": "ipv6", "action": "REJECT", "bin": 0,
         "records": 3, "packets": 6, "bytes": 600},
        {"source": "vpc-flow-log", "log_status": None, "traffic_class": "nat64", "action": "ACCEPT", "bin": 0,
         "records": 1, "packets": 2, "bytes": 100},
        {"source": "vpc-flow-log", "log_status": "OK", "traffic_class": "ipv4", "action": "ACCEPT", "bin": 0,
         "records": 4, "packets": 9, "bytes": 999},
        {"source": "vpc-flow-log", "log_status": "NODATA", "traffic_class": None, "action": None, "bin": 300,
         "records": 7, "packets": None, "bytes": None},
        {"source": "alb", "log_status": None, "traffic_class": "ipv6", "action": None, "bin": 0,
         "records": 50, "packets": None, "bytes": 5000},
    ]
    assert metric_series(facts, "IPv6TotalBytes") == {0: 700.0}  # the status-row period has no datapoint
    assert metric_series(facts, "IPv6RejectedFlows") == {0: 3.0}
    assert metric_series(facts, "IPv6AdoptionPercentage", "Average") == {0: 50.0}


def test_seed_alarms_on_a_report(tmp_path: Path) -> None:
    generate(tmp_path, flows=1500, requests=10, ipv6_share=0.05, nat64_share=0.0)
    report = build_report([str(tmp_path / "logs")])
    by_name = {a["alarm"]: a for a in report["alarms"]}
    adoption = by_name["Low-IPv6-Adoption"]
    assert len(adoption["datapoints"]) == 2 and all(p["value"] < 10 for p in adoption["datapoints"])
    assert adoption["state"] == INSUFFICIENT  # 2 breaching hours of 5 needed, data still coming: too little data
    assert by_name["High-IPv6-Traffic"]["state"] == OK
    assert [t["state"] for t in by_name["High-IPv6-Traffic"]["transitions"]] == [OK]
    rows = build_report([str(tmp_path / "logs")], scan_files=False)["alarms"]
    assert rows == report["alarms"]  # the C reader's aggregates and the rows give the same datapoints
