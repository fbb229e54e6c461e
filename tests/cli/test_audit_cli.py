"""``v6ops audit``: reports written in each format, verify, diff, and one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.audit.aws_account import _perm, good_account, spoiled, write
from v6ops.cli.main import app

runner = CliRunner()


def test_aws_from_directory_json_and_files(tmp_path: Path) -> None:
    root = write(spoiled(lambda f: f["c.json"]["SecurityGroups"][0]["IpPermissions"].append(_perm("tcp", 3389, 3389, v6=["::/0"]))),
                 tmp_path / "in", "111111111111/us-east-1")
    out = runner.invoke(app, ["audit", "aws", "--from", str(root), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert {f["check_id"] for f in report["findings"]} == {
        "aws.sg.remote_admin_ipv6_world", "aws.sg.ipv6_world_ingress", "aws.sg.ipv6_only_port"}
    for name in ("r.json", "r.md", "r.sarif"):
        done = runner.invoke(app, ["audit", "aws", "--from", str(root), "-o", str(tmp_path / name), "--json"])
        assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "r.sarif").read_text())["version"] == "2.1.0"
    assert (tmp_path / "r.md").read_text().startswith("# v6ops aws audit")
    ok = runner.invoke(app, ["audit", "verify", str(tmp_path / "r.json"), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"]
    tampered = json.loads((tmp_path / "r.json").read_text())
    tampered["findings"][0]["resource_id"] = "sg-other"
    (tmp_path / "t.json").write_text(json.dumps(tampered))
    bad = runner.invoke(app, ["audit", "verify", str(tmp_path / "t.json"), "--json"])
    assert bad.exit_code == 1 and not json.loads(bad.stdout)["ok"]


def test_diff(tmp_path: Path) -> None:
    a = write(good_account(), tmp_path / "a", "us-east-1")
    b = write(spoiled(lambda f: f["f.json"].__setitem__("FlowLogs", [])), tmp_path / "b", "us-east-1")
    for name, root in (("a.json", a), ("b.json", b)):
        assert runner.invoke(app, ["audit", "aws", "--from", str(root), "-o", str(tmp_path / name), "--json"]).exit_code == 0
    out = runner.invoke(app, ["audit", "diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json"])
    assert json.loads(out.stdout)["summary"] == {"new": 1, "fixed": 0, "unchanged": 0}


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    write(good_account(), tmp_path, "us-east-1")
    (tmp_path / "us-east-1" / "x.json").write_text('{"Subnets": [')
    out = runner.invoke(app, ["audit", "aws", "--from", str(tmp_path)])
    assert out.exit_code == 2
    assert "x.json: not valid JSON (truncated?)" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert runner.invoke(app, ["audit", "aws"]).exit_code == 2
    assert runner.invoke(app, ["audit", "verify", str(tmp_path / "us-east-1" / "a.json")]).exit_code == 2


def test_fail_on_gates(tmp_path: Path) -> None:
    root = write(spoiled(lambda f: f["j.json"]["LoadBalancers"][0].__setitem__("IpAddressType", "ipv4")), tmp_path, "us-east-1")
    assert runner.invoke(app, ["audit", "aws", "--from", str(root), "--json", "--fail-on", "HIGH"]).exit_code == 0
    gated = runner.invoke(app, ["audit", "aws", "--from", str(root), "-o", str(tmp_path / "r.sarif"), "--fail-on", "medium"])
    assert gated.exit_code == 3 and (tmp_path / "r.sarif").exists()
    assert runner.invoke(app, ["audit", "aws", "--from", str(root), "--fail-on", "CRITICAL"]).exit_code == 2
