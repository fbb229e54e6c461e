"""``/api/v1/migrate``: the same objects as ``v6ops migrate ... --json``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

router = APIRouter(prefix="/migrate", tags=["migrate"])


class PlanRequest(BaseModel):
    audits: list[dict[str, Any]] = Field(default_factory=list, description="Audit reports (v6ops audit ... JSON)")
    flows: dict[str, Any] | None = Field(default=None, description="A v6ops flows report JSON")


class SubnetSpec(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    tier: str
    index: int | None = Field(default=None, ge=0)
    az: int = Field(default=0, ge=0, le=31)


class SubnetsRequest(BaseModel):
    vpc_ipv6: str
    vpc_ipv4: str | None = None
    subnets: list[SubnetSpec] = Field(min_length=1)
    existing: list[str] = Field(default_factory=list, description="IPv6 /64s already used in the VPC")
    format: Literal["json", "cloudformation", "terraform"] = "json"


@router.post("/plan")
def plan(body: PlanRequest) -> dict[str, Any]:
    from v6ops.audit.migrate import MigrationInputError, flow_verdicts, migration_plan
    from v6ops.audit.report import REPORT_FORMAT

    for i, r in enumerate(body.audits):
        if r.get("format") != REPORT_FORMAT or not isinstance(r.get("findings"), list):
            raise HTTPException(status_code=400, detail=f"audits[{i}]: not a v6ops audit report")
    try:
        verdicts = flow_verdicts(body.flows, "flows") if body.flows is not None else None
    except MigrationInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return migration_plan(body.audits, verdicts)


@router.post("/verdicts")
def verdicts(flows: dict[str, Any]) -> dict[str, Any]:
    from v6ops.audit.migrate import MigrationInputError, flow_verdicts

    try:
        return flow_verdicts(flows, "body")
    except MigrationInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


@router.post("/subnets")
def subnets(body: SubnetsRequest) -> Any:
    from v6ops.audit.migrate import MigrationInputError, SubnetRequest, cloudformation, plan_subnets, terraform

    try:
        planned = plan_subnets(body.vpc_ipv6, [SubnetRequest(s.name, s.tier, s.index, s.az) for s in body.subnets],
                               body.existing, body.vpc_ipv4)
    except MigrationInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    if body.format == "json":
        return [s.to_dict() for s in planned]
    render = cloudformation if body.format == "cloudformation" else terraform
    return PlainTextResponse(render(planned, body.vpc_ipv6))
