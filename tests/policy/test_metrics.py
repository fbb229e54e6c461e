import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from typer.testing import CliRunner

from tests.api_client import bearer, make_token
from tests.policy.engine_helpers import strict_policy
from tests.policy.prometheus import prometheus, serve_app, wait_query
from v6ops.api.app import create_app
from v6ops.cli.main import app as cli
from v6ops.events import SecurityEvent
from v6ops.policy.alerts import alert_rules_text, metric_names
from v6ops.policy.compliance import check_target
from v6ops.policy.evaluator import Evaluator
from v6ops.policy.load import load_file
from v6ops.policy.metrics import MetricsValueError, SecurityMetrics, compliance_events
from v6ops.policy.schema import ComplianceFramework
from v6ops.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
B = "2001:db8:1::2"


def sample(metrics: SecurityMetrics) -> None:
    """One observation in every family the alert rules read."""
    ev = Evaluator(strict_policy())
    ev.evaluate(bytes(IPv6(src="2a00:1450::1", dst=B) / UDP(dport=53)), 5, 0)
    metrics.observe_events(ev.events())
    for kind, rule in (("ra_blocked", "rfc6105-unknown-router"), ("rate_limit_exceeded", "rate-pps")):
        metrics.observe_event(SecurityEvent(timestamp=T0, vm_id="vm-1", customer_id="acme", event_type=kind,
                                            severity="warning", details={"rule": rule}))
    metrics.observe_event(SecurityEvent(timestamp=T0, vm_id="vm-1", event_type="compliance_violation",
                                        severity="error", details={"framework": "PCI_DSS", "requirement": "4.1",
                                                                   "field": "compliance.encryption.require_tls"}))
    metrics.observe_latency("vm-1", "guard", 0.002)


def test_evaluator_events_feed_the_seed_families():
    m = SecurityMetrics()
    sample(m)
    text = m.exposition().decode()
    assert ('metald_ipv6_source_validation_violations_total{customer_id="",source_ip="2a00:1450::1",'
            'violation_type="spoofing",vm_id="strict"} 1.0') in text
    assert 'metald_ipv6_rate_limit_violations_total{customer_id="acme",limit_type="pps",vm_id="vm-1"} 1.0' in text
    assert 'metald_ipv6_encryption_violations_total{requirement_type="require_tls",vm_id="vm-1"} 1.0' in text
    assert 'metald_ipv6_audit_events_total{event_type="source_validation_failed",severity="error",vm_id="strict"} 1.0' in text


def test_compliance_engine_feeds_violations():
    result = check_target(example_target(), [ComplianceFramework.PCI_DSS, ComplianceFramework.SOC2])
    events = compliance_events(result, "acme", T0)
    failing = [r for r in result.results if not r.passed]
    assert len(events) == len(failing) > 0
    assert all(e.event_type.value == "compliance_violation" and e.customer_id == "acme" for e in events)
    m = SecurityMetrics()
    m.observe_events(events)
    text = m.exposition().decode()
    for r in failing:
        assert f'requirement="{r.requirement}"' in text


def example_target():
    """The weakest example policy's first target (it fails some PCI DSS / SOC 2 checks)."""
    for path in sorted(Path("examples/policies").glob("*")):
        result = load_file(path)
        if result.document is None:
            continue
        for target in result.document.targets:
            if any(not r.passed for r in check_target(target, [ComplianceFramework.PCI_DSS]).results):
                return target
    raise AssertionError("no example policy fails a PCI DSS check")


def test_nft_counter_deltas():
    m = SecurityMetrics()
    dump = {"nftables": [{"metainfo": {"version": "1.0.6"}},
                         {"counter": {"family": "inet", "table": "v6ops_vm1", "name": "bcp38_spoofed_source",
                                      "handle": 3, "packets": 5, "bytes": 400}},
                         {"counter": {"family": "inet", "table": "v6ops_vm1", "name": "policy_accept",
                                      "handle": 4, "packets": 99, "bytes": 1}},
                         {"counter": {"family": "inet", "table": "v6ops_vm1", "name": "rfc6105_unknown_router",
                                      "handle": 5, "packets": 2, "bytes": 1}}]}
    assert m.observe_nft_counters("vm1", "acme", json.dumps(dump))["bcp38-spoofed-source"] == 5
    dump["nftables"][1]["counter"]["packets"] = 7
    m.observe_nft_counters("vm1", "acme", dump)
    dump["nftables"][1]["counter"]["packets"] = 1  # table reloaded: counts from zero
    m.observe_nft_counters("vm1", "acme", dump)
    text = m.exposition().decode()
    assert 'metald_ipv6_source_validation_violations_total{customer_id="acme",source_ip="",violation_type="spoofing",vm_id="vm1"} 8.0' in text
    assert 'metald_ipv6_ra_guard_blocks_total{customer_id="acme",source_ip="",vm_id="vm1"} 2.0' in text
    assert "policy_accept" not in text
    with pytest.raises(MetricsValueError, match="nft -j"):
        m.observe_nft_counters("vm1", "acme", {"x": 1})


def test_namespace_is_checked():
    with pytest.raises(MetricsValueError, match="namespace"):
        SecurityMetrics(namespace="bad-name")
    assert all(n.startswith("acme_v6_") for n in metric_names("acme_v6"))
    assert "acme_v6_ra_guard_blocks_total" in alert_rules_text("acme_v6")


