"""``v6ops migrate``: phase plan with readiness from audits, adoption/performance verdicts, subnet planner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from v6ops.cli.output import JsonOption, console, emit, fail, print_table

app = typer.Typer(help="Track an IPv6 migration: phases, adoption verdicts, deterministic subnet plans.", no_args_is_help=True)


def _load(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path}: not JSON ({what}): {exc}")
    if not isinstance(value, dict):
        fail(f"{path}: not a {what}")
    return value


def _verdicts(flows: Path) -> dict[str, Any]:
    from v6ops.audit.migrate import MigrationInputError, flow_verdicts

    try:
        return flow_verdicts(_load(flows, "flows report"), str(flows))
    except MigrationInputError as exc:
        fail(str(exc))


@app.command("plan")
def plan_cmd(
    audit: list[Path] = typer.Option(None, "--audit", help="An audit report (v6ops audit ... -o FILE.json); repeat"),
    flows: Path = typer.Option(None, "--flows", help="v6ops flows report JSON (report.json) for adoption and performance"),
    as_json: bool = JsonOption,
) -> None:
    """The seed's four phases with per-phase readiness from audit findings and flow verdicts."""
    from v6ops.audit.migrate import migration_plan
    from v6ops.audit.report import ReportError, load_report

    if not audit and flows is None:
        fail("pass at least one --audit report or --flows report")
    try:
        reports = [load_report(p) for p in audit or []]
    except ReportError as exc:
        fail(str(exc))
    plan = migration_plan(reports, _verdicts(flows) if flows else None)

    def show(p: dict[str, Any]) -> None:
        print_table("migration phases", ["phase", "months", "status", "readiness %", "HIGH", "MEDIUM", "LOW", "can start"],
                    [(x["phase"], x["months"], x["status"], x["readiness_percent"], *x["findings"].values(), x["can_start"])
                     for x in p["phases"]])
        console.print(f"current phase: {p['current_phase']}", highlight=False)
    emit(plan, as_json, show)


@app.command("verdicts")
def verdicts_cmd(flows: Path = typer.Argument(..., metavar="FLOWS_REPORT"), as_json: bool = JsonOption) -> None:
    """Adoption (>50% successful, 25-50% monitor, <25% investigate) and performance (+-5% parity) verdicts."""
    v = _verdicts(flows)

    def show(d: dict[str, Any]) -> None:
        a, p = d["adoption"], d["performance"]
        print_table("migration verdicts", ["measure", "value", "verdict"], [
            (f"IPv6 share of {a['measure']}", f"{a['ipv6_percent']}%", a["verdict"]),
            ("IPv6 vs IPv4 mean latency", None if p["delta_percent"] is None else f"{p['delta_percent']:+}%", p["verdict"]),
        ])
    emit(v, as_json, show)


def _request(text: str) -> Any:
    from v6ops.audit.migrate import SubnetRequest

    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 4:
        fail(f"--subnet {text!r}: NAME:TIER[:INDEX[:AZ]] expected")
    try:
        index = int(parts[2]) if len(parts) > 2 and parts[2] != "" else None
        az = int(parts[3]) if len(parts) > 3 else 0
    except ValueError:
        fail(f"--subnet {text!r}: INDEX and AZ are numbers")
    return SubnetRequest(parts[0], parts[1], index, az)


def _existing(paths: list[Path]) -> list[str]:
    """/64s already in use, from describe-subnets JSON."""
    out = []
    for path in paths:
        doc = _load(path, "ec2 describe-subnets output")
        if not isinstance(doc.get("Subnets"), list):
            fail(f"{path}: not ec2 describe-subnets output (no Subnets list)")
        for s in doc["Subnets"]:
            out += [a["Ipv6CidrBlock"] for a in s.get("Ipv6CidrBlockAssociationSet", []) if a.get("Ipv6CidrBlock")]
    return out


@app.command("subnets")
def subnets_cmd(
    vpc_ipv6: str = typer.Option(..., "--vpc-ipv6", help="The VPC's IPv6 /56"),
    subnet: list[str] = typer.Option(..., "--subnet", help="NAME:TIER[:INDEX[:AZ]] (tiers public, private, isolated, spare)"),
    vpc_ipv4: str = typer.Option(None, "--vpc-ipv4", help="The VPC's IPv4 CIDR: each subnet also gets the /24 of the same number"),
    existing: list[Path] = typer.Option(None, "--existing", help="describe-subnets JSON: /64s already used are never handed out"),
    fmt: str = typer.Option("table", "--format", help="table, cloudformation or terraform"),
    output: Path = typer.Option(None, "--output", "-o", help="Write the CloudFormation/Terraform here"),
    as_json: bool = JsonOption,
) -> None:
    """Carve /64s out of a VPC /56 by tier and index; emit CloudFormation or Terraform."""
    from v6ops.audit.migrate import MigrationInputError, cloudformation, plan_subnets, terraform

    if fmt not in ("table", "cloudformation", "terraform"):
        fail(f"--format {fmt!r}: one of table, cloudformation, terraform")
    try:
        planned = plan_subnets(vpc_ipv6, [_request(s) for s in subnet], _existing(existing or []), vpc_ipv4)
    except MigrationInputError as exc:
        fail(str(exc))
    if fmt != "table":
        text = (cloudformation if fmt == "cloudformation" else terraform)(planned, vpc_ipv6)
        if output:
            output.write_text(text)
        elif not as_json:
            typer.echo(text, nl=False)
            return
    emit([s.to_dict() for s in planned], as_json, lambda rows: print_table(
        f"subnets of {vpc_ipv6}", ["name", "tier", "index", "slot", "IPv6", "IPv4", "AZ"],
        [(r["name"], r["tier"], r["index"], r["slot"], r["ipv6_cidr"], r["ipv4_cidr"], r["az"]) for r in rows]))
