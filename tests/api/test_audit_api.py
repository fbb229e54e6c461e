"""``/api/v1/audit``: the same objects as the CLI; bad input is a 4xx naming it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.api_client import api_client
from tests.audit.aws_account import good_account, spoiled, write
from v6ops.cli.main import app as cli
from v6ops.settings import Settings


def test_aws_audit_matches_the_cli(tmp_path: Path) -> None:
    write(spoiled(lambda f: f["j.json"]["LoadBalancers"][0].__setitem__("IpAddressType", "ipv4")), tmp_path, "acct/us-east-1")
    client = api_client(Settings(data_dir=tmp_path))
    got = client.post("/api/v1/audit/aws", json={"path": "acct"})
    assert got.status_code == 200, got.text
    cli_report = json.loads(CliRunner().invoke(cli, ["audit", "aws", "--from", str(tmp_path / "acct"), "--json"]).stdout)
    assert got.json()["findings"] == cli_report["findings"]
    assert got.json()["findings_sha256"] == cli_report["findings_sha256"]
    assert client.post("/api/v1/audit/verify", json=got.json()).json()["ok"] is True
    sarif = client.post("/api/v1/audit/aws", json={"path": "acct", "format": "sarif"})
    assert sarif.headers["content-type"].startswith("application/sarif+json") and sarif.json()["version"] == "2.1.0"
    d = client.post("/api/v1/audit/diff", json={"old": got.json(), "new": got.json()}).json()
    assert d["summary"] == {"new": 0, "fixed": 0, "unchanged": 1}


def test_errors(tmp_path: Path) -> None:
    write(good_account(), tmp_path, "acct/us-east-1")
    (tmp_path / "acct" / "us-east-1" / "i.json").write_text('{"Reservations": []}')
    client = api_client(Settings(data_dir=tmp_path))
    bad = client.post("/api/v1/audit/aws", json={"path": "acct"})
    assert bad.status_code == 400 and "i.json: output of ec2 describe-instances" in bad.json()["detail"]
    assert client.post("/api/v1/audit/aws", json={"path": "../etc"}).status_code == 403
    assert client.post("/api/v1/audit/verify", json={"findings": 1}).status_code == 400
