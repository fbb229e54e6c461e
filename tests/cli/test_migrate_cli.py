"""``v6ops migrate`` and ``/api/v1/migrate`` return the same objects."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.api_client import api_client
from tests.audit.aws_account import good_account, spoiled, write
from v6ops.cli.main import app
from v6ops.settings import Settings

runner = CliRunner()
VPC = "2600:1f18:aaaa:ab00::/56"


def test_subnets_cli_and_api(tmp_path: Path) -> None:
    (tmp_path / "subnets.json").write_text(json.dumps(good_account()["b.json"]))  # uses ab01..ab04
    out = runner.invoke(app, ["migrate", "subnets", "--vpc-ipv6", VPC, "--subnet", "web-c:public", "--subnet", "app:private::1",
                              "--existing", str(tmp_path / "subnets.json"), "--json"])
    assert out.exit_code == 0, out.output
    cli = json.loads(out.stdout)
    assert [s["ipv6_cidr"] for s in cli] == ["2600:1f18:aaaa:ab00::/64", "2600:1f18:aaaa:ab40::/64"]
    api = api_client(Settings(data_dir=tmp_path)).post("/api/v1/migrate/subnets", json={
        "vpc_ipv6": VPC, "subnets": [{"name": "web-c", "tier": "public"}, {"name": "app", "tier": "private", "az": 1}],
        "existing": ["2600:1f18:aaaa:ab01::/64", "2600:1f18:aaaa:ab02::/64"]})
    assert api.json() == cli
    tf = runner.invoke(app, ["migrate", "subnets", "--vpc-ipv6", VPC, "--subnet", "a:public", "--format", "terraform"])
    assert 'resource "aws_subnet" "a"' in tf.stdout
    bad = runner.invoke(app, ["migrate", "subnets", "--vpc-ipv6", VPC, "--subnet", "a:public:99"])
    assert bad.exit_code == 2 and "index 99 is outside tier public" in bad.stderr
    assert api_client(Settings(data_dir=tmp_path)).post("/api/v1/migrate/subnets", json={
        "vpc_ipv6": VPC, "subnets": [{"name": "a", "tier": "nope"}]}).status_code == 400


def test_plan_cli_and_api(tmp_path: Path) -> None:
    root = write(spoiled(lambda f: f["j.json"]["LoadBalancers"][0].__setitem__("IpAddressType", "ipv4")), tmp_path / "in", "us-east-1")
    assert runner.invoke(app, ["audit", "aws", "--from", str(root), "-o", str(tmp_path / "r.json"), "--json"]).exit_code == 0
    out = runner.invoke(app, ["migrate", "plan", "--audit", str(tmp_path / "r.json"), "--json"])
    assert out.exit_code == 0, out.output
    cli = json.loads(out.stdout)
    assert cli["current_phase"] == "load_balancers"
    api = api_client(Settings(data_dir=tmp_path)).post(
        "/api/v1/migrate/plan", json={"audits": [json.loads((tmp_path / "r.json").read_text())]}).json()
    assert api == cli
    assert runner.invoke(app, ["migrate", "verdicts", str(tmp_path / "r.json")]).exit_code == 2


def test_verdicts_cli_and_api(tmp_path: Path) -> None:
    flows = {"summary": {"requests": 10}, "adoption": {"flows": {"ipv6_share": 0.2}, "requests": {"ipv6_share": 0.6}},
             "alb": {"per_class": [{"traffic_class": "ipv4", "latency_seconds": {"mean": 0.100}},
                                   {"traffic_class": "ipv6", "latency_seconds": {"mean": 0.104}}]}}
    (tmp_path / "report.json").write_text(json.dumps(flows))
    out = runner.invoke(app, ["migrate", "verdicts", str(tmp_path / "report.json"), "--json"])
    cli = json.loads(out.stdout)
    assert cli["adoption"]["verdict"] == "successful" and cli["performance"]["verdict"] == "parity"
    client = api_client(Settings(data_dir=tmp_path))
    assert client.post("/api/v1/migrate/verdicts", json=flows).json() == cli
    assert client.post("/api/v1/migrate/verdicts", json={"x": 1}).status_code == 400
