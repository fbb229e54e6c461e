"""``/api/v1/policy``: the same reports as ``v6ops policy validate --json`` and ``compliance --format json``.

A document comes as a JSON object or as JSON/YAML text. ``${VAR}`` references are
kept literally: the server never reads its own environment on behalf of a caller.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from v6ops.api.auth import needs
from v6ops.auth.credentials import Role
from v6ops.policy import compliance as compliance_engine
from v6ops.policy import effective
from v6ops.policy.load import LoadResult, load_data, load_text
from v6ops.policy.profiles import all_profile_defaults
from v6ops.policy.schema import ComplianceFramework
from v6ops.policy.validate import ValidationReport, report_for

router = APIRouter(prefix="/policy", tags=["policy"])
READS = needs(Role.VIEWER)  # these POSTs compute a report and change nothing


def _unprocessable_unless(ok: bool, report: BaseModel) -> Any:
    """The report itself either way; a 422 status when the policy could not be loaded or is invalid."""
    return report if ok else JSONResponse(status_code=422, content=report.model_dump(mode="json"))


class PolicyRequest(BaseModel):
    document: dict[str, Any] | str = Field(description="The policy: a JSON object, or JSON/YAML text.")
    format: Literal["json", "yaml"] | None = Field(default=None, description="Format of text; guessed when absent.")
    name: str = Field(default="request", description="Names the source; its stem names a single target.")

    def load(self) -> LoadResult:
        if isinstance(self.document, str):
            return load_text(self.document, self.name, fmt=self.format, expand=False)
        return load_data(self.document, self.name, expand=False)


class ComplianceRequest(PolicyRequest):
    frameworks: list[str] = Field(default_factory=list, description="Default: each target's configured ones, else all.")


@router.post("/validate", response_model=ValidationReport, openapi_extra=READS,
             responses={422: {"model": ValidationReport, "description": "The policy has errors."}},
             summary="Validate a policy (same object as `v6ops policy validate --json`)")
def validate_policy(request: PolicyRequest) -> Any:
    report = report_for(request.load())
    return _unprocessable_unless(report.valid, report)


@router.post("/compliance", response_model=compliance_engine.ComplianceReport, openapi_extra=READS,
             responses={422: {"model": compliance_engine.ComplianceReport, "description": "Unloadable policy."}},
             summary="Compliance report (same object as `v6ops policy compliance --format json`)")
def check_compliance(request: ComplianceRequest) -> Any:
    try:
        frameworks = [ComplianceFramework.coerce(name) for name in request.frameworks]
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"frameworks: {exc}") from exc
    report = compliance_engine.report_for(request.load(), frameworks)
    return _unprocessable_unless(report.loaded, report)


@router.post("/effective", response_model=effective.EffectiveReport, openapi_extra=READS,
             responses={422: {"model": effective.EffectiveReport, "description": "Unloadable policy."}},
             summary="Effective policy per target with the source of each value (same as `v6ops policy show --json`)")
def effective_policy(request: PolicyRequest) -> Any:
    report = effective.report_for(request.load())
    return _unprocessable_unless(report.loaded, report)


@router.get("/profiles", summary="Defaults of each security profile (same object as `v6ops policy profiles --json`)")
def profiles() -> dict[str, dict[str, Any]]:
    return all_profile_defaults()
