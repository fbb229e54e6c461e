"""The seed's CloudWatch path (002, IPv6TrafficMonitor): publish the metrics, create the dashboard and alarms.

``publish`` sends each period's datapoints of the seed's metrics (``alarms.METRICS``) with
``PutMetricData``, batched within the API's limits (CloudWatch API reference, PutMetricData: at most
1000 metrics per request and a 1 MB request; no NaN or infinity, values within +-2^360; at most 30
dimensions), which botocore does not check and moto does not enforce, so they are checked here.
``put_alarms`` creates the alarms of ``alarms.default_alarms`` (or the operator's) with the same
fields v6ops evaluates them with; ``put_dashboard`` writes the seed's dashboard for the namespace.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from v6ops.flows.alarms import METRICS, Alarm, default_alarms

NAMESPACE = "AWS/VPC/IPv6"  # the seed's namespace
MAX_METRICS = 1000
MAX_BYTES = 1_000_000
MAX_DIMENSIONS = 30
VALUE_LIMIT = 2.0 ** 360


class CloudWatchValueError(ValueError):
    """A datapoint CloudWatch would refuse; the message names the metric and the value."""


def metric_data(series: Mapping[str, Mapping[int, float]], dimensions: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """MetricDatum entries, one per (metric, period start), with the seed's units."""
    dims = [{"Name": k, "Value": v} for k, v in sorted((dimensions or {}).items())]
    if len(dims) > MAX_DIMENSIONS:
        raise CloudWatchValueError(f"{len(dims)} dimensions: CloudWatch takes at most {MAX_DIMENSIONS}")
    out = []
    for metric, points in series.items():
        if metric not in METRICS:
            raise CloudWatchValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        for start, value in sorted(points.items()):
            if not math.isfinite(value) or abs(value) > VALUE_LIMIT:
                raise CloudWatchValueError(f"{metric} at {start}: value {value!r} is not a finite number within +-2^360")
            out.append({"MetricName": metric, "Timestamp": datetime.fromtimestamp(start, UTC), "Value": float(value),
                        "Unit": METRICS[metric], **({"Dimensions": dims} if dims else {})})
    return out


def _encoded_size(index: int, datum: Mapping[str, Any]) -> int:
    """Bytes this datum adds to the query-protocol POST body (``MetricData.member.N.Field=value&``)."""
    prefix = f"MetricData.member.{index}."
    fields = [("MetricName", datum["MetricName"]), ("Timestamp", datum["Timestamp"].isoformat()),
              ("Value", repr(datum["Value"])), ("Unit", datum["Unit"])]
    for n, d in enumerate(datum.get("Dimensions", []), start=1):
        fields += [(f"Dimensions.member.{n}.Name", d["Name"]), (f"Dimensions.member.{n}.Value", d["Value"])]
    return sum(len(prefix) + len(k) + len(quote(str(v), safe="")) + 2 for k, v in fields)


def batches(data: Sequence[dict[str, Any]], namespace: str) -> Iterator[list[dict[str, Any]]]:
    """Consecutive batches of at most 1000 datums and under 1 MB of request body each."""
    base = len("Action=PutMetricData&Version=2010-08-01&Namespace=") + len(quote(namespace, safe=""))
    batch: list[dict[str, Any]] = []
    size = base
    for datum in data:
        added = _encoded_size(len(batch) + 1, datum)
        if batch and (len(batch) == MAX_METRICS or size + added > MAX_BYTES):
            yield batch
            batch, size = [], base
            added = _encoded_size(1, datum)
        batch.append(datum)
        size += added
    if batch:
        yield batch


def publish(client: Any, series: Mapping[str, Mapping[int, float]], namespace: str = NAMESPACE,
            dimensions: Mapping[str, str] | None = None) -> dict[str, int]:
    """PutMetricData for every datapoint; returns how many datums and requests were sent."""
    data = metric_data(series, dimensions)
    requests = 0
    for batch in batches(data, namespace):
        client.put_metric_data(Namespace=namespace, MetricData=batch)
        requests += 1
    return {"datums": len(data), "requests": requests}


def alarm_request(alarm: Alarm, namespace: str = NAMESPACE) -> dict[str, Any]:
    """PutMetricAlarm's arguments for an alarm v6ops evaluates the same way."""
    request: dict[str, Any] = {
        "AlarmName": alarm.name, "AlarmDescription": alarm.description, "Namespace": namespace,
        "MetricName": alarm.metric, "Statistic": alarm.statistic, "Period": alarm.period,
        "EvaluationPeriods": alarm.n, "DatapointsToAlarm": alarm.m, "Threshold": alarm.threshold,
        "ComparisonOperator": alarm.comparison, "TreatMissingData": alarm.treat_missing_data,
        "ActionsEnabled": True,
    }
    if METRICS[alarm.metric] != "Count":
        request["Unit"] = METRICS[alarm.metric]
    return request


def put_alarms(client: Any, alarms: Iterable[Alarm] | None = None, namespace: str = NAMESPACE) -> list[str]:
    names = []
    for alarm in alarms if alarms is not None else default_alarms():
        client.put_metric_alarm(**alarm_request(alarm, namespace))
        names.append(alarm.name)
    return names


def dashboard_body(namespace: str = NAMESPACE, region: str = "us-east-1") -> dict[str, Any]:
    """The seed's "IPv6-Traffic-Monitoring" dashboard (volume, flow status, adoption) for ``namespace``."""
    def widget(x: int, y: int, width: int, title: str, metrics: list[str], stat: str, **extra: Any) -> dict[str, Any]:
        rows = [[namespace, metrics[0]], *[[".", m] for m in metrics[1:]]]
        return {"type": "metric", "x": x, "y": y, "width": width, "height": 6,
                "properties": {"metrics": rows, "period": 300, "stat": stat, "region": region, "title": title, **extra}}

    return {"widgets": [
        widget(0, 0, 12, "IPv6 Traffic Volume", ["IPv6TotalBytes", "IPv6TotalPackets"], "Sum",
               yAxis={"left": {"min": 0}}),
        widget(12, 0, 12, "IPv6 Flow Status", ["IPv6AcceptedFlows", "IPv6RejectedFlows"], "Sum",
               view="timeSeries", stacked=False),
        widget(0, 6, 24, "IPv6 Adoption Rate", ["IPv6AdoptionPercentage"], "Average",
               yAxis={"left": {"min": 0, "max": 100}}),
    ]}


def put_dashboard(client: Any, name: str = "IPv6-Traffic-Monitoring", namespace: str = NAMESPACE,
                  region: str = "us-east-1") -> list[dict[str, Any]]:
    """PutDashboard (replaces the whole body); returns CloudWatch's validation messages (empty: saved)."""
    answer = client.put_dashboard(DashboardName=name, DashboardBody=json.dumps(dashboard_body(namespace, region)))
    return list(answer.get("DashboardValidationMessages", []))
