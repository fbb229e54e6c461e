"""Staged rollout on a real store, with the batch measurements read from v6ops's own metrics exposition."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.policy.vm_fixtures import web_config
from v6ops.events import SecurityEvent
from v6ops.events.audit import AuditLog, read_records
from v6ops.policy.metrics import SecurityMetrics
from v6ops.policy.rollout import ExpositionReader, Rollout, RolloutError, RolloutState, _p95, plan
from v6ops.policy.vms import VmSecurityService
from v6ops.store.db import open_store


def base_config() -> dict:
    cfg = web_config(profile="SECURITY_PROFILE_CUSTOM",
                     source_validation={"strict_ingress": False, "allowed_ingress_prefixes": ["2001:db8:1::/64"]})
    return cfg


@pytest.fixture
def fleet(vm_db_url: str, tmp_path: Path):
    store = open_store(vm_db_url)
    audit = AuditLog(tmp_path / "audit.jsonl")
    service = VmSecurityService(store, audit)
    for n in range(6):
        service.create(f"vm-{n}", "acme", base_config(), tier="premium" if n < 4 else "basic")
    yield service, audit
    audit.close()
    open_store.cache_clear()


def noisy_when_applied(service: VmSecurityService, metrics: SecurityMetrics, noisy: set[str], events_per_vm: int):
    """Stands in for traffic that the new policy drops: VMs in ``noisy`` raise events once they carry it."""

    def refresh(vm_ids):
        for vm in vm_ids:
            if vm in noisy and service.get(vm).ipv6_config["security"]["source_validation"]["block_private_addresses"]:
                for _ in range(events_per_vm):
                    metrics.observe_event(SecurityEvent(timestamp=datetime.now(UTC), vm_id=vm, customer_id="acme",
                                                        event_type="source_validation_failed", severity="warning",
                                                        details={"rule": "bcp38-private-source"}))
    return refresh


def test_regression_stops_the_rollout_and_rolls_back_only_that_batch(fleet, tmp_path):
    service, audit = fleet
    metrics = SecurityMetrics()
    reader = ExpositionReader(lambda: metrics.exposition().decode(),
                              refresh=noisy_when_applied(service, metrics, {"vm-2"}, 50))
    state = plan(service, ["source_validation"], "premium", 2, 1.0, max_event_rate=10, max_latency_s=0.1)
    assert [b.vm_ids for b in state.batches] == [["vm-0", "vm-1"], ["vm-2", "vm-3"]]
    pushed = []
    result = Rollout(service, tmp_path / "state.json", reader, audit, apply=lambda vm, table: pushed.append(vm),
                     sleep=lambda s: None).run(state)
    assert result.status == "stopped" and result.stopped_at == 1
    assert [b.status for b in result.batches] == ["done", "rolled_back"]
    assert "event rate" in result.batches[1].reason
    for vm in ("vm-0", "vm-1"):
        assert service.get(vm).ipv6_config["security"]["source_validation"]["block_private_addresses"] is True
    for vm in ("vm-2", "vm-3"):
        got = service.get(vm)
        assert got.version == 3 and got.ipv6_config == service.history(vm)[0].ipv6_config  # back to v1's config
    assert pushed == ["vm-0", "vm-1", "vm-2", "vm-3", "vm-2", "vm-3"]  # tables loaded, then the old ones again
    steps = [(r["step"], r["batch"]) for r in read_records(tmp_path / "audit.jsonl") if r["kind"] == "rollout"]
    assert steps == [("apply", 0), ("done", 0), ("apply", 1), ("rolled_back", 1)]
    saved = RolloutState.load(tmp_path / "state.json")
    assert saved.status == "stopped" and saved.batches[1].measured.event_rate > 10
    # a rerun does not touch a stopped rollout
    again = Rollout(service, tmp_path / "state.json", reader, audit, sleep=lambda s: None).run(saved)
    assert again.status == "stopped" and service.get("vm-0").version == 2


def test_interrupted_rollout_resumes_where_it_stopped(fleet, tmp_path):
    service, audit = fleet
    metrics = SecurityMetrics()
    reader = ExpositionReader(lambda: metrics.exposition().decode())
    state = plan(service, ["ra_guard"], "", 4, 0.0, max_event_rate=10, max_latency_s=0.1)
    calls = []

    def crash_once(vm, table):
        calls.append(vm)
        if vm == "vm-5" and calls.count("vm-5") == 1:
            raise KeyboardInterrupt  # the operator's Ctrl-C, or a crash, in the middle of batch 2

    path = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        Rollout(service, path, reader, audit, apply=crash_once, sleep=lambda s: None).run(state)
    saved = RolloutState.load(path)
    assert [b.status for b in saved.batches] == ["done", "applying"]
    assert set(saved.batches[1].after_versions) == {"vm-4", "vm-5"}
    result = Rollout(service, path, reader, audit, apply=crash_once, sleep=lambda s: None).run(saved)
    assert result.status == "completed"
    assert all(service.get(f"vm-{n}").version == 2 for n in range(6))  # each VM patched exactly once
    assert calls.count("vm-4") == 1 and calls.count("vm-5") == 2


def test_latency_regression_and_bad_plans(fleet, tmp_path):
    service, audit = fleet
    metrics = SecurityMetrics()

    def slow(vm_ids):
        for vm in vm_ids:
            metrics.observe_latency(vm, "guard", 0.3)

    reader = ExpositionReader(lambda: metrics.exposition().decode(), refresh=slow)
    state = plan(service, ["ra_guard"], "", 10, 0.0, max_event_rate=1000, max_latency_s=0.1)
    result = Rollout(service, tmp_path / "s.json", reader, audit, sleep=lambda s: None).run(state)
    assert result.status == "stopped" and "latency" in result.batches[0].reason
    assert result.batches[0].measured.latency_p95 == pytest.approx(0.3, rel=0.7)
    with pytest.raises(RolloutError, match="unknown phase"):
        plan(service, ["everything"], "", 1, 0, 1, 1)
    with pytest.raises(RolloutError, match="--tier"):
        plan(service, ["source_validation"], "", 1, 0, 1, 1)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(RolloutError, match="cannot be used"):
        RolloutState.load(tmp_path / "bad.json")


def test_p95_interpolates_like_prometheus():
    # 100 samples: 90 under 0.01, 10 between 0.05 and 0.1 -> rank 95 falls halfway into (0.05, 0.1]
    buckets = {0.001: 0, 0.005: 0, 0.01: 90, 0.05: 90, 0.1: 100, 0.5: 100, 1.0: 100, float("inf"): 100}
    assert _p95(buckets) == pytest.approx(0.075)
    assert _p95({0.1: 0, float("inf"): 0}) is None
    assert json.loads(json.dumps({"x": _p95({1.0: 5, float("inf"): 5})})) == {"x": pytest.approx(0.95)}


def test_rollout_cli_reads_the_service_metrics_and_resumes(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tests.api_client import make_token
    from tests.policy.prometheus import serve_app
    from v6ops.api.app import create_app
    from v6ops.cli.main import app as cli
    from v6ops.settings import Settings

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(url)
    setup = VmSecurityService(store)
    for n in range(3):
        setup.create(f"vm-{n}", "acme", base_config(), tier="premium")
    monkeypatch.setenv("V6OPS_DATABASE_URL", url)
    monkeypatch.setenv("V6OPS_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    api = create_app(Settings(data_dir=tmp_path / "api", database_url=url))
    monkeypatch.setenv("V6OPS_TOKEN", make_token(url, "viewer", name="rollout"))
    try:
        with serve_app(api) as base:
            args = ["policy", "rollout", "--state", str(tmp_path / "state.json"), "--phase", "ra_guard",
                    "--batch-size", "2", "--pause", "0", "--metrics-url", f"{base}/metrics", "--json"]
            out = runner.invoke(cli, args)
            assert out.exit_code == 0, out.output
            result = json.loads(out.stdout)
            assert result["status"] == "completed" and [b["vm_ids"] for b in result["batches"]] == [["vm-0", "vm-1"],
                                                                                                   ["vm-2"]]
            assert all(b["measured"]["event_rate"] == 0 for b in result["batches"])
            again = runner.invoke(cli, args)  # the state file says done: nothing is applied twice
            assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "completed"
            assert [setup.get(f"vm-{n}").version for n in range(3)] == [2, 2, 2]
            bad = runner.invoke(cli, ["policy", "rollout", "--state", str(tmp_path / "other.json"), "--phase", "nope"])
            assert bad.exit_code == 2 and "unknown phase" in bad.output
            down = runner.invoke(cli, ["policy", "rollout", "--state", str(tmp_path / "third.json"), "--phase",
                                       "ra_guard", "--pause", "0", "--metrics-url", "http://127.0.0.1:9/metrics"])
            assert down.exit_code == 2 and "metrics http://127.0.0.1:9/metrics" in down.output
    finally:
        open_store.cache_clear()
    steps = [r["step"] for r in read_records(tmp_path / "audit.jsonl") if r["kind"] == "rollout"]
    assert steps[:4] == ["apply", "done", "apply", "done"]
