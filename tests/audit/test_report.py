"""Reports: SARIF 2.1.0 against the OASIS schema, the findings hash and its verification, diffs, Markdown."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.audit.aws_account import _perm, good_account, spoiled, write
from v6ops.audit import aws_report_from_directory
from v6ops.audit.aws_checks import CHECKS
from v6ops.audit.report import canonical_json, diff, findings_hash, markdown, sarif, verify

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def spoil_web(f: dict[str, Any]) -> None:
    f["c.json"]["SecurityGroups"][0]["IpPermissions"].append(_perm("tcp", 22, 22, ["0.0.0.0/0"], ["0:0:0:0:0:0:0:0/0"]))
    f["f.json"]["FlowLogs"] = []


@pytest.fixture
def report(tmp_path: Path) -> dict[str, Any]:
    return aws_report_from_directory(write(spoiled(spoil_web), tmp_path, "111111111111/us-east-1"))


def test_sarif_validates_against_the_schema(report: dict[str, Any]) -> None:
    log = sarif(report, CHECKS)
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(CHECKS)
    assert len(run["results"]) == len(report["findings"]) == 4
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]  # SARIF 3.27.6
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "111111111111/us-east-1/c.json" \
            or result["ruleId"] == "aws.vpc.flow_logs_missing"
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["aws.vpc.flow_logs_missing"] == "error" and levels["aws.sg.ipv6_world_ingress"] == "warning"


def test_sarif_schema_catches_a_broken_log(report: dict[str, Any]) -> None:
    """The validation is not vacuous: a result without a message fails."""
    log = sarif(report, CHECKS)
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(log)


def test_empty_report_is_valid_sarif(tmp_path: Path) -> None:
    log = sarif(aws_report_from_directory(write(good_account(), tmp_path, "us-east-1")), CHECKS)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log["runs"][0]["results"] == []


def test_status_hash_and_verify(report: dict[str, Any]) -> None:
    assert report["compliance_status"] == "NON_COMPLIANT"  # HIGH findings
    assert report["summary"]["by_severity"] == {"HIGH": 3, "MEDIUM": 1, "LOW": 0}
    assert report["findings_sha256"] == findings_hash(report["findings"])
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert verify(report)["ok"]
    tampered = copy.deepcopy(report)
    tampered["findings"][0]["severity"] = "LOW"
    result = verify(tampered)
    assert not result["ok"] and any("findings_sha256" in p for p in result["problems"])
    dropped = copy.deepcopy(report)
    dropped["findings"] = [f for f in dropped["findings"] if f["severity"] != "HIGH"]
    dropped["findings_sha256"] = findings_hash(dropped["findings"])  # a forger who rehashes still trips the status
    assert [p for p in verify(dropped)["problems"] if "compliance_status" in p]


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20))
def test_canonical_json_is_the_stdlib_spelling(value: Any) -> None:
    """The hash can be recomputed with nothing but the standard library."""
    assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_medium_only_is_compliant(tmp_path: Path) -> None:
    r = aws_report_from_directory(write(spoiled(lambda f: f["c.json"]["SecurityGroups"][0]["IpPermissions"].append(
        _perm("tcp", 8443, 8443, ["0.0.0.0/0"], ["::/0"]))), tmp_path, "us-east-1"))
    assert [f["severity"] for f in r["findings"]] == ["MEDIUM"] and r["compliance_status"] == "COMPLIANT"


def test_same_input_same_hash(tmp_path: Path) -> None:
    a = aws_report_from_directory(write(spoiled(spoil_web), tmp_path / "a", "us-east-1"))
    b = aws_report_from_directory(write(spoiled(spoil_web), tmp_path / "b", "us-east-1"))
    assert a["findings_sha256"] == b["findings_sha256"]


def test_diff_new_fixed_unchanged(report: dict[str, Any], tmp_path: Path) -> None:
    def later(f: dict[str, Any]) -> None:  # flow logs fixed, SSH still open, a new IPv4-only ALB
        f["c.json"]["SecurityGroups"][0]["IpPermissions"].append(_perm("tcp", 22, 22, ["0.0.0.0/0"], ["::/0"]))
        f["j.json"]["LoadBalancers"][0]["IpAddressType"] = "ipv4"
    after = aws_report_from_directory(write(spoiled(later), tmp_path / "later", "111111111111/us-east-1"))
    d = diff(report, after)
    assert [f["check_id"] for f in d["new_findings"]] == ["aws.elb.not_dualstack"]
    assert [f["check_id"] for f in d["fixed_findings"]] == ["aws.vpc.flow_logs_missing"]
    assert d["summary"] == {"new": 1, "fixed": 1, "unchanged": 3}


def test_markdown_lists_every_finding(report: dict[str, Any]) -> None:
    text = markdown(report)
    assert "Compliance status: **NON_COMPLIANT**" in text and report["findings_sha256"] in text
    assert text.count("| HIGH |") == 3 and "aws.sg.remote_admin_ipv6_world" in text
