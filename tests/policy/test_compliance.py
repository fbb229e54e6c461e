"""Every compliance check fails on the one field it is about, and passes on a compliant policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.policy.test_validate import CLEAN, with_change
from v6ops.policy.compliance import (
    CHECKS,
    ComplianceSeverity,
    ComplianceState,
    Scope,
    check_target,
    render_markdown,
    report_for,
)
from v6ops.policy.load import load_data, load_text
from v6ops.policy.schema import ComplianceFramework, PolicyTarget

SOC2, PCI, GDPR, HIPAA, ISO = (ComplianceFramework.SOC2, ComplianceFramework.PCI_DSS, ComplianceFramework.GDPR,
                               ComplianceFramework.HIPAA, ComplianceFramework.ISO27001)
COMPLIANT = with_change(CLEAN, "compliance.data_retention_days", 2555)

# (framework, requirement, title) -> changes that must make exactly that check fail
MUTATIONS: dict[tuple[ComplianceFramework, str, str], dict[str, Any]] = {
    (SOC2, "CC6.1", "Logical access security over network traffic"): {"source_validation.strict_ingress": False},
    (SOC2, "CC6.1", "Rogue router advertisements are blocked"): {"ra_guard.enabled": False},
    (SOC2, "CC6.7", "Transmission of data is restricted"): {"rate_limits.max_bandwidth_per_vm": 0},
    (SOC2, "CC6.7", "Data in transmission is protected"): {"compliance.encryption.require_tls": False},
    (SOC2, "CC7.2", "System components are monitored for anomalies"): {"monitoring.enable_security_logging": False},
    (SOC2, "CC7.2", "Security metrics are collected"): {"monitoring.enable_metrics": False},
    (PCI, "1.1.4", "Firewall filtering at each connection, egress included"): {"source_validation.strict_egress": False},
    (PCI, "1.2.1", "Inbound traffic restricted to what is necessary"): {"source_validation.strict_ingress": False},
    (PCI, "1.3.3", "Anti-spoofing measures block forged source addresses"): {
        "source_validation.reverse_path_filtering": False, "source_validation.block_private_addresses": False},
    (PCI, "2.1", "Vendor-supplied defaults are not used"): {"profile": "SECURITY_PROFILE_LOW"},
    (PCI, "4.1", "Strong cryptography for transmission over open networks"): {
        "compliance.encryption.require_tls": False},
    (PCI, "4.1", "No SSL or early TLS"): {"compliance.encryption.min_tls_version": "1.1"},
    (PCI, "4.1", "Only strong cipher suites"): {
        "compliance.encryption.allowed_ciphers": ["TLS_AES_256_GCM_SHA384", "TLS_RSA_WITH_RC4_128_SHA"]},
    (PCI, "10.2", "Audit trails are implemented"): {"compliance.audit_config.enabled": False},
    (PCI, "10.5", "Audit trails are secured against alteration"): {"compliance.audit_config.encrypt_logs": False},
    (PCI, "10.7", "Audit trail history retained for at least one year"): {"compliance.data_retention_days": 364},
    (GDPR, "Art. 32(1)(a)", "Encryption of personal data in transit"): {"compliance.encryption.require_tls": False},
    (GDPR, "Art. 32(1)(a)", "Encryption of personal data at rest"): {
        "compliance.encryption.require_encryption_at_rest": False},
    (GDPR, "Art. 5(1)(e)", "Storage limitation: a retention period is defined"): {"compliance.data_retention_days": 0},
    (GDPR, "Art. 33", "Breaches can be detected in time to notify within 72 hours"): {
        "monitoring.enable_security_logging": False},
    (HIPAA, "164.312(b)", "Audit controls"): {"compliance.audit_config.enabled": False},
    (HIPAA, "164.308(a)(1)(ii)(D)", "Information system activity review"): {
        "monitoring.enable_security_logging": False},
    (HIPAA, "164.312(e)(1)", "Transmission security"): {"compliance.encryption.require_tls": False},
    (HIPAA, "164.312(a)(2)(iv)", "Encryption and decryption (addressable)"): {
        "compliance.encryption.require_encryption_at_rest": False},
    (HIPAA, "164.312(c)(1)", "Integrity of audit records"): {"compliance.audit_config.encrypt_logs": False},
    (HIPAA, "164.316(b)(2)(i)", "Documentation retained six years"): {"compliance.data_retention_days": 2189},
    (ISO, "A.8.15", "Logging"): {"monitoring.enable_security_logging": False},
    (ISO, "A.8.16", "Monitoring activities"): {"monitoring.siem_config.enabled": False,
                                               "monitoring.enable_metrics": False},
    (ISO, "A.8.20", "Networks security: ingress filtering"): {"source_validation.strict_ingress": False},
    (ISO, "A.8.20", "Networks security: router advertisement guard"): {"ra_guard.enabled": False},
    (ISO, "A.8.22", "Segregation of networks"): {"isolation.inter_tenant_policy": "ALLOW_ALL"},
    (ISO, "A.8.24", "Use of cryptography"): {"compliance.encryption.min_tls_version": "TLSv1.0"},
    (ISO, "A.5.33", "Protection of records"): {"compliance.audit_config.encrypt_logs": False},
}


def target_of(data: dict[str, Any]) -> PolicyTarget:
    document = load_data(data, "t.json").document
    assert document is not None
    return document.targets[0]


def test_every_check_has_a_mutation_test() -> None:
    assert {(c.framework, c.requirement, c.title) for c in CHECKS} == set(MUTATIONS)


def test_compliant_policy_passes_every_framework() -> None:
    result = check_target(target_of(COMPLIANT), [SOC2, PCI, GDPR, HIPAA, ISO])
    assert [r for r in result.results if not r.passed] == []
    assert result.state is ComplianceState.COMPLIANT
    assert len(result.results) == len(CHECKS)


@pytest.mark.parametrize("key", list(MUTATIONS), ids=[f"{k[0].value}-{k[1]}-{k[2][:20]}" for k in MUTATIONS])
def test_each_check_fails_on_its_field(key: tuple[ComplianceFramework, str, str]) -> None:
    framework, requirement, title = key
    data = COMPLIANT
    for field, value in MUTATIONS[key].items():
        data = with_change(data, field, value)
    result = check_target(target_of(data), [framework])
    check = next(c for c in CHECKS if (c.framework, c.requirement, c.title) == key)
    row = next(r for r in result.results if r.title == title and r.requirement == requirement)
    assert not row.passed
    assert row.field == check.field  # a bare security document: the path is the field itself
    assert row.field in MUTATIONS[key] or any(f.startswith(row.field) for f in MUTATIONS[key])
    assert result.violations >= 1
    blocking = (ComplianceSeverity.ERROR, ComplianceSeverity.CRITICAL)
    any_blocking_failed = any(not r.passed and r.severity in blocking for r in result.results)
    assert (result.state is ComplianceState.NON_COMPLIANT) == any_blocking_failed
    if check.severity in blocking:
        assert result.state is ComplianceState.NON_COMPLIANT


def test_seed_descriptions_and_severities_are_kept() -> None:
    bare = target_of({"profile": "low", "monitoring": {"enable_security_logging": False}})
    failed = [r for r in check_target(bare, [SOC2, PCI]).results if not r.passed]
    seen = {(r.framework, r.requirement, r.description, r.severity) for r in failed}
    assert {
        (SOC2, "CC6.1", "Strict ingress filtering not enabled", ComplianceSeverity.ERROR),
        (SOC2, "CC6.7", "Bandwidth limits not configured", ComplianceSeverity.WARNING),
        (SOC2, "CC7.2", "Security logging not enabled", ComplianceSeverity.ERROR),
        (PCI, "1.1.4", "Egress filtering not properly configured", ComplianceSeverity.ERROR),
        (PCI, "2.1", "Using low security profile (default-like configuration)", ComplianceSeverity.ERROR),
        (PCI, "4.1", "TLS encryption not required", ComplianceSeverity.ERROR),
    } <= seen


def test_warning_only_findings_keep_the_target_compliant() -> None:
    result = check_target(target_of(with_change(COMPLIANT, "monitoring.enable_metrics", False)), [SOC2])
    assert result.violations == 1
    assert result.state is ComplianceState.COMPLIANT


def test_scope_requested_then_configured_then_all() -> None:
    configured = with_change(COMPLIANT, "compliance.frameworks", ["HIPAA", "hipaa"])
    assert check_target(target_of(configured), [GDPR]).scope is Scope.REQUESTED
    result = check_target(target_of(configured))
    assert (result.scope, result.frameworks) == (Scope.CONFIGURED, [HIPAA])
    everything = check_target(target_of(with_change(COMPLIANT, "compliance.frameworks", [])))
    assert everything.scope is Scope.ALL and len(everything.frameworks) == 5


def test_field_points_at_where_the_value_was_written() -> None:
    text = """
