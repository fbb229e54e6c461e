"""The seed's five Prometheus alerting rules, written for the metric namespace in use."""

from __future__ import annotations

import re
from typing import Any

import yaml

from v6ops import __version__
from v6ops.policy.metrics import DEFAULT_NAMESPACE, MetricsValueError

_RULES: list[dict[str, Any]] = [
    {"alert": "IPv6SecurityViolationHigh", "expr": "rate({ns}_ra_guard_blocks_total[5m]) > 10", "for": "1m",
     "labels": {"severity": "critical"},
     "annotations": {"summary": "High rate of IPv6 security violations detected",
                     "description": "VM {{ $labels.vm_id }} has {{ $value }} RA Guard blocks per second"}},
    {"alert": "IPv6SourceSpoofingDetected",
     "expr": 'rate({ns}_source_validation_violations_total{{violation_type="spoofing"}}[5m]) > 0', "for": "0m",
     "labels": {"severity": "critical"},
     "annotations": {"summary": "IPv6 source spoofing detected",
                     "description": "Source spoofing detected for VM {{ $labels.vm_id }} from {{ $labels.source_ip }}"}},
    {"alert": "IPv6RateLimitViolations", "expr": "rate({ns}_rate_limit_violations_total[5m]) > 5", "for": "2m",
     "labels": {"severity": "warning"},
     "annotations": {"summary": "IPv6 rate limit violations detected",
                     "description": "VM {{ $labels.vm_id }} has exceeded rate limits {{ $value }} times per second"}},
    {"alert": "IPv6ComplianceViolation", "expr": "increase({ns}_compliance_violations_total[1h]) > 0", "for": "0m",
     "labels": {"severity": "warning"},
     "annotations": {"summary": "IPv6 compliance violation detected",
                     "description": "Compliance violation for {{ $labels.framework }} requirement "
                                    "{{ $labels.requirement }} on VM {{ $labels.vm_id }}"}},
    {"alert": "IPv6ValidationLatencyHigh",
     "expr": "histogram_quantile(0.95, rate({ns}_source_validation_latency_seconds_bucket[5m])) > 0.1", "for": "5m",
     "labels": {"severity": "warning"},
     "annotations": {"summary": "High IPv6 validation latency",
                     "description": "95th percentile validation latency is {{ $value }}s for VM {{ $labels.vm_id }}"}},
]


def alert_rules(namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    if not re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", namespace):
        raise MetricsValueError(f"metrics namespace {namespace!r} is not a Prometheus metric name prefix")
    rules = []
    for rule in _RULES:
        r = dict(rule)
        # the templates use {{ }} for Prometheus; only the expression is formatted
        r["expr"] = rule["expr"].format(ns=namespace)
        rules.append(r)
    return {"groups": [{"name": "ipv6_security_alerts", "rules": rules}]}


def alert_rules_text(namespace: str = DEFAULT_NAMESPACE) -> str:
    header = (f"# Prometheus alerting rules for IPv6 security, written by v6ops {__version__}\n"
              f"# (v6ops policy alert-rules --namespace {namespace}); metrics from v6ops's /metrics.\n")
    return header + yaml.safe_dump(alert_rules(namespace), sort_keys=False, width=200)


def metric_names(namespace: str = DEFAULT_NAMESPACE) -> set[str]:
    """Every metric name the rules' expressions use (histogram series included)."""
    names: set[str] = set()
    for rule in alert_rules(namespace)["groups"][0]["rules"]:
        names.update(re.findall(rf"\b{re.escape(namespace)}_[a-z_]+", rule["expr"]))
    return names
