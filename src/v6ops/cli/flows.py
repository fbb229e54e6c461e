"""``v6ops flows``: flow and access-log reports, and synthetic logs with known truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from v6ops.cli.output import JsonOption, console, fail, print_json, print_table

app = typer.Typer(help="Flow and access-log analytics: VPC Flow Logs, ALB logs, pcaps.", no_args_is_help=True)


ON_TERMINAL = ("Summary", "IPv6 adoption", "Accept / reject")  # and every "Top ..." list


def _render(report: dict[str, Any], written: dict[str, str] | None) -> None:
    from v6ops.flows.render import sections

    for title, headers, rows in sections(report):
        if title in ON_TERMINAL or title.startswith("Top "):
            print_table(title, headers, rows)
    if written is not None:
        print_table("Written", ["output", "path"], sorted(written.items()))


@app.command("report")
def report_cmd(
    paths: list[str] = typer.Argument(..., metavar="PATH...", help="Files, directories, globs or s3://bucket/prefix"),
    out: Path = typer.Option(None, "--out", help="Also write report.json, report.md, report.html and metrics.prom here"),
    vpc_format: str = typer.Option(None, "--format", help="VPC custom format for files without a header line"),
    top: int = typer.Option(10, help="Entries in each top list"),
    bin_seconds: int = typer.Option(None, help="Trend bin size (default: chosen from the records' time span)"),
    detections: bool = typer.Option(False, "--detections", help="Add the threat detections (reads rows)"),
    rules: Path = typer.Option(None, "--rules", help="Detection rules file (implies --detections)"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (this process) or spark"),
    master: str = typer.Option(None, "--master", help="Spark master URL (local[2], spark://host:7077, k8s://..., yarn)"),
    as_json: bool = JsonOption,
) -> None:
    """Read logs and captures and run every analysis: summary, adoption and top lists on the terminal
    (``--json``: the whole report); with ``--out DIR`` also JSON, Markdown, HTML and Prometheus files."""
    from v6ops.flows.analyses import Options
    from v6ops.flows.pipeline import build_report, input_size
    from v6ops.flows.problems import FlowInputError
    from v6ops.flows.render import write_outputs
    from v6ops.flows.sources import expand

    if top < 1:
        fail(f"--top must be at least 1, not {top}")
    detect = _detection_config(rules) if detections or rules is not None else None
    try:
        sources = expand(paths) if engine != "spark" else None  # Spark lists the inputs on the cluster
        progress = Progress(
            TextColumn("reading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=console, disable=as_json, transient=True,
        )
        with progress:
            task = progress.add_task("read", total=input_size(sources) if sources is not None else None)
            report = build_report(
                paths, Options(top=top, bin_seconds=bin_seconds), vpc_format=vpc_format,
                advance=lambda n: progress.advance(task, n), sources=sources, detect=detect, engine_name=engine,
                master=master,
            )
    except FlowInputError as exc:
        fail(str(exc))
    inputs = report["inputs"]
    if inputs["records_read"] == 0 and inputs["file_errors"]:
        fail("; ".join(f"{e['error']}" for e in inputs["file_errors"]))
    written = write_outputs(report, out) if out is not None else None
    if as_json:
        print_json(report)
    else:
        _render(report, written)
        for error in inputs["file_errors"]:
            console.print(f"[yellow]file error:[/yellow] {error['error']}", highlight=False)


def _detection_config(path: Path | None) -> Any:
    """The rules file (YAML or JSON, docs/flows.md "Detections"), or the defaults."""
    import yaml
    from pydantic import ValidationError

    from v6ops.flows.detections import DetectionConfig

    if path is None:
        return DetectionConfig()
    try:
        data = yaml.safe_load(path.read_text())
        return DetectionConfig.model_validate(data or {})
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"{path}: not YAML or JSON: {str(exc).splitlines()[0]}")
    except ValidationError as exc:
        problem = exc.errors()[0]
        fail(f"{path}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}")
    except ValueError as exc:
        fail(f"{path}: {exc}")


@app.command("detect")
def detect_cmd(
    paths: list[str] = typer.Argument(..., metavar="PATH...", help="Files, directories, globs or s3://bucket/prefix"),
    rules: Path = typer.Option(None, "--rules", help="Detection rules, exemptions, internet-facing ENIs (YAML/JSON)"),
    vpc_format: str = typer.Option(None, "--format", help="VPC custom format for files without a header line"),
    events: Path = typer.Option(None, "--events", help="Append each detection as a security event (JSON Lines)"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (this process) or spark"),
    master: str = typer.Option(None, "--master", help="Spark master URL (local[2], spark://host:7077, k8s://..., yarn)"),
    as_json: bool = JsonOption,
) -> None:
    """Threat detections on event time: port and address scans, volume, rejections, bogon sources."""
    from v6ops.events import EventValueError
    from v6ops.events.jsonl import JsonLinesSink
    from v6ops.flows.pipeline import detect_threats
    from v6ops.flows.problems import FlowInputError

    config = _detection_config(rules)
    try:
        sink = JsonLinesSink(events) if events is not None else None
    except EventValueError as exc:
        fail(str(exc))
    try:
        result = detect_threats(paths, config, vpc_format=vpc_format, sink=sink, engine_name=engine, master=master)
    except FlowInputError as exc:
        fail(str(exc))
    finally:
        if sink is not None:
            sink.close()
    inputs = result["inputs"]
    if inputs["records_read"] == 0 and inputs["file_errors"]:
        fail("; ".join(f"{e['error']}" for e in inputs["file_errors"]))
    if as_json:
        print_json(result)
        return
    print_table("Detections", ["first seen", "last seen", "kind", "source", "severity", "peak", "rule", "targets"], [
        [e["first_seen"], e["last_seen"], e["kind"], e["source"], e["severity"], e["peak"], e["rule"],
         " ".join(e["evidence"].get("targets", []))]
        for e in result["detections"]
    ])


@app.command("watch")
def watch_cmd(
    location: str = typer.Argument(..., metavar="DIR|s3://bucket/prefix", help="Where new log files arrive"),
    state: Path = typer.Option(..., "--state", help="State directory (rows read, files read, events sent)"),
    out: Path = typer.Option(..., "--out", help="Directory for report.json/.md/.html, metrics.prom and watch.prom"),
    rules: Path = typer.Option(None, "--rules", help="Detection rules file (YAML/JSON)"),
    events: Path = typer.Option(None, "--events", help="Append detections and alarm transitions (JSON Lines)"),
    syslog: str = typer.Option(None, "--syslog", help="Also send them as RFC 5424 + CEF to udp://, tcp:// or tls://host:port"),
    syslog_ca: Path = typer.Option(None, "--syslog-ca", help="CA bundle for a tls:// syslog receiver"),
    interval: float = typer.Option(5.0, "--interval", help="Seconds between polls"),
    settle: float = typer.Option(2.0, "--settle", help="A local file must be unchanged this long before it is read"),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3 endpoint (moto, MinIO, LocalStack) for s3:// URLs"),
    once: bool = typer.Option(False, "--once", help="Poll twice (to see local files settle), then exit"),
    as_json: bool = JsonOption,
) -> None:
    """Follow mode: read new files as they arrive (each once, in name order) and keep the report current."""
    import time

    from botocore.exceptions import BotoCoreError, ClientError

    from v6ops.events import EventValueError, FanOut, Sink
    from v6ops.events.jsonl import JsonLinesSink
    from v6ops.flows.problems import FlowInputError
    from v6ops.flows.sources import connect_s3
    from v6ops.flows.watch import Watcher
    from v6ops.policy.event_pipeline import syslog_sink, syslog_target

    config = _detection_config(rules)
    if endpoint_url is not None and not location.startswith("s3://"):
        fail("--endpoint-url is for an s3://bucket/prefix location")
    try:
        sinks: list[Sink] = [JsonLinesSink(events)] if events is not None else []
        if syslog is not None:  # undelivered TCP/TLS events are spooled in the state directory
            sinks.append(syslog_sink(syslog_target(syslog), syslog_ca, state / "spool"))
        sink = FanOut(*sinks) if sinks else None
        client = connect_s3(endpoint_url) if location.startswith("s3://") else None
        watcher = Watcher(location, state, out, sink, config, settle=settle, s3_client=client)
    except ValueError as exc:  # EventValueError included: an unwritable event file, a missing directory
        fail(str(exc))
    polls = 0
    try:
        while True:
            result = watcher.poll()
            polls += 1
            for name in result.read:
                if as_json:
                    print_json({"read": name, "events_sent": result.events})
                else:
                    console.print(f"read {name} ({result.events} events sent)", highlight=False)
            for name in result.changed:
                if as_json:
                    print_json({"changed_after_read": name})
                else:
                    console.print(f"[yellow]changed after it was read, not read again:[/yellow] {name}", highlight=False)
            if once and polls >= 2:
                break
            time.sleep(settle if once else interval)
    except KeyboardInterrupt:
        pass
    except (EventValueError, FlowInputError) as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:  # no credentials, no such bucket, endpoint unreachable
        fail(f"{location}: {exc}")
    finally:
        watcher.close()
        if sink is not None:
            sink.close()


@app.command("dashboard")
def dashboard_cmd(
    grafana_out: Path = typer.Option(..., "--grafana", help="Write the Grafana dashboard JSON here"),
    rules_out: Path = typer.Option(None, "--rules", help="Also write its PromQL as a rules file (promtool check rules)"),
    as_json: bool = JsonOption,
) -> None:
    """The Grafana dashboard over the metrics v6ops exports (import it, or provision it as is)."""
    from v6ops.flows import grafana

    written = {"grafana": grafana_out}
    try:
        grafana_out.write_text(grafana.dashboard_json())
        if rules_out is not None:
            rules_out.write_text(grafana.rules())
            written["rules"] = rules_out
    except OSError as exc:
        fail(f"cannot write: {exc}")
    summary = {"panels": len(grafana.PANELS), "expressions": len(grafana.expressions()),
               **{k: str(v) for k, v in written.items()}}
    if as_json:
        print_json(summary)
    else:
        print_table("Written", ["output", "path"], sorted((k, str(v)) for k, v in written.items()))


@app.command("cloudwatch")
def cloudwatch_cmd(
    report_path: Path = typer.Argument(..., metavar="REPORT.json", help="A report written by v6ops flows report"),
    namespace: str = typer.Option("AWS/VPC/IPv6", "--namespace", help="CloudWatch namespace (the seed's by default)"),
    dashboard: str = typer.Option(None, "--dashboard", help="Also create or replace this dashboard"),
    alarms: bool = typer.Option(False, "--alarms", help="Also create the seed's three alarms"),
    region: str = typer.Option(None, "--region", help="AWS region (default: the boto3 configuration's)"),
    as_json: bool = JsonOption,
) -> None:
    """Publish a report's metrics with PutMetricData (batched), and the seed's dashboard and alarms."""
    import json

    import boto3

    from v6ops.flows import cloudwatch

    try:
        report = json.loads(report_path.read_text())
        series = {m: {int(t): float(v) for t, v in points} for m, points in report["metrics"]["series"].items()}
    except OSError as exc:
        fail(f"{report_path}: cannot read: {exc.strerror}")
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{report_path}: not a v6ops flows report with metrics ({exc})")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("cloudwatch", region_name=region)
        sent: dict[str, Any] = cloudwatch.publish(client, series, namespace)
        if alarms:
            sent["alarms"] = len(cloudwatch.put_alarms(client, namespace=namespace))
        if dashboard:
            sent["dashboard_messages"] = cloudwatch.put_dashboard(client, dashboard, namespace,
                                                                  client.meta.region_name)
    except (cloudwatch.CloudWatchValueError, BotoCoreError, ClientError) as exc:
        fail(str(exc))
    if as_json:
        print_json(sent)
    else:
        print_table(f"CloudWatch {namespace}", ["what", "count"], [[k, v] for k, v in sent.items()])


@app.command("generate")
def generate_cmd(
    out: Path = typer.Argument(..., help="Directory for logs/ and truth.json"),
    flows: int = typer.Option(6000, help="VPC flow records"),
    requests: int = typer.Option(3000, help="ALB requests"),
    ipv6_share: float = typer.Option(0.6, help="Share of flows that are IPv6 (NAT64 included)"),
    nat64_share: float = typer.Option(0.08, help="Share of flows that are NAT64"),
    seed: int = typer.Option(7),
    attacks: bool = typer.Option(False, "--attacks", help="Also plant attacks (logs/attacks.log, attacks.json)"),
    as_json: bool = JsonOption,
) -> None:
    """Write synthetic VPC Flow Logs, ALB logs and a pcap, with the figures a report must find."""
    from v6ops.flows.attacks import plant
    from v6ops.flows.generate import generate

    if not 0 <= nat64_share <= ipv6_share <= 1:
        fail("need 0 <= --nat64-share <= --ipv6-share <= 1")
    if flows < 2 or requests < 1:
        fail("need at least 2 flows and 1 request")
    truth = generate(out, flows=flows, requests=requests, ipv6_share=ipv6_share, nat64_share=nat64_share, seed=seed)
    if attacks:
        truth["attacks"] = [case.__dict__ for case in plant(out, seed=seed)]
    if as_json:
        print_json(truth)
        return
    print_table(f"Generated in {out}", ["measure", "ipv4", "ipv6", "nat64"], [
        [m, *(truth["adoption"][m].get(c, 0) for c in ("ipv4", "ipv6", "nat64"))]
        for m in ("flows", "packets", "bytes", "requests")
    ])
