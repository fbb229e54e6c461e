"""Compliance checks of an effective policy against SOC 2, PCI DSS, GDPR, HIPAA and ISO 27001.

Each check cites its requirement id, has a severity (the seed's SecuritySeverity)
and names the field at fault, at the document path where it was written (or the
profile that filled it in). The SOC 2 CC6.1/CC6.7/CC7.2 and PCI DSS 1.1.4/2.1/4.1
checks are the seed's; the rest follow the cited texts. These checks read the
configuration only: they show what a policy requires, not that it is enforced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from v6ops.events import Severity as EventSeverity
from v6ops.policy.load import LoadResult
from v6ops.policy.problems import DocumentReport, Severity
from v6ops.policy.schema import (
    ComplianceFramework,
    InterTenantPolicy,
    IPv6SecurityConfig,
    PolicyDocument,
    PolicyTarget,
    SecurityProfile,
)
from v6ops.policy.validate import parse_tls_version

ComplianceSeverity = EventSeverity  # the seed's SecuritySeverity, the same enum the events carry


class ComplianceState(StrEnum):
    """The seed's ComplianceState; NON_COMPLIANT when a check of severity error or critical fails."""

    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"


class Scope(StrEnum):
    REQUESTED = "requested"  # --framework / the API's frameworks
    CONFIGURED = "configured"  # the target's compliance.frameworks
    ALL = "all"  # neither: every framework, so nothing passes unseen


FRAMEWORK_NAMES: dict[ComplianceFramework, str] = {
    ComplianceFramework.SOC2: "SOC 2 (AICPA Trust Services Criteria 2017)",
    ComplianceFramework.PCI_DSS: "PCI DSS v3.2.1",
    ComplianceFramework.GDPR: "GDPR (Regulation (EU) 2016/679)",
    ComplianceFramework.HIPAA: "HIPAA Security Rule (45 CFR Part 164)",
    ComplianceFramework.ISO27001: "ISO/IEC 27001:2022 Annex A",
}
FRAMEWORKS: tuple[ComplianceFramework, ...] = tuple(FRAMEWORK_NAMES)
_WEAK_CIPHER = re.compile(r"RC4|_DES_|3DES|NULL|EXPORT|_MD5|_anon_|_ANON_")
PCI_MIN_RETENTION_DAYS = 365  # PCI DSS 10.7: one year of audit trail history
HIPAA_RETENTION_DAYS = 6 * 365  # 45 CFR 164.316(b)(2)(i): six years


def _tls_at_least(config: IPv6SecurityConfig, version: tuple[int, int]) -> bool:
    enc = config.compliance.encryption
    found = parse_tls_version(enc.min_tls_version) if enc.min_tls_version else None
    return enc.require_tls and found is not None and found >= version


def _no_weak_ciphers(config: IPv6SecurityConfig) -> bool:
    return not any(_WEAK_CIPHER.search(c) for c in config.compliance.encryption.allowed_ciphers)


def _segregated(config: IPv6SecurityConfig) -> bool:
    iso = config.isolation
    return bool(iso.customer_vlan or iso.network_namespace) and iso.inter_tenant_policy in (
        InterTenantPolicy.BLOCK_ALL, InterTenantPolicy.SELECTIVE)


@dataclass(frozen=True)
class Check:
    framework: ComplianceFramework
    requirement: str
    title: str
    severity: ComplianceSeverity
    field: str  # the security field at fault when the check fails
    passes: Callable[[IPv6SecurityConfig], bool]
    failure: str


S, P, G, H, ISO = (ComplianceFramework.SOC2, ComplianceFramework.PCI_DSS, ComplianceFramework.GDPR,
                 ComplianceFramework.HIPAA, ComplianceFramework.ISO27001)
WARN, ERR = ComplianceSeverity.WARNING, ComplianceSeverity.ERROR

