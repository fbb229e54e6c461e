"""``/api/v1/flows``: the same JSON report as ``v6ops flows report --json``, for posted paths or an upload."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from v6ops.api.auth import needs, principal
from v6ops.auth.credentials import Principal, Role

router = APIRouter(prefix="/flows", tags=["flows"])
READS = needs(Role.VIEWER)  # a report reads logs and changes nothing

MAX_UPLOAD_BYTES = 512 << 20


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(min_length=1, max_length=1000, description="Files, directories or globs under the data "
                             "directory, or s3://bucket/prefix URLs")
    format: str | None = Field(default=None, description="VPC custom format for files without a header line")
    top: int = Field(default=10, ge=1, le=1000)
    bin_seconds: int | None = Field(default=None, ge=1, le=86400 * 366)

    @field_validator("paths")
    @classmethod
    def _printable(cls, paths: list[str]) -> list[str]:
        # A NUL or other control character in a path made Path.resolve raise (a 500 schemathesis found).
        for path in paths:
            if not path or any(ord(c) < 32 or ord(c) == 127 for c in path):
                raise ValueError(f"path {path!r} is empty or has control characters")
        return paths


def _report(paths: list[str], body: ReportRequest | None = None) -> dict[str, Any]:
    from v6ops.flows.analyses import Options
    from v6ops.flows.pipeline import build_report
    from v6ops.flows.problems import FlowInputError

    options = Options(top=body.top, bin_seconds=body.bin_seconds) if body else Options()
    try:
        report = build_report(paths, options, vpc_format=body.format if body else None)
    except FlowInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    if report["inputs"]["records_read"] == 0 and report["inputs"]["file_errors"]:
        raise HTTPException(status_code=422, detail=[e["error"] for e in report["inputs"]["file_errors"]])
    return report


def _mark_ingest(request: Request, report: dict[str, Any]) -> None:
    """Remember when the last flow report ran (``/health/ipv6`` checks its age)."""
    from v6ops.ipam.engine import utcnow
    from v6ops.store.db import open_store
    from v6ops.store.service_models import beat

    with open_store(request.app.state.settings.resolved_database_url()).write() as session:
        beat(session, "flows.report", utcnow(), records=report["inputs"]["records_read"])


def _inside(data_dir: Path, text: str) -> str:
    """Local paths must stay under the data directory: the API never reads arbitrary server files."""
    if text.startswith("s3://"):
        return text
    root = data_dir.resolve()
    path = (root / text).resolve() if not Path(text).is_absolute() else Path(text).resolve()
    base = Path(str(path).split("*", 1)[0].split("?", 1)[0])
    if not (base == root or root in base.parents):
        raise HTTPException(status_code=403, detail=f"{text}: outside the data directory {root}")
    return str(path)


@router.post("/report", openapi_extra=READS)
def report_for_paths(body: ReportRequest, request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    """Report over files already on the server (under the data directory) or in S3; not for tenant-scoped
    callers (the server's logs hold every tenant's flows): they upload their own."""
    if who.tenant is not None:
        raise HTTPException(403, f"reports over server files cover every tenant; {who.name!r} is scoped to "
                            f"tenant {who.tenant!r}: upload a log to /api/v1/flows/report/upload instead")
    data_dir = request.app.state.settings.data_dir
    report = _report([_inside(data_dir, p) for p in body.paths], body)
    _mark_ingest(request, report)
    return report


@router.post("/report/upload", openapi_extra=READS)
async def report_for_upload(
    request: Request, name: str = Query("upload.log", description="Name for the uploaded file in the report"),
) -> dict[str, Any]:
    """Report over one uploaded log or capture sent as the raw request body (gzip allowed)."""
    if "/" in name or name.startswith(".") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise HTTPException(status_code=400, detail=f"{name!r}: a plain file name is needed")
    data = await request.body()
    if not data:
        raise HTTPException(status_code=400, detail="empty upload: send the log as the request body")
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(status_code=413, detail=f"upload larger than {MAX_UPLOAD_BYTES} bytes")
    with tempfile.TemporaryDirectory(prefix="v6ops-flows-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        report = await run_in_threadpool(_report, [str(path)])
    await run_in_threadpool(_mark_ingest, request, report)
    return report


class DetectRequest(BaseModel):
    paths: list[str] = Field(min_length=1, description="Files, directories or globs under the data directory, "
                             "or s3://bucket/prefix URLs")
    format: str | None = Field(default=None, description="VPC custom format for files without a header line")
    rules: dict[str, Any] | None = Field(default=None, description="Rules, exemptions and internet-facing ENIs "
                                         "(the rules file's content; omitted: the defaults)")


@router.post("/detect")
def detect_for_paths(body: DetectRequest, request: Request) -> dict[str, Any]:
    """The same detections object as ``v6ops flows detect --json``."""
    from pydantic import ValidationError

    from v6ops.flows.detections import DetectionConfig
    from v6ops.flows.pipeline import detect_threats
    from v6ops.flows.problems import FlowInputError

    try:
        config = DetectionConfig.model_validate(body.rules or {})
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise HTTPException(status_code=422, detail=f"rules.{'.'.join(map(str, problem['loc']))}: {problem['msg']}") \
            from exc
    data_dir = request.app.state.settings.data_dir
    try:
        result = detect_threats([_inside(data_dir, p) for p in body.paths], config, vpc_format=body.format)
    except FlowInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    if result["inputs"]["records_read"] == 0 and result["inputs"]["file_errors"]:
        raise HTTPException(status_code=422, detail=[e["error"] for e in result["inputs"]["file_errors"]])
    return result
