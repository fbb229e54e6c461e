"""``v6ops policy readiness``: the seed's production readiness checklist, each check with its evidence.

Security config coverage of the VMs (>= 95%), no blocking compliance violations, the five alert
rules present (in a rules file or loaded by Prometheus), the SIEM endpoint reachable over verified
TLS, and a configuration backup that covers every VM and is newer than the last change.
"""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel

from v6ops.policy.alerts import alert_rules
from v6ops.policy.compliance import check_target
from v6ops.policy.load import load_data
from v6ops.policy.metrics import DEFAULT_NAMESPACE
from v6ops.policy.vms import VmSecurityService, VmView

ALERTS = tuple(r["alert"] for r in alert_rules()["groups"][0]["rules"])


class ReadinessCheck(BaseModel):
    name: str
    passed: bool
    evidence: Any
    fix: str = ""


class ReadinessReport(BaseModel):
    passed: bool
    checks: list[ReadinessCheck]


def all_vms(service: VmSecurityService) -> list[VmView]:
    out: list[VmView] = []
    offset = 0
    while True:
        page = service.list_vms(offset=offset, limit=1000)
        out += page.vms
        if page.next_offset is None:
            return out
        offset = page.next_offset


def secured(vm: VmView) -> bool:
    """A VM counts as secured when a profile is chosen or RA guard or strict source validation is on."""
    sec = vm.ipv6_config.get("security", {})
    return (sec.get("profile", "UNSPECIFIED") != "UNSPECIFIED" or bool(sec.get("ra_guard", {}).get("enabled"))
            or bool(sec.get("source_validation", {}).get("strict_ingress")))


def _coverage(vms: list[VmView], minimum: float) -> ReadinessCheck:
    ok = [v.id for v in vms if secured(v)]
    percent = 100.0 * len(ok) / len(vms) if vms else 0.0
    return ReadinessCheck(name="security config coverage", passed=bool(vms) and percent >= minimum,
                          evidence={"vms": len(vms), "secured": len(ok), "percent": round(percent, 2),
                                    "required_percent": minimum,
                                    "unsecured": [v.id for v in vms if not secured(v)][:50]},
                          fix="give the unsecured VMs a profile (v6ops policy rollout, or PATCH .../security)")


def _compliance(vms: list[VmView]) -> ReadinessCheck:
    violations = []
    for vm in vms:
        result = load_data({"config": {"ipv6_config": vm.ipv6_config}}, vm.id, name=vm.id, expand=False)
        if result.document is None:
            violations.append({"vm_id": vm.id, "requirement": "loadable config", "description": "does not load"})
            continue
        report = check_target(result.document.targets[0])
        violations += [{"vm_id": vm.id, "framework": r.framework.value, "requirement": r.requirement,
                        "severity": r.severity.value, "description": r.description}
                       for r in report.results if not r.passed and r.severity.value in ("error", "critical")]
    return ReadinessCheck(name="compliance violations", passed=not violations,
                          evidence={"violations": len(violations), "first": violations[:20]},
                          fix="fix the failing requirements (v6ops policy compliance shows each field)")


def _alert_rules(rules_file: Path | None, prometheus: str | None, namespace: str) -> ReadinessCheck:
    fix = "write them with v6ops policy alert-rules and load them into Prometheus"
    try:
        if prometheus:
            groups = httpx.get(f"{prometheus.rstrip('/')}/api/v1/rules", timeout=10).json()["data"]["groups"]
            found = {r["name"]: r.get("query", "") for g in groups for r in g["rules"] if r.get("type") == "alerting"}
            source = f"{prometheus} /api/v1/rules"
        elif rules_file:
            doc = yaml.safe_load(rules_file.read_text()) or {}
            found = {r["alert"]: r.get("expr", "") for g in doc.get("groups", []) for r in g.get("rules", [])
                     if "alert" in r}
            source = str(rules_file)
        else:
            return ReadinessCheck(name="alert rules", passed=False, evidence="no --rules FILE or --prometheus URL given",
                                  fix=fix)
    except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError, yaml.YAMLError) as exc:
        return ReadinessCheck(name="alert rules", passed=False, evidence=f"cannot read the rules: {exc}", fix=fix)
    missing = [a for a in ALERTS if a not in found]
    wrong_ns = [a for a in ALERTS if a in found and f"{namespace}_" not in found[a]]
    return ReadinessCheck(name="alert rules", passed=not missing and not wrong_ns,
                          evidence={"source": source, "present": [a for a in ALERTS if a in found], "missing": missing,
                                    "other_namespace": wrong_ns}, fix=fix)


def _siem(url: str | None, ca_file: str | None) -> ReadinessCheck:
    fix = "check the endpoint, its certificate (--siem-ca) and the network path"
    if not url:
        return ReadinessCheck(name="SIEM reachable", passed=False, evidence="no --siem-url given", fix=fix)
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
    try:
        start = datetime.now(UTC)
        response = httpx.head(url, verify=verify, timeout=10)
        ms = (datetime.now(UTC) - start).total_seconds() * 1000
    except httpx.HTTPError as exc:
        return ReadinessCheck(name="SIEM reachable", passed=False, evidence=f"{url}: {type(exc).__name__}: {exc}",
                              fix=fix)
    # Any answer over verified TLS is the endpoint itself (HEAD may be 405/501); 502-504 are a proxy saying it is not.
    return ReadinessCheck(name="SIEM reachable", passed=response.status_code not in (502, 503, 504),
                          evidence={"url": url, "status": response.status_code, "ms": round(ms, 1),
                                    "tls_verified": url.startswith("https://")}, fix=fix)


def write_backup(service: VmSecurityService, path: Path) -> dict[str, Any]:
    """Every VM's current config (secrets redacted) with its version, as one JSON file."""
    vms = all_vms(service)
    doc = {"created_at": datetime.now(UTC).isoformat(), "vms": [v.model_dump(mode="json") for v in vms]}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)
    return {"path": str(path), "vms": len(vms)}


def _backup(vms: list[VmView], backup: Path | None) -> ReadinessCheck:
    fix = "write one with v6ops policy backup FILE"
    if backup is None:
        return ReadinessCheck(name="configuration backup", passed=False, evidence="no --backup FILE given", fix=fix)
    try:
        doc = json.loads(backup.read_text())
        saved = {v["id"]: int(v["version"]) for v in doc["vms"]}
        created = datetime.fromisoformat(doc["created_at"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return ReadinessCheck(name="configuration backup", passed=False, evidence=f"{backup}: {exc}", fix=fix)
    stale = [v.id for v in vms if saved.get(v.id) != v.version]
    return ReadinessCheck(name="configuration backup", passed=not stale,
                          evidence={"path": str(backup), "created_at": created.isoformat(), "vms": len(saved),
                                    "missing_or_older": stale[:50]}, fix=fix)


def readiness(service: VmSecurityService, *, rules_file: Path | None = None, prometheus: str | None = None,
              siem_url: str | None = None, siem_ca: str | None = None, backup: Path | None = None,
              min_coverage: float = 95.0, namespace: str = DEFAULT_NAMESPACE) -> ReadinessReport:
    vms = all_vms(service)
    checks = [_coverage(vms, min_coverage), _compliance(vms), _alert_rules(rules_file, prometheus, namespace),
              _siem(siem_url, siem_ca), _backup(vms, backup)]
    return ReadinessReport(passed=all(c.passed for c in checks), checks=checks)
