"""``v6ops policy ...``: validate and check compliance of IPv6 security policies.

Commands that apply or compile a policy get it through ``validated_document`` so an
invalid config is never used. Exit codes: 0 fine, 1 the policy has errors or is not
compliant, 2 bad command-line input.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.text import Text

from v6ops.cli import policy_engine, policy_ops
from v6ops.cli.output import JsonOption, console, err_console, fail, print_json, print_table
from v6ops.policy import compliance as compliance_engine
from v6ops.policy import effective
from v6ops.policy.load import load_file
from v6ops.policy.problems import Severity
from v6ops.policy.profiles import all_profile_defaults
from v6ops.policy.schema import ComplianceFramework, PolicyDocument
from v6ops.policy.validate import ValidationReport, report_for

app = typer.Typer(help="IPv6 security policy: validate, compliance, profiles, compile, evaluate, guard.",
                  no_args_is_help=True)
policy_engine.register(app)
policy_ops.register(app)

PolicyFile = typer.Argument(..., metavar="FILE", help="Policy file, JSON or YAML.")


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


def render_problems(report: ValidationReport) -> None:
    if report.problems:
        style = {Severity.ERROR: Text("error", style="red"), Severity.WARNING: Text("warning", style="yellow")}
        print_table(
            f"{report.source}: {report.errors} error(s), {report.warnings} warning(s)",
            ["severity", "path", "problem", "code", "reference"],
            [(style[p.severity], (p.path or "(document)") + (f" (line {p.line})" if p.line else ""), p.message,
              p.code, p.reference) for p in report.problems],
        )
    verdict = "[green]valid[/green]" if report.valid else "[red]invalid[/red]"
    targets = ", ".join(report.targets) or "none"
    console.print(f"{report.source}: {verdict} ({report.shape or 'unrecognised'}; targets: {targets})")


def validated_document(path: Path) -> PolicyDocument:
    """The document at ``path``, or print its problems and exit 1: nothing invalid is ever applied."""
    result = load_file(path)
    report = report_for(result)
    if not report.valid or result.document is None:
        err_console.print(f"[red]error:[/red] {path} is not a valid policy; nothing was applied", highlight=False)
        render_problems(report)
        raise typer.Exit(1)
    return result.document


@app.command("validate")
def validate_cmd(
    file: Path = PolicyFile,
    as_json: bool = JsonOption,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
) -> None:
    """Report every problem in FILE with its field path; exit 1 when there is any error."""
    report = report_for(load_file(file))
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        render_problems(report)
    raise typer.Exit(0 if report.valid and not (strict and report.warnings) else 1)


def _frameworks(names: list[str]) -> list[ComplianceFramework]:
    chosen = []
    for name in names:
        try:
            chosen.append(ComplianceFramework.coerce(name))
        except ValueError as exc:
            fail(f"--framework: {exc}")
    return chosen


@app.command("compliance")
def compliance_cmd(
    file: Path = PolicyFile,
    framework: list[str] = typer.Option(
        [], "--framework", "-f", help="SOC2, PCI_DSS, GDPR, HIPAA, ISO27001; repeat for several "
        "(default: the config's compliance.frameworks, else all)."),
    fmt: ReportFormat = typer.Option(ReportFormat.TABLE, "--format", help="table, json or markdown."),
    as_json: bool = JsonOption,
) -> None:
    """Check FILE against compliance frameworks; exit 1 when a target is not compliant."""
    report = compliance_engine.report_for(load_file(file), _frameworks(framework))
    if as_json or fmt is ReportFormat.JSON:
        print_json(report.model_dump(mode="json"))
    elif fmt is ReportFormat.MARKDOWN:
        typer.echo(compliance_engine.render_markdown(report), nl=False)
    else:
        _render_compliance(report)
    raise typer.Exit(0 if report.compliant else 1)


def _render_compliance(report: compliance_engine.ComplianceReport) -> None:
    if not report.loaded:
        print_table(f"{report.source}: cannot be checked", ["path", "problem"],
                    [(p.path or "(document)", p.message) for p in report.problems])
        return
    for target in report.targets:
        rows = sorted(target.results, key=lambda r: (r.passed, r.framework.number))
        print_table(
            f"{target.target}: {target.state.value} ({target.violations} violation(s); scope {target.scope.value})",
            ["framework", "requirement", "result", "severity", "field", "finding"],
            [(r.framework.value, r.requirement, "pass" if r.passed else Text("FAIL", style="red"), r.severity.value,
              r.field, r.description) for r in rows],
        )


@app.command("show")
def show_cmd(file: Path = PolicyFile, as_json: bool = JsonOption) -> None:
    """The effective policy of each target in FILE and where every value came from (merge order in docs)."""
    report = effective.report_for(load_file(file))
    if as_json:
        print_json(report.model_dump(mode="json"))
    elif not report.loaded:
        print_table(f"{report.source}: cannot be loaded", ["path", "problem"],
                    [(p.path or "(document)", p.message) for p in report.problems])
    else:
        for target in report.targets:
            print_table(f"{target.target} (profile {target.profile}, enabled {target.enabled})",
                        ["field", "value", "from"], [(f.field, f.value, f.source) for f in target.fields])
    raise typer.Exit(0 if report.loaded else 1)


@app.command("profiles")
def profiles_cmd(as_json: bool = JsonOption) -> None:
    """The defaults each security profile fills in (docs/policy-profiles.md)."""
    dumps = all_profile_defaults()
    if as_json:
        print_json(dumps)
        return
    first = next(iter(dumps.values()))
    for section, fields in first.items():
        print_table(section, ["field", *dumps], [(f, *(dumps[p][section][f] for p in dumps)) for f in fields])
