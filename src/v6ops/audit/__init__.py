"""v6ops.audit: cloud (AWS) and host firewall audits, their findings and reports, migration tracking."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from v6ops.audit.aws_inputs import AwsInputError, Scope, collect_live, load_directory, no_cyclic_gc
from v6ops.audit.report import ReportError, build_report


def _inputs(scopes: list[Scope], **extra: Any) -> dict[str, Any]:
    return {**extra, "scopes": [{"account": s.account, "region": s.region,
                                 "resources": {k: len(v) for k, v in sorted(s.data.items())}} for s in scopes]}


def aws_report(scopes: list[Scope], **inputs: Any) -> dict[str, Any]:
    from v6ops.audit.aws_checks import CHECKS, audit_scopes

    with no_cyclic_gc():
        return build_report("aws", audit_scopes(scopes), CHECKS, _inputs(scopes, **inputs))


def aws_report_from_directory(path: str | Path, region: str | None = None,
                              advance: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Audit a tree of AWS CLI JSON; AwsInputError names the file for bad input. ``advance(1)`` per file read."""
    with no_cyclic_gc():
        return aws_report(load_directory(path, region=region, advance=advance), mode="directory", path=str(path))


def aws_report_live(regions: list[str], profile: str | None = None, session: Any | None = None,
                    endpoint_url: str | None = None) -> dict[str, Any]:
    return aws_report(collect_live(regions, profile, session, endpoint_url), mode="live", profile=profile or "default")


def checks_for(kind: str) -> dict[str, Any]:
    """The check catalogue of a report kind, for SARIF rules."""
    if kind == "aws":
        from v6ops.audit.aws_checks import CHECKS
        return dict(CHECKS)
    if kind == "host":
        from v6ops.audit.host import CHECKS as HOST_CHECKS
        return dict(HOST_CHECKS)
    raise ReportError(f"unknown audit kind {kind!r}")


__all__ = ["AwsInputError", "ReportError", "aws_report", "aws_report_from_directory", "aws_report_live", "checks_for"]
