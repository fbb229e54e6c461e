"""The seed's CloudWatch path against moto: metrics batched within PutMetricData's limits, dashboard, alarms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from v6ops.cli.main import app
from v6ops.flows import cloudwatch
from v6ops.flows.alarms import METRICS, default_alarms
from v6ops.flows.generate import generate


@pytest.fixture
def client() -> Any:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def _sent(client: Any) -> list[int]:
    """Bodies of the PutMetricData requests the client sends, by length."""
    sizes: list[int] = []
    client.meta.events.register("before-send.cloudwatch.PutMetricData",
                                lambda request, **_: sizes.append(len(request.body or b"")))
    return sizes


def test_batches_stay_within_the_api_limits(client: Any) -> None:
    sizes = _sent(client)
    series = {m: {1767571200 + 60 * i: float(i) for i in range(450)} for m in METRICS}  # 2700 datums
    result = cloudwatch.publish(client, series, namespace="Test/IPv6", dimensions={"Vpc": "vpc-0abc"})
    assert result == {"datums": 2700, "requests": 3} and len(sizes) == 3
    assert all(size <= cloudwatch.MAX_BYTES for size in sizes)
    stats = client.get_metric_statistics(Namespace="Test/IPv6", MetricName="IPv6TotalBytes",
                                         Dimensions=[{"Name": "Vpc", "Value": "vpc-0abc"}],
                                         StartTime="2026-01-05T00:00:00Z", EndTime="2026-01-06T00:00:00Z",
                                         Period=86400, Statistics=["Sum", "SampleCount"])
    point = stats["Datapoints"][0]
    assert point["SampleCount"] == 450 and point["Sum"] == sum(range(450)) and point["Unit"] == "Bytes"


def test_size_limit_splits_before_the_count_limit() -> None:
    data = cloudwatch.metric_data({"IPv6TotalBytes": {i: 1.0 for i in range(900)}},
                                  dimensions={f"d{i}": "v" * 250 for i in range(30)})
    parts = list(cloudwatch.batches(data, "AWS/VPC/IPv6"))
    assert len(parts) > 1 and sum(len(p) for p in parts) == 900 and all(len(p) < 900 for p in parts)
    for part in parts:
        body = sum(cloudwatch._encoded_size(i + 1, d) for i, d in enumerate(part))
        assert body <= cloudwatch.MAX_BYTES


def test_refused_values_name_the_metric() -> None:
    with pytest.raises(cloudwatch.CloudWatchValueError, match="IPv6TotalBytes at 60: value nan"):
        cloudwatch.metric_data({"IPv6TotalBytes": {60: float("nan")}})
    with pytest.raises(cloudwatch.CloudWatchValueError, match="at most 30"):
        cloudwatch.metric_data({}, dimensions={f"d{i}": "v" for i in range(31)})
    with pytest.raises(cloudwatch.CloudWatchValueError, match="unknown metric"):
        cloudwatch.metric_data({"Bogus": {0: 1.0}})


def test_alarms_and_dashboard(client: Any) -> None:
    assert cloudwatch.put_alarms(client, namespace="Test/IPv6") == [a.name for a in default_alarms()]
    found = {a["AlarmName"]: a for a in client.describe_alarms()["MetricAlarms"]}
    rejection = found["High-IPv6-Rejection-Rate"]
    assert (rejection["MetricName"], rejection["Namespace"], rejection["Period"], rejection["EvaluationPeriods"],
            rejection["DatapointsToAlarm"], rejection["Threshold"], rejection["ComparisonOperator"],
            rejection["TreatMissingData"]) == ("IPv6RejectedFlows", "Test/IPv6", 300, 3, 3, 1000.0,
                                               "GreaterThanThreshold", "missing")
    assert found["Low-IPv6-Adoption"]["ComparisonOperator"] == "LessThanThreshold"
    assert found["High-IPv6-Traffic"]["Unit"] == "Bytes"
    assert cloudwatch.put_dashboard(client, namespace="Test/IPv6") == []
    body = json.loads(client.get_dashboard(DashboardName="IPv6-Traffic-Monitoring")["DashboardBody"])
    assert body == cloudwatch.dashboard_body("Test/IPv6")
    assert body["widgets"][0]["properties"]["metrics"][0] == ["Test/IPv6", "IPv6TotalBytes"]


def test_cli_publishes_a_report(tmp_path: Path, client: Any) -> None:
    generate(tmp_path / "g", flows=400, requests=50)
    runner = CliRunner()
    result = runner.invoke(app, ["flows", "report", str(tmp_path / "g" / "logs"), "--out", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    result = runner.invoke(app, ["flows", "cloudwatch", str(tmp_path / "r" / "report.json"), "--namespace", "T/v6",
                                 "--dashboard", "v6", "--alarms", "--region", "us-east-1", "--json"])
    assert result.exit_code == 0, result.output
    sent = json.loads(result.output)
    datums = sum(len(points) for points in report["metrics"]["series"].values())
    assert sent["datums"] == datums > 0 and sent["alarms"] == 3 and sent["dashboard_messages"] == []
    listed = {m["MetricName"] for m in client.list_metrics(Namespace="T/v6")["Metrics"]}
    assert listed == set(METRICS)
    result = runner.invoke(app, ["flows", "cloudwatch", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "missing.json" in result.output
    result = runner.invoke(app, ["flows", "cloudwatch", str(tmp_path / "r" / "report.json"), "--region", "us-east-1",
                                 "--namespace", ""])
    assert result.exit_code == 2  # botocore refuses an empty namespace: one line, no traceback
