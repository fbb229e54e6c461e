"""``/api/v1/audit``: the same report objects as ``v6ops audit ... --json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

router = APIRouter(prefix="/audit", tags=["audit"])


class AwsAuditRequest(BaseModel):
    path: str = Field(description="Directory of AWS CLI JSON under the data directory")
    region: str | None = Field(default=None, description="Region for files whose region the tree does not say")
    format: Literal["json", "markdown", "sarif"] = "json"


class DiffRequest(BaseModel):
    old: dict[str, Any]
    new: dict[str, Any]


def inside_data_dir(request: Request, text: str) -> Path:
    """The API reads only under the data directory."""
    root = Path(request.app.state.settings.data_dir).resolve()
    path = (root / text).resolve()
    if not (path == root or root in path.parents):
        raise HTTPException(status_code=403, detail=f"{text}: outside the data directory {root}")
    return path


def respond(report: dict[str, Any], fmt: str) -> Any:
    from v6ops.audit import checks_for
    from v6ops.audit.report import render

    if fmt == "json":
        return report
    media = "text/markdown" if fmt == "markdown" else "application/sarif+json"
    return (PlainTextResponse if fmt == "markdown" else Response)(render(report, fmt, checks_for(report["kind"])), media_type=media)


@router.post("/aws")
def audit_aws(body: AwsAuditRequest, request: Request) -> Any:
    """Audit exported AWS CLI JSON (the live boto3 audit is CLI-only: the server holds no AWS credentials)."""
    from v6ops.audit import AwsInputError, aws_report_from_directory

    path = inside_data_dir(request, body.path)
    try:
        report = aws_report_from_directory(path, region=body.region)
    except AwsInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    report["inputs"]["path"] = body.path  # the caller's name for it, not the server's layout
    return respond(report, body.format)


class HostAuditRequest(BaseModel):
    iptables_save: str | None = Field(default=None, description="iptables-save output")
    ip6tables_save: str | None = Field(default=None, description="ip6tables-save output")
    nft_json: str | None = Field(default=None, description="nft -j list ruleset output")
    ss: str | None = Field(default=None, description="ss -lntuH output")
    host: str = "localhost"
    format: Literal["json", "markdown", "sarif"] = "json"


@router.post("/host")
def audit_host(body: HostAuditRequest) -> Any:
    """Audit posted firewall and listener outputs (the server never inspects its own firewall here)."""
    from v6ops.audit.host import HostInputs, host_report
    from v6ops.audit.host_rules import HostInputError

    if body.iptables_save is None and body.ip6tables_save is None and body.nft_json is None:
        raise HTTPException(status_code=400, detail="a firewall input is needed: iptables_save/ip6tables_save or nft_json")
    inputs = HostInputs(body.iptables_save, body.ip6tables_save, body.nft_json, body.ss,
                        {"iptables": "iptables_save", "ip6tables": "ip6tables_save", "nft": "nft_json", "ss": "ss"})
    try:
        report = host_report(inputs, body.host, "posted")
    except HostInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return respond(report, body.format)


def _report(value: dict[str, Any], name: str) -> dict[str, Any]:
    from v6ops.audit.report import REPORT_FORMAT

    if value.get("format") != REPORT_FORMAT or not isinstance(value.get("findings"), list):
        raise HTTPException(status_code=400, detail=f"{name}: not a v6ops audit report (format {REPORT_FORMAT!r})")
    return value


@router.post("/verify")
def verify_report(report: dict[str, Any]) -> dict[str, Any]:
    """Recompute the findings hash of a posted report (the body is the report JSON)."""
    from v6ops.audit.report import verify

    return verify(_report(report, "body"))


@router.post("/diff")
def diff_reports(body: DiffRequest) -> dict[str, Any]:
    from v6ops.audit.report import diff

    return diff(_report(body.old, "old"), _report(body.new, "new"))