@pytest.mark.requires("promtool")
@pytest.mark.parametrize("namespace", ["metald_ipv6", "acme_v6"])
def test_rules_pass_promtool_and_every_metric_used_is_exported(tmp_path, namespace):
    out = CliRunner().invoke(cli, ["policy", "alert-rules", "--namespace", namespace, "-o", str(tmp_path / "r.yml"),
                                   "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["alerts"] == ["IPv6SecurityViolationHigh", "IPv6SourceSpoofingDetected",
                                                "IPv6RateLimitViolations", "IPv6ComplianceViolation",
                                                "IPv6ValidationLatencyHigh"]
    check = subprocess.run(["promtool", "check", "rules", str(tmp_path / "r.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "5 rules found" in check.stdout
    m = SecurityMetrics(namespace=namespace)
    sample(m)
    exposition = m.exposition()
    names = {line.split("{")[0].split(" ")[0] for line in exposition.decode().splitlines() if not line.startswith("#")}
    assert metric_names(namespace) <= names, metric_names(namespace) - names
    lint = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    doc = yaml.safe_load((tmp_path / "r.yml").read_text())
    assert doc["groups"][0]["rules"][1]["expr"] == (
        f'rate({namespace}_source_validation_violations_total{{violation_type="spoofing"}}[5m]) > 0')


@pytest.mark.requires("prometheus")
@pytest.mark.slow
def test_real_prometheus_scrapes_metrics_and_loads_the_rules(tmp_path):
    api = create_app(Settings(data_dir=tmp_path))
    token = make_token(api.state.settings.resolved_database_url(), "viewer", name="prometheus")
    rules = tmp_path / "rules.yml"
    rules.write_text(alert_rules_text())
    with serve_app(api) as base:
        sample(api.state.security_metrics)
        assert httpx.get(f"{base}/metrics").status_code == 401  # not public by default
        assert "metald_ipv6_ra_guard_blocks_total" in httpx.get(f"{base}/metrics", headers=bearer(token)).text
        host = base.removeprefix("http://")
        with prometheus(tmp_path, host, rules, token=token) as prom:
            got = wait_query(prom, 'metald_ipv6_source_validation_latency_seconds_count{vm_id="vm-1"}')
            assert got and got[0]["value"][1] == "1"
            spoof = wait_query(prom, 'metald_ipv6_source_validation_violations_total{violation_type="spoofing"}')
            assert spoof[0]["metric"]["source_ip"] == "2a00:1450::1"
            groups = httpx.get(f"{prom}/api/v1/rules").json()["data"]["groups"]
            assert [r["name"] for r in groups[0]["rules"]] == ["IPv6SecurityViolationHigh", "IPv6SourceSpoofingDetected",
                                                               "IPv6RateLimitViolations", "IPv6ComplianceViolation",
                                                               "IPv6ValidationLatencyHigh"]


@pytest.mark.requires("prometheus")
@pytest.mark.slow
def test_rollout_reads_latency_and_event_rate_through_prometheus(tmp_path):
    """The guard's own decision latencies, scraped by a real Prometheus, read back by the rollout."""
    from scapy.layers.inet6 import ICMPv6ND_RA

    from tests.policy.test_guard_decisions import SLLA, Queued
    from tests.policy.vm_fixtures import web_config
    from v6ops.policy.guard import Guard
    from v6ops.policy.rollout import PrometheusReader, Rollout, plan

    api = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    token = make_token(api.state.settings.resolved_database_url(), "operator")
    with serve_app(api) as base:
        httpx.post(f"{base}/api/v1/vms", headers=bearer(token), json={
            "id": "strict", "customer_id": "acme", "config": {"ipv6_config": web_config()}}).raise_for_status()
        service = api.state.vm_service
        metrics = api.state.security_metrics
        guard = Guard(strict_policy(), metrics=metrics)  # its policy is named "strict": the VM's id
        ra = bytes(IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / SLLA)

        def traffic(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                guard.handle(Queued(ra))
                time.sleep(0.01)

        with prometheus(tmp_path, base.removeprefix("http://"), token=token) as prom:
            traffic(3.0)
            assert wait_query(prom, 'metald_ipv6_source_validation_latency_seconds_count{vm_id="strict"}')
            reader = PrometheusReader(prom)
            # a latency bound no real decision can meet: the rollout must stop on the latency it read back
            state = plan(service, ["ra_guard"], "", 1, 4.0, max_event_rate=1000, max_latency_s=1e-9)
            result = Rollout(service, tmp_path / "s1.json", reader, service.audit, sleep=traffic).run(state)
            batch = result.batches[0]
            assert result.status == "stopped" and batch.status == "rolled_back", result.model_dump()
            assert batch.measured.latency_p95 is not None and 0 < batch.measured.latency_p95 < 1.0
            assert "latency" in batch.reason
            # a sane bound: the same figures let the phase through
            state = plan(service, ["ra_guard"], "", 1, 4.0, max_event_rate=1000, max_latency_s=5.0)
            result = Rollout(service, tmp_path / "s2.json", reader, service.audit, sleep=traffic).run(state)
            assert result.status == "completed" and result.batches[0].measured.latency_p95 > 0
