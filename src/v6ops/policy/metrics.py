"""The seed's IPv6 security metrics, fed by the evaluator, the guard, the compliance engine and the
named nftables counters of a compiled table.

Names are exactly the seed's list under ``namespace`` (default ``metald_ipv6``, so the seed's alert
rules work unchanged). Every :class:`~v6ops.events.SecurityEvent` counts once in
``<ns>_audit_events_total`` and in the family of its type; the rule id in ``details.rule`` picks the
finer label (``violation_type``, ``limit_type``, ``header_type``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from v6ops.events import EventType, SecurityEvent, Severity
from v6ops.policy import rules

DEFAULT_NAMESPACE = "metald_ipv6"
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)  # the seed's buckets

# rule id -> the seed's finer label values
VIOLATION_TYPE = {"bcp38-spoofed-source": "spoofing", "bcp84-bogon-source": "bogon",
                  "bcp38-private-source": "private", "bcp38-egress": "egress",
                  "bcp84-reverse-path": "reverse_path", "isolation-inter-tenant": "inter_tenant"}
LIMIT_TYPE = {"rate-pps": "pps", "rate-bandwidth": "bandwidth", "rate-connections": "connections",
              "rfc6105-ra-rate": "ra", "icmpv6-echo-rate": "icmpv6_echo"}
FRAGMENT_RULES = frozenset({"rfc8200-4.5-fragment-length", "rfc5722-overlap", "rfc6980-nd-fragment",
                            "fragment-policy-block", "rfc7112-incomplete-chain"})
HEADER_TYPE = {"rfc5095-rh0": "routing", "rfc9288-3.4-routing-type": "routing", "exthdr-not-allowed": "other",
               "rfc8200-4.1-order": "hop_by_hop", "exthdr-chain-too-long": "chain",
               **{r: "fragment" for r in FRAGMENT_RULES}}
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class MetricsValueError(ValueError):
    """A namespace or counter dump that cannot be used."""


class SecurityMetrics:
    """The seed's metric families in one registry (a fresh one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = DEFAULT_NAMESPACE) -> None:
        if not _NAME.match(namespace):
            raise MetricsValueError(f"metrics namespace {namespace!r} is not a Prometheus metric name prefix")
        self.namespace = namespace
        self.registry = registry if registry is not None else CollectorRegistry()
        r, ns = self.registry, namespace

        def c(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(f"{ns}_{name}", doc, labels, registry=r)

        def g(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(f"{ns}_{name}", doc, labels, registry=r)

        self.ra_guard_blocks = c("ra_guard_blocks_total", "Total router advertisements blocked by RA Guard",
                                 ["vm_id", "customer_id", "source_ip"])
        self.ra_guard_violations_rate = g("ra_guard_violations_rate", "Rate of RA Guard violations per minute",
                                          ["vm_id", "customer_id"])
        self.ra_guard_config_changes = c("ra_guard_config_changes_total", "Total RA Guard configuration changes",
                                         ["vm_id", "change_type"])
        self.source_validation_violations = c("source_validation_violations_total",
                                              "Total source validation violations",
                                              ["vm_id", "customer_id", "violation_type", "source_ip"])
        self.source_validation_latency = Histogram(f"{ns}_source_validation_latency_seconds",
                                                   "Source validation processing latency",
                                                   ["vm_id", "validation_type"], buckets=LATENCY_BUCKETS, registry=r)
        self.reverse_path_filter_drops = c("reverse_path_filter_drops_total",
                                           "Packets dropped by reverse path filtering", ["vm_id", "interface"])
        self.rate_limit_violations = c("rate_limit_violations_total", "Total rate limit violations",
                                       ["vm_id", "customer_id", "limit_type"])
        self.rate_limit_current_rate = g("rate_limit_current_rate", "Current rate limit utilization percentage",
                                         ["vm_id", "limit_type"])
        self.burst_allowance_used = c("burst_allowance_used_total", "Total burst allowance usage",
                                      ["vm_id", "customer_id"])
        self.extension_header_blocks = c("extension_header_blocks_total", "Extension headers blocked",
                                         ["vm_id", "header_type", "reason"])
        self.fragment_processing = c("fragment_processing_total", "IPv6 fragments processed", ["vm_id", "result"])
        self.compliance_violations = c("compliance_violations_total", "Compliance violations detected",
                                       ["vm_id", "framework", "requirement"])
        self.audit_events = c("audit_events_total", "Audit events generated", ["vm_id", "event_type", "severity"])
        self.encryption_violations = c("encryption_violations_total", "Encryption requirement violations",
                                       ["vm_id", "requirement_type"])
        self._nft_seen: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------ feeding

    def observe_event(self, event: SecurityEvent, interface: str = "") -> None:
        """Count one security event in its family and in the audit total."""
        vm, customer = event.vm_id, event.customer_id
        rule = str(event.details.get("rule", ""))
        self.audit_events.labels(vm, event.event_type.value, event.severity.value).inc()
        kind = event.event_type
        if kind is EventType.RA_BLOCKED:
            self.ra_guard_blocks.labels(vm, customer, event.source_ip or "").inc()
        elif kind is EventType.SOURCE_VALIDATION_FAILED:
            violation = VIOLATION_TYPE.get(rule, rule or "other")
            self.source_validation_violations.labels(vm, customer, violation, event.source_ip or "").inc()
            if violation == "reverse_path":
                self.reverse_path_filter_drops.labels(vm, interface).inc()
        elif kind is EventType.RATE_LIMIT_EXCEEDED:
            self.rate_limit_violations.labels(vm, customer, LIMIT_TYPE.get(rule, rule or "other")).inc()
        elif kind is EventType.EXTENSION_HEADER_BLOCKED:
            self.extension_header_blocks.labels(vm, HEADER_TYPE.get(rule, "other"), rule).inc()
        elif kind is EventType.COMPLIANCE_VIOLATION:
            framework, requirement = str(event.details.get("framework", "")), str(event.details.get("requirement", ""))
            self.compliance_violations.labels(vm, framework, requirement).inc()
            field = str(event.details.get("field", ""))
            if ".encryption." in f".{field}":
                self.encryption_violations.labels(vm, field.rsplit(".", 1)[-1]).inc()
        if rule in FRAGMENT_RULES:
            self.fragment_processing.labels(vm, rule).inc()

    def observe_events(self, events: Iterable[SecurityEvent]) -> None:
        for e in events:
            self.observe_event(e)

    def observe_latency(self, vm_id: str, validation_type: str, seconds: float) -> None:
        self.source_validation_latency.labels(vm_id, validation_type).observe(seconds)

    def observe_config_change(self, vm_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        """Counts an RA guard change when the ``ra_guard`` section differs (change_type created/updated/removed)."""
        old, new = (before or {}).get("ra_guard"), (after or {}).get("ra_guard")
        if old == new:
            return
        change = "created" if old is None else "removed" if new is None else "updated"
        self.ra_guard_config_changes.labels(vm_id, change).inc()

    def observe_nft_counters(self, vm_id: str, customer_id: str, nft_json: str | dict[str, Any]) -> dict[str, int]:
        """Feed the deltas of a compiled table's named counters (``nft -j list counters``) since the last read;
        a counter that went down (table reloaded) counts from zero. Returns packets per rule id."""
        data = json.loads(nft_json) if isinstance(nft_json, str) else nft_json
        by_counter = {r.counter: r for r in rules.RULES.values()}
        out: dict[str, int] = {}
        try:
            items = [i["counter"] for i in data["nftables"] if "counter" in i]
        except (KeyError, TypeError) as exc:
            raise MetricsValueError(f"not 'nft -j list counters' output: {exc}") from exc
        for item in items:
            rule = by_counter.get(str(item.get("name", "")))
            if rule is None:
                continue
            packets = int(item.get("packets", 0))
            key = (vm_id, rule.id)
            seen = self._nft_seen.get(key, 0)
            delta = packets - seen if packets >= seen else packets
            self._nft_seen[key] = packets
            out[rule.id] = packets
            if delta <= 0 or rule.id in rules.ACCEPTING:
                continue
            self._count_rule(vm_id, customer_id, rule, delta)
        return out

    def _count_rule(self, vm_id: str, customer_id: str, rule: rules.Rule, n: int) -> None:
        self.audit_events.labels(vm_id, rule.event.value, rule.severity.value).inc(n)
        if rule.event is EventType.RA_BLOCKED:
            self.ra_guard_blocks.labels(vm_id, customer_id, "").inc(n)
        elif rule.event is EventType.SOURCE_VALIDATION_FAILED:
            self.source_validation_violations.labels(vm_id, customer_id, VIOLATION_TYPE.get(rule.id, rule.id), "").inc(n)
        elif rule.event is EventType.RATE_LIMIT_EXCEEDED:
            self.rate_limit_violations.labels(vm_id, customer_id, LIMIT_TYPE.get(rule.id, rule.id)).inc(n)
        elif rule.event is EventType.EXTENSION_HEADER_BLOCKED:
            self.extension_header_blocks.labels(vm_id, HEADER_TYPE.get(rule.id, "other"), rule.id).inc(n)
        if rule.id in FRAGMENT_RULES:
            self.fragment_processing.labels(vm_id, rule.id).inc(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsSink:
    """A :class:`~v6ops.events.Sink` that counts each event in the metrics."""

    def __init__(self, metrics: SecurityMetrics) -> None:
        self.metrics = metrics

    def emit(self, event: SecurityEvent) -> None:
        self.metrics.observe_event(event)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


def compliance_events(target_compliance: Any, customer_id: str, when: Any) -> list[SecurityEvent]:
    """One COMPLIANCE_VIOLATION event per failing check of a :class:`TargetCompliance`."""
    out = []
    for r in target_compliance.results:
        if r.passed:
            continue
        out.append(SecurityEvent(
            timestamp=when, vm_id=target_compliance.target, customer_id=customer_id,
            event_type=EventType.COMPLIANCE_VIOLATION, severity=Severity(r.severity.value),
            description=r.description, source="policy.compliance",
            compliance_tags=(f"{r.framework.value}:{r.requirement}",),
            details={"framework": r.framework.value, "requirement": r.requirement, "field": r.field}))
    return out
