"""``v6ops audit``: AWS dual-stack posture and host firewall audits, report verification and diffs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from v6ops.cli.output import JsonOption, console, emit, err_console, fail, print_json, print_table

app = typer.Typer(help="Audit AWS dual-stack posture and host firewalls; verify and diff reports.", no_args_is_help=True)

FormatOption = typer.Option(None, "--format", help="Report file format: json, markdown or sarif (default: from --output's suffix)")
OutputOption = typer.Option(None, "--output", "-o", help="Write the report to this file (.json, .md, .sarif)")
FailOnOption = typer.Option(None, "--fail-on", help="Exit 3 when a finding of this severity or worse exists (HIGH, MEDIUM, LOW), "
                            "for CI gates; the report is written first")


def _show(report: dict[str, Any]) -> None:
    rows = [(f["severity"], f["check_id"], f"{f['account']}/{f['region']}".strip("/"), f["resource_id"], f["message"])
            for f in report["findings"]]
    print_table(f"{report['kind']} audit findings", ["severity", "check", "scope", "resource", "finding"], rows)
    _summary(report)


def _summary(report: dict[str, Any]) -> None:
    s = report["summary"]
    console.print(f"status {report['compliance_status']}  findings {s['findings']}  "
                  + "  ".join(f"{k} {v}" for k, v in s["by_severity"].items())
                  + f"  sha256 {report['findings_sha256']}", highlight=False, soft_wrap=True)


def _finish(report: dict[str, Any], output: Path | None, fmt: str | None, as_json: bool, fail_on: str | None) -> None:
    _present(report, output, fmt, as_json)
    if fail_on is not None:
        from v6ops.audit.findings import SEVERITIES

        worst = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
        if any(report["summary"]["by_severity"][s] for s in worst):
            raise typer.Exit(3)


def _check_fail_on(fail_on: str | None) -> str | None:
    from v6ops.audit.findings import SEVERITIES

    if fail_on is not None and fail_on.upper() not in SEVERITIES:
        fail(f"--fail-on {fail_on!r}: one of {', '.join(SEVERITIES)}")
    return fail_on.upper() if fail_on else None


def _present(report: dict[str, Any], output: Path | None, fmt: str | None, as_json: bool) -> None:
    from v6ops.audit import checks_for
    from v6ops.audit.report import ReportError, format_for, render

    if output is not None:
        try:
            text = render(report, format_for(output, fmt), checks_for(report["kind"]))
        except ReportError as exc:
            fail(str(exc))
        try:
            output.write_text(text)
        except OSError as exc:
            fail(f"{output}: cannot write: {exc.strerror}")
        if not as_json:  # the file has the findings; the terminal gets the verdict
            _summary(report)
            console.print(f"written {output}", highlight=False, soft_wrap=True)
            return
    elif fmt and fmt != "json" and not as_json:
        try:
            typer.echo(render(report, fmt, checks_for(report["kind"])), nl=False)
        except ReportError as exc:
            fail(str(exc))
        return
    emit(report, as_json, _show)


@app.command("aws")
def aws_cmd(
    source: Path = typer.Option(None, "--from", help="Directory of AWS CLI JSON (any names; accounts/regions as directories)"),
    profile: str = typer.Option(None, "--profile", help="AWS profile for a live audit through boto3"),
    region: list[str] = typer.Option(None, "--region", help="Region (repeat for several); with --from, for files that do not say"),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="Live audit against another endpoint (moto, LocalStack)"),
    fmt: str = FormatOption,
    output: Path = OutputOption,
    fail_on: str = FailOnOption,
    as_json: bool = JsonOption,
) -> None:
    """Audit VPCs, subnets, security groups, NACLs, routes, flow logs and load balancers for dual-stack posture."""
    from v6ops.audit import AwsInputError, aws_report_from_directory, aws_report_live
    from v6ops.audit.aws_inputs import count_files

    gate = _check_fail_on(fail_on)
    try:
        if source is not None:
            if profile or endpoint_url:
                fail("--from reads exported JSON; --profile and --endpoint-url are for a live audit")
            if region and len(region) > 1:
                fail("--from takes at most one --region (for files whose region the tree does not say)")
            progress = Progress(TextColumn("reading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=err_console, disable=as_json, transient=True)
            with progress:
                task = progress.add_task("read", total=count_files(source) if source.is_dir() else 0)
                report = aws_report_from_directory(source, region=region[0] if region else None,
                                                   advance=lambda n: progress.advance(task, n))
        else:
            if not region:
                fail("pass --from DIR, or --region (and --profile) for a live audit")
            report = aws_report_live(list(region), profile=profile, endpoint_url=endpoint_url)
    except AwsInputError as exc:
        fail(str(exc))
    _finish(report, output, fmt, as_json, gate)


@app.command("host")
def host_cmd(
    iptables: Path = typer.Option(None, "--iptables", help="iptables-save output"),
    ip6tables: Path = typer.Option(None, "--ip6tables", help="ip6tables-save output"),
    nft: Path = typer.Option(None, "--nft", help="nft -j list ruleset output (or nft list ruleset text: read by nft, needs root)"),
    ss: Path = typer.Option(None, "--ss", help="ss -lntuH output"),
    live: bool = typer.Option(False, "--live", help="Run iptables-save, ip6tables-save, nft and ss on this host"),
    netns: str = typer.Option(None, "--netns", help="With --live: run them inside this network namespace"),
    host: str = typer.Option("localhost", "--host", help="Name for the host in the findings"),
    fmt: str = FormatOption,
    output: Path = OutputOption,
    fail_on: str = FailOnOption,
    as_json: bool = JsonOption,
) -> None:
    """Firewall parity (IPv6 open where IPv4 filters), RFC 4890 ICMPv6, default policy, RH0, listener parity."""
    from v6ops.audit.host import collect_live, host_report, read_inputs
    from v6ops.audit.host_rules import HostInputError

    gate = _check_fail_on(fail_on)
    files = [p for p in (iptables, ip6tables, nft, ss) if p is not None]
    if live == bool(files):
        fail("pass --live, or the files to audit (--iptables, --ip6tables, --nft, --ss)")
    if netns and not live:
        fail("--netns goes with --live")
    try:
        inputs = collect_live(netns) if live else read_inputs(iptables, ip6tables, nft, ss)
        if not live and inputs.iptables is None and inputs.ip6tables is None and inputs.nft_json is None:
            fail("a firewall input is needed: --iptables/--ip6tables or --nft")
        report = host_report(inputs, host, "live" if live else "files")
    except HostInputError as exc:
        fail(str(exc))
    _finish(report, output, fmt, as_json, gate)


@app.command("verify")
def verify_cmd(report_path: Path = typer.Argument(..., metavar="REPORT"), as_json: bool = JsonOption) -> None:
    """Recompute a report's findings SHA-256, status and counts; exit 1 if anything differs."""
    from v6ops.audit.report import ReportError, load_report, verify

    try:
        result = verify(load_report(report_path))
    except ReportError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    elif result["ok"]:
        console.print(f"{report_path}: OK sha256 {result['findings_sha256']} ({result['findings']} findings, "
                      f"{result['compliance_status']})", highlight=False, soft_wrap=True)
    else:
        print_table(f"{report_path}: verification FAILED", ["problem"], [(p,) for p in result["problems"]])
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("diff")
def diff_cmd(old: Path = typer.Argument(..., metavar="OLD"), new: Path = typer.Argument(..., metavar="NEW"),
             as_json: bool = JsonOption) -> None:
    """New, fixed and unchanged findings between two audit reports."""
    from v6ops.audit.report import ReportError, diff, load_report

    try:
        result = diff(load_report(old), load_report(new))
    except ReportError as exc:
        fail(str(exc))

    def show(d: dict[str, Any]) -> None:
        rows = [(change, f["severity"], f["check_id"], f["resource_id"], f["message"])
                for change in ("new", "fixed") for f in d[f"{change}_findings"]]
        print_table("audit diff", ["change", "severity", "check", "resource", "finding"], rows)
        console.print("  ".join(f"{k} {v}" for k, v in d["summary"].items()), highlight=False)

    emit(result, as_json, show)
