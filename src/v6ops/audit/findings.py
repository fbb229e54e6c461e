"""Findings: the one record every audit (cloud, host) produces, and the catalogue of checks.

A finding's identity (``fingerprint``) is its check, scope, resource and locator, never its
wording, so two audits of the same estate can be diffed and a report verified later.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("HIGH", "MEDIUM", "LOW")
CATEGORIES = ("Configuration", "Security", "Logging", "Readiness", "Reliability")


@dataclass(frozen=True, slots=True)
class Reference:
    """Where a rule comes from or what peers call it: RFC, AWS doc, Prowler, ScoutSuite, Checkov, CIS, AWS Config."""

    source: str
    id: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "id": self.id}
        if self.url:
            out["url"] = self.url
        return out

    @property
    def label(self) -> str:
        """``RFC 4890 4.3.1``, ``Prowler vpc_flow_logs_enabled``: what a finding lists (the report's checks add URLs)."""
        return self.id if self.id.startswith(self.source) else f"{self.source} {self.id}"


@dataclass(frozen=True, slots=True)
class Check:
    check_id: str
    title: str
    severity: str
    category: str
    description: str
    remediation: str
    references: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES or self.category not in CATEGORIES:
            raise ValueError(f"check {self.check_id}: bad severity {self.severity!r} or category {self.category!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"check_id": self.check_id, "title": self.title, "severity": self.severity, "category": self.category,
                "description": self.description, "remediation": self.remediation,
                "references": [r.to_dict() for r in self.references]}


@dataclass(slots=True)
class Finding:
    check: Check
    resource_id: str
    resource_type: str
    message: str
    evidence: dict[str, Any]
    locator: str = ""  # what inside the resource (a rule, a port): part of the identity
    account: str = ""
    region: str = ""
    source: str = ""  # the input file (or "live") the resource came from
    _fingerprint: str = field(default="", repr=False)

    @property
    def fingerprint(self) -> str:
        if not self._fingerprint:
            key = "\x1f".join((self.check.check_id, self.account, self.region, self.resource_id, self.locator))
            self._fingerprint = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self._fingerprint

    def to_dict(self) -> dict[str, Any]:
        c = self.check
        return {
            "check_id": c.check_id,
            "title": c.title,
            "severity": c.severity,
            "category": c.category,
            "account": self.account,
            "region": self.region,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "locator": self.locator,
            "message": self.message,
            "evidence": self.evidence,
            "remediation": c.remediation,
            "references": _references(c),
            "source": self.source,
            "fingerprint": self.fingerprint,
        }


@functools.lru_cache(maxsize=1024)
def _references(check: Check) -> list[str]:
    """Built once per check: reports hold many findings of few checks (treat as read-only)."""
    return [r.label for r in check.references]


def sort_key(finding: dict[str, Any]) -> tuple[int, str, str, str, str, str, str]:
    return (SEVERITIES.index(finding["severity"]), finding["check_id"], finding["account"], finding["region"],
            finding["resource_id"], finding["locator"], finding["fingerprint"])


def catalogue(checks: list[Check]) -> dict[str, Check]:
    out: dict[str, Check] = {}
    for c in checks:
        if c.check_id in out:
            raise ValueError(f"check id {c.check_id} defined twice")
        out[c.check_id] = c
    return out


# Shared references, so a citation is written once.
def rfc(number: int, section: str = "") -> Reference:
    anchor = f"#section-{section}" if section else ""
    return Reference("RFC", f"RFC {number}{' ' + section if section else ''}", f"https://www.rfc-editor.org/rfc/rfc{number}{anchor}")


def aws_doc(title: str, path: str) -> Reference:
    return Reference("AWS doc", title, f"https://docs.aws.amazon.com/{path}")
