"""The readiness checklist through the CLI, against a real HTTPS SIEM endpoint and a real rules file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.events.servers import SiemServer, self_signed
from tests.policy.vm_fixtures import web_config
from v6ops.cli.main import app as cli
from v6ops.events.audit import AuditLog
from v6ops.policy.alerts import alert_rules_text
from v6ops.policy.vms import VmSecurityService
from v6ops.store.db import open_store

runner = CliRunner()


def compliant_config() -> dict:
    cfg = web_config()
    cfg["security"]["compliance"] = {"frameworks": ["SOC2"],
                                     "encryption": {"require_tls": True, "min_tls_version": "1.2"},
                                     "audit_config": {"enabled": True, "encrypt_logs": True}}
    cfg["security"]["rate_limits"] = {"max_bandwidth_per_vm": 1000000000, "max_pps_per_vm": 10000}
    return cfg


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    monkeypatch.setenv("V6OPS_DATABASE_URL", url)
    monkeypatch.setenv("V6OPS_DATA_DIR", str(tmp_path))
    store = open_store(url)
    audit = AuditLog(tmp_path / "setup-audit.jsonl")
    service = VmSecurityService(store, audit)
    for n in range(20):
        service.create(f"vm-{n:02d}", "acme", compliant_config())
    cert, key = self_signed(tmp_path)
    siem = SiemServer(cert, key).start()
    (tmp_path / "rules.yml").write_text(alert_rules_text())
    yield service, tmp_path, siem, cert
    siem.stop()
    audit.close()
    open_store.cache_clear()


def check(tmp_path, siem, cert, *extra):
    out = runner.invoke(cli, ["policy", "readiness", "--rules", str(tmp_path / "rules.yml"), "--siem-url", siem.url,
                              "--siem-ca", str(cert), "--backup", str(tmp_path / "backup.json"), "--json", *extra])
    return out.exit_code, {c["name"]: c for c in json.loads(out.stdout)["checks"]}


def test_readiness_passes_then_each_check_fails_for_its_reason(env):
    service, tmp_path, siem, cert = env
    out = runner.invoke(cli, ["policy", "backup", str(tmp_path / "backup.json"), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["vms"] == 20
    code, checks = check(tmp_path, siem, cert)
    failing = {n: c["evidence"] for n, c in checks.items() if not c["passed"]}
    assert code == 0 and not failing, failing
    assert checks["security config coverage"]["evidence"]["percent"] == 100.0
    assert checks["SIEM reachable"]["evidence"]["status"] == 501  # reached (the test SIEM only takes POST)
    # a change after the backup makes it stale
    service.patch_security("vm-03", {"ra_guard": {"max_ra_rate": 5}})
    code, checks = check(tmp_path, siem, cert)
    assert code == 1 and checks["configuration backup"]["evidence"]["missing_or_older"] == ["vm-03"]
    # two unsecured VMs of 22: 90.9% < 95%
    for n in (20, 21):
        service.create(f"vm-{n}", "acme", {"enabled": True, "addresses": ["2001:db8:1::10/64"]})
    code, checks = check(tmp_path, siem, cert)
    assert not checks["security config coverage"]["passed"]
    assert checks["security config coverage"]["evidence"]["unsecured"] == ["vm-20", "vm-21"]
    # the SIEM goes down; the rules file loses an alert; an unknown certificate authority
    siem.stop()
    text = (tmp_path / "rules.yml").read_text().replace("IPv6ComplianceViolation", "SomethingElse")
    (tmp_path / "rules.yml").write_text(text)
    code, checks = check(tmp_path, siem, cert)
    assert code == 1 and not checks["SIEM reachable"]["passed"]
    assert checks["alert rules"]["evidence"]["missing"] == ["IPv6ComplianceViolation"]


def test_compliance_violations_fail_readiness(env):
    service, tmp_path, siem, cert = env
    weak = compliant_config()
    weak["security"]["compliance"]["encryption"]["require_tls"] = False
    service.create("weak", "acme", weak)
    runner.invoke(cli, ["policy", "backup", str(tmp_path / "backup.json")])
    code, checks = check(tmp_path, siem, cert)
    assert code == 1
    ev = checks["compliance violations"]["evidence"]
    assert ev["violations"] >= 1 and {v["vm_id"] for v in ev["first"]} == {"weak"}
