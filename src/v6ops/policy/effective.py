"""The effective policy of each target, field by field, with where each value came from.

Answers "why is this control on?" after profile defaults, host sections,
``default_security`` and the customer's own settings were layered.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from v6ops.policy.load import LoadResult
from v6ops.policy.problems import DocumentReport, Severity
from v6ops.policy.schema import PolicyTarget, field_leaves

UNSET = "unset (proto3 zero value)"


class EffectiveField(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    value: Any
    source: str  # the document path that set it, ``profile:HIGH.<field>``, or UNSET


class EffectiveTarget(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    enabled: bool
    profile: str
    addresses: list[str]
    fields: list[EffectiveField]


class EffectiveReport(DocumentReport):
    """What ``v6ops policy show --json`` prints and ``POST /api/v1/policy/effective`` returns."""

    targets: list[EffectiveTarget]


def effective_target(target: PolicyTarget) -> EffectiveTarget:
    # mode="json" dumps SecretStr as '**********': the view never shows a secret field's value
    dumped = target.security.model_dump(mode="json", exclude={"profile"})
    fields = [EffectiveField(field=f, value=v, source=target.origins.get(f, UNSET))
              for f, v in field_leaves(dumped).items()]
    return EffectiveTarget(target=target.name, enabled=target.enabled, profile=target.security.profile.value,
                           addresses=list(target.addresses), fields=fields)


def report_for(result: LoadResult) -> EffectiveReport:
    if result.document is None:
        errors = [p for p in result.problems if p.severity is Severity.ERROR]
        return EffectiveReport(source=result.source, loaded=False, problems=errors, targets=[])
    return EffectiveReport(source=result.source, loaded=True, problems=[],
                           targets=[effective_target(t) for t in result.document.targets])
