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
    try:
        sources = expand(paths)
        progress = Progress(
            TextColumn("reading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=console, disable=as_json, transient=True,
        )
        with progress:
            task = progress.add_task("read", total=input_size(sources))
            report = build_report(
                paths, Options(top=top, bin_seconds=bin_seconds), vpc_format=vpc_format,
                advance=lambda n: progress.advance(task, n), sources=sources,
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


@app.command("generate")
def generate_cmd(
    out: Path = typer.Argument(..., help="Directory for logs/ and truth.json"),
    flows: int = typer.Option(6000, help="VPC flow records"),
    requests: int = typer.Option(3000, help="ALB requests"),
    ipv6_share: float = typer.Option(0.6, help="Share of flows that are IPv6 (NAT64 included)"),
    nat64_share: float = typer.Option(0.08, help="Share of flows that are NAT64"),
    seed: int = typer.Option(7),
    as_json: bool = JsonOption,
) -> None:
    """Write synthetic VPC Flow Logs, ALB logs and a pcap, with the figures a report must find."""
    from v6ops.flows.generate import generate

    if not 0 <= nat64_share <= ipv6_share <= 1:
        fail("need 0 <= --nat64-share <= --ipv6-share <= 1")
    if flows < 2 or requests < 1:
        fail("need at least 2 flows and 1 request")
    truth = generate(out, flows=flows, requests=requests, ipv6_share=ipv6_share, nat64_share=nat64_share, seed=seed)
    if as_json:
        print_json(truth)
        return
    print_table(f"Generated in {out}", ["measure", "ipv4", "ipv6", "nat64"], [
        [m, *(truth["adoption"][m].get(c, 0) for c in ("ipv4", "ipv6", "nat64"))]
        for m in ("flows", "packets", "bytes", "requests")
    ])