CHECKS: tuple[Check, ...] = (
    # SOC 2
    Check(S, "CC6.1", "Logical access security over network traffic", ERR, "source_validation.strict_ingress",
          lambda c: c.source_validation.strict_ingress, "Strict ingress filtering not enabled"),
    Check(S, "CC6.1", "Rogue router advertisements are blocked", WARN, "ra_guard.enabled",
          lambda c: c.ra_guard.enabled, "RA guard not enabled: any host can become the default router"),
    Check(S, "CC6.7", "Transmission of data is restricted", WARN, "rate_limits.max_bandwidth_per_vm",
          lambda c: c.rate_limits.max_bandwidth_per_vm > 0, "Bandwidth limits not configured"),
    Check(S, "CC6.7", "Data in transmission is protected", ERR, "compliance.encryption.require_tls",
          lambda c: c.compliance.encryption.require_tls, "TLS not required for data in transit"),
    Check(S, "CC7.2", "System components are monitored for anomalies", ERR, "monitoring.enable_security_logging",
          lambda c: c.monitoring.enable_security_logging, "Security logging not enabled"),
    Check(S, "CC7.2", "Security metrics are collected", WARN, "monitoring.enable_metrics",
          lambda c: c.monitoring.enable_metrics, "Security metrics not collected"),
    # PCI DSS v3.2.1
    Check(P, "1.1.4", "Firewall filtering at each connection, egress included", ERR, "source_validation.strict_egress",
          lambda c: c.source_validation.strict_egress, "Egress filtering not properly configured"),
    Check(P, "1.2.1", "Inbound traffic restricted to what is necessary", ERR, "source_validation.strict_ingress",
          lambda c: c.source_validation.strict_ingress, "Inbound traffic is not restricted"),
    Check(P, "1.3.3", "Anti-spoofing measures block forged source addresses", ERR,
          "source_validation.reverse_path_filtering",
          lambda c: c.source_validation.reverse_path_filtering or c.source_validation.block_private_addresses,
          "Neither reverse-path filtering nor private-source blocking is enabled"),
    Check(P, "2.1", "Vendor-supplied defaults are not used", ERR, "profile",
          lambda c: c.profile is not SecurityProfile.LOW,
          "Using low security profile (default-like configuration)"),
    Check(P, "4.1", "Strong cryptography for transmission over open networks", ERR, "compliance.encryption.require_tls",
          lambda c: c.compliance.encryption.require_tls, "TLS encryption not required"),
    Check(P, "4.1", "No SSL or early TLS", ERR, "compliance.encryption.min_tls_version",
          lambda c: _tls_at_least(c, (1, 2)), "Minimum TLS version is not set to 1.2 or later"),
    Check(P, "4.1", "Only strong cipher suites", ERR, "compliance.encryption.allowed_ciphers",
          _no_weak_ciphers, "A weak cipher suite (RC4, DES, 3DES, NULL, EXPORT, MD5, anonymous) is allowed"),
    Check(P, "10.2", "Audit trails are implemented", ERR, "compliance.audit_config.enabled",
          lambda c: c.compliance.audit_config.enabled, "Audit logging not enabled"),
    Check(P, "10.5", "Audit trails are secured against alteration", WARN, "compliance.audit_config.encrypt_logs",
          lambda c: c.compliance.audit_config.encrypt_logs, "Audit logs are not encrypted"),
    Check(P, "10.7", "Audit trail history retained for at least one year", ERR, "compliance.data_retention_days",
          lambda c: c.compliance.data_retention_days >= PCI_MIN_RETENTION_DAYS,
          f"Retention is shorter than {PCI_MIN_RETENTION_DAYS} days"),
    # GDPR
    Check(G, "Art. 32(1)(a)", "Encryption of personal data in transit", ERR, "compliance.encryption.require_tls",
          lambda c: c.compliance.encryption.require_tls, "TLS not required for data in transit"),
    Check(G, "Art. 32(1)(a)", "Encryption of personal data at rest", ERR,
          "compliance.encryption.require_encryption_at_rest",
          lambda c: c.compliance.encryption.require_encryption_at_rest, "Encryption at rest not required"),
    Check(G, "Art. 5(1)(e)", "Storage limitation: a retention period is defined", WARN,
          "compliance.data_retention_days", lambda c: c.compliance.data_retention_days > 0,
          "No data retention period defined"),
    Check(G, "Art. 33", "Breaches can be detected in time to notify within 72 hours", WARN,
          "monitoring.enable_security_logging", lambda c: c.monitoring.enable_security_logging,
          "Security logging not enabled"),
    # HIPAA
    Check(H, "164.312(b)", "Audit controls", ERR, "compliance.audit_config.enabled",
          lambda c: c.compliance.audit_config.enabled, "Audit logging not enabled"),
    Check(H, "164.308(a)(1)(ii)(D)", "Information system activity review", ERR, "monitoring.enable_security_logging",
          lambda c: c.monitoring.enable_security_logging, "Security logging not enabled"),
    Check(H, "164.312(e)(1)", "Transmission security", ERR, "compliance.encryption.require_tls",
          lambda c: c.compliance.encryption.require_tls, "TLS not required for data in transit"),
    Check(H, "164.312(a)(2)(iv)", "Encryption and decryption (addressable)", WARN,
          "compliance.encryption.require_encryption_at_rest",
          lambda c: c.compliance.encryption.require_encryption_at_rest, "Encryption at rest not required"),
    Check(H, "164.312(c)(1)", "Integrity of audit records", WARN, "compliance.audit_config.encrypt_logs",
          lambda c: c.compliance.audit_config.encrypt_logs, "Audit logs are not encrypted"),
    Check(H, "164.316(b)(2)(i)", "Documentation retained six years", WARN, "compliance.data_retention_days",
          lambda c: c.compliance.data_retention_days >= HIPAA_RETENTION_DAYS,
          f"Retention is shorter than {HIPAA_RETENTION_DAYS} days"),
    # ISO/IEC 27001:2022 Annex A
    Check(ISO, "A.8.15", "Logging", ERR, "monitoring.enable_security_logging",
          lambda c: c.monitoring.enable_security_logging, "Security logging not enabled"),
    Check(ISO, "A.8.16", "Monitoring activities", WARN, "monitoring.siem_config.enabled",
          lambda c: c.monitoring.siem_config.enabled or c.monitoring.enable_metrics,
          "Neither SIEM delivery nor metrics collection is enabled"),
    Check(ISO, "A.8.20", "Networks security: ingress filtering", ERR, "source_validation.strict_ingress",
          lambda c: c.source_validation.strict_ingress, "Strict ingress filtering not enabled"),
    Check(ISO, "A.8.20", "Networks security: router advertisement guard", ERR, "ra_guard.enabled",
          lambda c: c.ra_guard.enabled, "RA guard not enabled"),
    Check(ISO, "A.8.22", "Segregation of networks", ERR, "isolation.inter_tenant_policy", _segregated,
          "Tenant is not segregated (no VLAN or namespace, or inter-tenant traffic allowed)"),
    Check(ISO, "A.8.24", "Use of cryptography", ERR, "compliance.encryption.min_tls_version",
          lambda c: _tls_at_least(c, (1, 2)), "TLS 1.2 or later is not required"),
    Check(ISO, "A.5.33", "Protection of records", WARN, "compliance.audit_config.encrypt_logs",
          lambda c: c.compliance.audit_config.encrypt_logs, "Audit logs are not encrypted"),
)


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    framework: ComplianceFramework
    requirement: str
    title: str
    severity: ComplianceSeverity
    passed: bool
    field: str
    description: str


