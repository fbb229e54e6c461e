"""Audit reports: the JSON document, its findings hash, verification, diff, Markdown and SARIF 2.1.0."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from v6ops import __version__
from v6ops.audit.findings import SEVERITIES, Check, Finding, sort_key

REPORT_FORMAT = "v6ops-audit/1"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# GitHub code scanning: security-severity > 9 critical, 7-8.9 high, 4-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {"HIGH": "8.0", "MEDIUM": "5.0", "LOW": "2.0"}
SARIF_LEVEL = {"HIGH": "error", "MEDIUM": "warning", "LOW": "note"}


class ReportError(ValueError):
    """A report file that cannot be read or verified; the message names it."""


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes the findings hash covers.

    Exactly ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()``
    for findings (strings, integers, booleans, null; tests/audit/test_report.py checks the two agree),
    so anyone can recompute it; orjson writes them about 3.5x faster.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def findings_hash(findings: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical_json(findings)).hexdigest()


def status_of(findings: list[dict[str, Any]]) -> str:
    """The seed's rule: any HIGH finding makes the estate non-compliant."""
    return "NON_COMPLIANT" if any(f["severity"] == "HIGH" for f in findings) else "COMPLIANT"


def build_report(kind: str, findings: list[Finding], checks: dict[str, Check], inputs: dict[str, Any]) -> dict[str, Any]:
    rows = sorted((f.to_dict() for f in findings), key=sort_key)
    counts = Counter(f["severity"] for f in rows)
    return {
        "format": REPORT_FORMAT,
        "kind": kind,
        "tool": {"name": "v6ops", "version": __version__},
        "inputs": inputs,
        "compliance_status": status_of(rows),
        "summary": {
            "findings": len(rows),
            "by_severity": {s: counts.get(s, 0) for s in SEVERITIES},
            "by_check": dict(sorted(Counter(f["check_id"] for f in rows).items())),
            "checks_run": sorted(checks),
        },
        "checks": {c: checks[c].to_dict() for c in sorted(checks)},
        "findings": rows,
        "findings_sha256": findings_hash(rows),
    }


def load_report(path: str | Path) -> dict[str, Any]:
    try:
        report = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not a JSON report: {exc}") from None
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT or not isinstance(report.get("findings"), list):
        raise ReportError(f"{path}: not a v6ops audit report (format {REPORT_FORMAT!r} with a findings list)")
    return report


def verify(report: dict[str, Any]) -> dict[str, Any]:
    """Recompute the findings hash, status and counts; ``ok`` only if all match what the report says."""
    findings = report["findings"]
    actual = findings_hash(findings)
    problems = []
    if actual != report.get("findings_sha256"):
        problems.append(f"findings_sha256 is {report.get('findings_sha256')}, the findings hash to {actual}")
    try:
        status = status_of(findings)
    except (KeyError, TypeError):
        status = "unreadable"
    if status != report.get("compliance_status"):
        problems.append(f"compliance_status is {report.get('compliance_status')}, the findings give {status}")
    counted = (report.get("summary") or {}).get("findings")
    if len(findings) != counted:
        problems.append(f"summary counts {counted} findings, the report holds {len(findings)}")
    return {"ok": not problems, "findings_sha256": actual, "compliance_status": report.get("compliance_status"),
            "findings": len(findings), "problems": problems}


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """New, fixed and unchanged findings between two reports, matched by fingerprint."""
    before = {f["fingerprint"]: f for f in old["findings"]}
    after = {f["fingerprint"]: f for f in new["findings"]}
    return {
        "old": {"findings_sha256": old.get("findings_sha256"), "compliance_status": old.get("compliance_status")},
        "new": {"findings_sha256": new.get("findings_sha256"), "compliance_status": new.get("compliance_status")},
        "summary": {"new": len(after.keys() - before.keys()), "fixed": len(before.keys() - after.keys()),
                    "unchanged": len(after.keys() & before.keys())},
        "new_findings": sorted((after[k] for k in after.keys() - before.keys()), key=sort_key),
        "fixed_findings": sorted((before[k] for k in before.keys() - after.keys()), key=sort_key),
        "unchanged_findings": sorted((after[k] for k in after.keys() & before.keys()), key=sort_key),
    }


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        f"# v6ops {report['kind']} audit", "",
        f"- Compliance status: **{report['compliance_status']}**",
        f"- Findings: {s['findings']} (" + ", ".join(f"{k} {v}" for k, v in s["by_severity"].items()) + ")",
        f"- Findings SHA-256: `{report['findings_sha256']}` (verify with `v6ops audit verify REPORT`)", "",
        "| Severity | Check | Account | Region | Resource | Finding |", "|---|---|---|---|---|---|",
    ]
    for f in report["findings"]:
        lines.append(f"| {f['severity']} | `{f['check_id']}` | {_md(f['account'])} | {_md(f['region'])} | "
                     f"`{_md(f['resource_id'])}` | {_md(f['message'])} |")
    lines += ["", "## Remediation", ""]
    seen: dict[str, dict[str, Any]] = {}
    for f in report["findings"]:
        seen.setdefault(f["check_id"], f)
    catalogue = report.get("checks", {})
    for check_id, f in seen.items():
        full = (catalogue.get(check_id) or {}).get("references")
        refs = ", ".join(f"[{r['source']}: {r['id']}]({r['url']})" if r.get("url") else f"{r['source']}: {r['id']}"
                         for r in full) if full else ", ".join(f["references"])
        lines.append(f"- `{check_id}` ({f['title']}): {_md(f['remediation'])}" + (f" References: {refs}." if refs else ""))
    return "\n".join(lines) + "\n"