metald:
  network:
    ipv6:
      security_profile: low
      customer_configs:
        c1:
          compliance: {encryption: {require_tls: false}}
"""
    report = report_for(load_text(text, "mt.yaml"), [PCI])
    rows = {(r.requirement, r.title): r for r in report.targets[0].results}
    assert rows[("2.1", "Vendor-supplied defaults are not used")].field == "metald.network.ipv6.profile"
    tls = rows[("4.1", "Strong cryptography for transmission over open networks")]
    assert tls.field == "metald.network.ipv6.customer_configs.c1.compliance.encryption.require_tls"
    assert not report.compliant


def test_reports_render_as_json_and_markdown() -> None:
    report = report_for(load_data(with_change(COMPLIANT, "compliance.audit_config.enabled", False), "t.json"), [PCI])
    data = json.loads(report.model_dump_json())
    assert data["targets"][0]["state"] == "non_compliant"
    failed = [r for r in data["targets"][0]["results"] if not r["passed"]]
    assert [(r["requirement"], r["field"], r["severity"]) for r in failed] == [
        ("10.2", "compliance.audit_config.enabled", "error")]
    markdown = render_markdown(report)
    assert "| PCI_DSS | 10.2 | **FAIL** | error | `compliance.audit_config.enabled` | Audit logging not enabled |" \
        in markdown
    assert "NOT compliant" in markdown


def test_unloadable_document_is_reported_not_checked() -> None:
    report = report_for(load_text("{", "broken.json"))
    assert not report.loaded and not report.compliant and report.problems[0].code == "syntax"
    assert "could not be checked" in render_markdown(report)


def test_every_check_is_documented() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    for check in CHECKS:
        row = f"| {check.framework.value} | {check.requirement} | {check.title} | {check.severity.value} | `{check.field}` |"
        assert row in docs, row