class TargetCompliance(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    scope: Scope
    frameworks: list[ComplianceFramework]
    state: ComplianceState
    violations: int
    results: list[CheckResult]


class ComplianceReport(DocumentReport):
    """What ``v6ops policy compliance --format json`` prints and the API returns."""

    targets: list[TargetCompliance]
    compliant: bool


def check_target(target: PolicyTarget, frameworks: Iterable[ComplianceFramework] = ()) -> TargetCompliance:
    requested: list[ComplianceFramework] = [
        f for f in dict.fromkeys(frameworks) if f is not ComplianceFramework.UNSPECIFIED]
    configured: list[ComplianceFramework] = [
        f for f in dict.fromkeys(target.security.compliance.frameworks) if f is not ComplianceFramework.UNSPECIFIED]
    scope = Scope.REQUESTED if requested else (Scope.CONFIGURED if configured else Scope.ALL)
    chosen: list[ComplianceFramework] = requested or configured or list(FRAMEWORKS)
    results = []
    for check in CHECKS:
        if check.framework not in chosen:
            continue
        passed = check.passes(target.security)
        results.append(CheckResult(
            framework=check.framework, requirement=check.requirement, title=check.title, severity=check.severity,
            passed=passed, field=target.source_of(check.field),
            description=f"{check.title}: met" if passed else check.failure,
        ))
    failing = [r for r in results if not r.passed]
    blocking = any(r.severity in (ComplianceSeverity.ERROR, ComplianceSeverity.CRITICAL) for r in failing)
    return TargetCompliance(
        target=target.name, scope=scope, frameworks=chosen, violations=len(failing), results=results,
        state=ComplianceState.NON_COMPLIANT if blocking else ComplianceState.COMPLIANT,
    )


def check_document(document: PolicyDocument, frameworks: Iterable[ComplianceFramework] = ()) -> list[TargetCompliance]:
    wanted = list(frameworks)
    return [check_target(t, wanted) for t in document.targets]


def report_for(result: LoadResult, frameworks: Iterable[ComplianceFramework] = ()) -> ComplianceReport:
    if result.document is None:
        errors = [p for p in result.problems if p.severity is Severity.ERROR]
        return ComplianceReport(source=result.source, loaded=False, problems=errors, targets=[], compliant=False)
    targets = check_document(result.document, frameworks)
    return ComplianceReport(
        source=result.source, loaded=True, problems=[], targets=targets,
        compliant=all(t.state is ComplianceState.COMPLIANT for t in targets),
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ComplianceReport) -> str:
    lines = [f"# Compliance report: {report.source}", ""]
    if not report.loaded:
        lines += ["The document could not be checked:", ""]
        lines += [f"- `{p.path or '(document)'}`: {_cell(p.message)}" for p in report.problems]
        return "\n".join(lines) + "\n"
    overall = "compliant" if report.compliant else "NOT compliant"
    lines += [f"Overall: **{overall}** ({len(report.targets)} target(s)).", ""]
    for target in report.targets:
        names = ", ".join(FRAMEWORK_NAMES[f] for f in target.frameworks)
        lines += [f"## {target.target}: {target.state.value.replace('_', '-')}", "",
                  f"Frameworks ({target.scope.value}): {names}. Violations: {target.violations}.", "",
                  "| Framework | Requirement | Result | Severity | Field | Finding |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(target.results, key=lambda r: (r.passed, r.framework.number)):
            result = "pass" if r.passed else "**FAIL**"
            lines.append(f"| {r.framework.value} | {r.requirement} | {result} | {r.severity.value} | "
                         f"`{_cell(r.field)}` | {_cell(r.description)} |")
        lines.append("")
    return "\n".join(lines)