def sarif(report: dict[str, Any], checks: dict[str, Check]) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per check (all of them, so a fixed finding's rule stays known), one result per finding."""
    rule_ids = sorted(checks)
    index = {c: i for i, c in enumerate(rule_ids)}
    rules = []
    for check_id in rule_ids:
        c = checks[check_id]
        refs = [r for r in c.references if r.url]
        rules.append({
            "id": check_id, "name": check_id.replace(".", "_"),
            "shortDescription": {"text": c.title[:1024]},
            "fullDescription": {"text": c.description[:1024]},
            "help": {"text": c.remediation, "markdown": c.remediation + "".join(f"\n- [{r.id}]({r.url})" for r in refs)},
            **({"helpUri": refs[0].url} if refs else {}),
            "defaultConfiguration": {"level": SARIF_LEVEL[c.severity]},
            "properties": {"tags": sorted({"security", "ipv6", c.category.lower()}),
                           "security-severity": SECURITY_SEVERITY[c.severity],
                           "references": [f"{r.source} {r.id}" for r in c.references]},
        })
    results = []
    for f in report["findings"]:
        uri = f["source"].split(", ")[0] or f"{f['account']}/{f['region']}"
        results.append({
            "ruleId": f["check_id"], "ruleIndex": index[f["check_id"]], "level": SARIF_LEVEL[f["severity"]], "kind": "fail",
            "message": {"text": f["message"]},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}},
                "logicalLocations": [{
                    "name": f["resource_id"], "kind": "resource",
                    "fullyQualifiedName": "/".join(p for p in (f["account"], f["region"], f["resource_id"]) if p)}],
            }],
            "partialFingerprints": {"v6opsFinding/v1": f["fingerprint"]},
            "properties": {"severity": f["severity"], "category": f["category"], "account": f["account"],
                           "region": f["region"], "evidence": f["evidence"]},
        })
    return {
        "version": "2.1.0",
        "$schema": SARIF_SCHEMA,
        "runs": [{
            "tool": {"driver": {"name": "v6ops", "version": report["tool"]["version"],
                                "semanticVersion": report["tool"]["version"], "rules": rules}},
            "results": results,
            "properties": {"compliance_status": report["compliance_status"], "findings_sha256": report["findings_sha256"]},
        }],
    }


FORMATS = ("json", "markdown", "sarif")
SUFFIXES = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".sarif": "sarif"}


def render(report: dict[str, Any], fmt: str, checks: dict[str, Check]) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=False) + "\n"
    if fmt == "markdown":
        return markdown(report)
    if fmt == "sarif":
        return json.dumps(sarif(report, checks), indent=2) + "\n"
    raise ReportError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")


def format_for(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path.suffix.lower() in SUFFIXES:
        return SUFFIXES[path.suffix.lower()]
    raise ReportError(f"{path}: cannot tell the format from the suffix; pass --format ({', '.join(FORMATS)})")
