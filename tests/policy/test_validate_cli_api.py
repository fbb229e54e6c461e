"""`v6ops policy validate` and POST /api/v1/policy/validate return the same report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api_client import api_client
from v6ops.cli.main import app as main_app
from v6ops.cli.policy import app
from v6ops.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
runner = CliRunner()


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return api_client(Settings(data_dir=tmp_path), "viewer")


def test_valid_file_exits_zero_with_a_table() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "webserver-high-security.json")])
    assert result.exit_code == 0, result.output
    assert "valid (vm-request; targets: webserver-high-security)" in " ".join(result.stdout.split())


def test_invalid_file_exits_one_and_lists_every_problem_as_json() -> None:
    result = runner.invoke(app, ["validate", "--json", str(EXAMPLES / "invalid" / "multi-tier-backend.json")])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["errors"] == 5
    assert {p["path"] for p in report["problems"]} >= {
        "config.ipv6_config.addresses[0]",
        "config.ipv6_config.security.source_validation.allowed_egress_prefixes[1]",
    }


def test_missing_file_exits_non_zero_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    [row] = [line for line in result.stdout.splitlines() if line.startswith("error ")]
    assert row.split(None, 2)[:2] == ["error", "(document)"]
    assert f"cannot read {path}: No such file or directory  unreadable" in row  # whole, however long the path


def test_policy_group_is_registered_in_the_main_cli() -> None:
    result = runner.invoke(main_app, ["policy", "validate", "--json", str(EXAMPLES / "scalability-test-vm.json")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["targets"] == ["scalability-test-vm"]


BAD_PRODUCTION = (EXAMPLES / "ipv6-production.yaml").read_text().replace('mode: "SELECTIVE"', 'mode: "EXTENSION_PARTY"')
LONG_TOKEN = "hunter2-very-secret-token-0123456789"


def _validate_bad_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str, *args: str) -> str:
    monkeypatch.setenv("SIEM_AUTH_TOKEN", token)
    path = tmp_path / "prod.yaml"
    path.write_text(BAD_PRODUCTION)
    result = runner.invoke(app, ["validate", *args, str(path)])
    assert result.exit_code == 1, result.output
    return result.stdout


@pytest.mark.parametrize("token", ["x", "1", "us", "e", "status"])
@pytest.mark.parametrize("as_json", [True, False])
def test_short_secret_values_change_nothing_in_the_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str, as_json: bool) -> None:
    args = ("--json",) if as_json else ()
    long = _validate_bad_production(tmp_path, monkeypatch, LONG_TOKEN, *args)
    short = _validate_bad_production(tmp_path, monkeypatch, token, *args)
    assert LONG_TOKEN not in long
    assert short == long  # the token never appears, and nothing else is rewritten
    if as_json:
        [problem] = [p for p in json.loads(short)["problems"] if p["severity"] == "error"]
        assert problem["path"] == "metald.network.ipv6.extension_headers.mode"
        assert problem["line"] == 32
        assert "ExtensionHeaderMode" in problem["message"] or "SELECTIVE" in problem["message"]


@pytest.mark.parametrize("value", ["x", "1", "us"])
def test_environment_values_in_other_fields_are_shown_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("V6OPS_REGION", value)
    path = tmp_path / "p.yaml"
    path.write_text("isolation:\n  network_namespace: ns-${V6OPS_REGION}\nstatus_bogus: 1\n")
    report = json.loads(runner.invoke(app, ["validate", "--json", str(path)]).stdout)
    [problem] = report["problems"]
    assert problem["path"] == "status_bogus" and problem["line"] == 3
    assert "'status_bogus'" in problem["message"]
    path.write_text("isolation:\n  network_namespace: ns-${V6OPS_REGION}\n")
    shown = json.loads(runner.invoke(app, ["show", "--json", str(path)]).stdout)
    [namespace] = [f["value"] for f in shown["targets"][0]["fields"] if f["field"] == "isolation.network_namespace"]
    assert namespace == f"ns-{value}"


def test_secret_field_value_is_never_printed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("V6OPS_TEST_SECRET", LONG_TOKEN)
    path = tmp_path / "p.yaml"
    path.write_text("monitoring:\n  siem_config:\n    enabled: true\n    endpoint: 'ftp://siem.example.net'\n"
                    "    auth_token: ${V6OPS_TEST_SECRET}\n")
    for args in (["validate", str(path)], ["validate", "--json", str(path)], ["show", str(path)],
                 ["show", "--json", str(path)]):
        result = runner.invoke(app, args)
        assert LONG_TOKEN not in result.output, args
    report = json.loads(runner.invoke(app, ["validate", "--json", str(path)]).stdout)
    assert [p["code"] for p in report["problems"] if p["severity"] == "error"] == ["bad-url"]
    shown = json.loads(runner.invoke(app, ["show", "--json", str(path)]).stdout)
    [token] = [f["value"] for f in shown["targets"][0]["fields"] if f["field"] == "monitoring.siem_config.auth_token"]
    assert token == "**********"


def test_api_returns_the_cli_object(client: TestClient) -> None:
    path = EXAMPLES / "ipv6-multi-tenant.yaml"
    cli = json.loads(runner.invoke(app, ["validate", "--json", str(path)]).stdout)
    response = client.post("/api/v1/policy/validate", json={"document": path.read_text(), "name": str(path)})
    assert response.status_code == 200
    assert response.json() == cli


def test_api_accepts_a_json_object_and_answers_422_with_the_report(client: TestClient) -> None:
    body = {"document": {"isolation": {"customer_vlan": 4095}}, "name": "vm-7"}
    response = client.post("/api/v1/policy/validate", json=body)
    assert response.status_code == 422
    report = response.json()
    assert report["targets"] == ["vm-7"]
    assert [(p["code"], p["path"]) for p in report["problems"] if p["severity"] == "error"] == [
        ("vlan-out-of-range", "isolation.customer_vlan")]


def test_api_never_expands_server_environment(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V6OPS_TEST_SECRET", "server-side-secret")
    body = {"document": {"isolation": {"network_namespace": "${V6OPS_TEST_SECRET}/x"}}}
    response = client.post("/api/v1/policy/validate", json=body)
    assert response.status_code == 422
    assert "server-side-secret" not in response.text
    assert "${V6OPS_TEST_SECRET}/x" in response.text


def test_api_reports_yaml_syntax_errors(client: TestClient) -> None:
    response = client.post("/api/v1/policy/validate", json={"document": "a: [", "format": "yaml"})
    assert response.status_code == 422
    assert response.json()["problems"][0]["code"] == "syntax"


def test_api_rejects_a_malformed_request(client: TestClient) -> None:
    assert client.post("/api/v1/policy/validate", json={"doc": {}}).status_code == 422
    assert client.post("/api/v1/policy/validate", json={"document": 5}).status_code == 422


def test_openapi_documents_the_policy_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/policy/validate", "/api/v1/policy/compliance"} <= set(paths)
    assert "422" in paths["/api/v1/policy/validate"]["post"]["responses"]


def test_profiles_command_prints_every_profile() -> None:
    result = runner.invoke(app, ["profiles", "--json"])
    assert result.exit_code == 0
    profiles = json.loads(result.stdout)
    assert list(profiles) == ["HIGH", "MEDIUM", "LOW", "CUSTOM"]
    assert profiles["HIGH"]["ra_guard"]["block_all_ra"] is True
    assert profiles["CUSTOM"]["ra_guard"]["enabled"] is False
    table = runner.invoke(app, ["profiles"])
    assert table.exit_code == 0
    rows = {line.split()[0]: line.split()[1:] for line in table.stdout.splitlines() if line and line[0] != "#"}
    assert rows["field"] == ["HIGH", "MEDIUM", "LOW", "CUSTOM"]
    assert rows["block_all_ra"] == ["True", "False", "False", "False"]


def test_profiles_endpoint_returns_the_cli_object(client: TestClient) -> None:
    cli = json.loads(runner.invoke(app, ["profiles", "--json"]).stdout)
    assert client.get("/api/v1/policy/profiles").json() == cli


def test_show_names_the_source_of_every_field(monkeypatch: pytest.MonkeyPatch, client: TestClient) -> None:
    monkeypatch.setenv("SIEM_AUTH_TOKEN", "shown-nowhere-123")
    path = EXAMPLES / "ipv6-multi-tenant.yaml"
    result = runner.invoke(app, ["show", "--json", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    one = {f["field"]: f for f in report["targets"][0]["fields"]}
    base = "metald.network.ipv6"
    assert one["ra_guard.max_ra_rate"] == {"field": "ra_guard.max_ra_rate", "value": 5,
                                           "source": f"{base}.customer_configs.customer-001.ra_guard.max_ra_rate"}
    assert one["monitoring.security_log_level"]["source"] == f"{base}.default_security.monitoring.security_log_level"
    assert one["ra_guard.block_config.block_rdnss"]["source"] == "profile:HIGH.ra_guard.block_config.block_rdnss"
    assert one["isolation.additional_vlans"]["source"] == "unset (proto3 zero value)"
    assert report["targets"][0]["profile"] == "HIGH"
    api = client.post("/api/v1/policy/effective", json={"document": path.read_text(), "name": str(path)})
    assert api.status_code == 200 and api.json() == report


def test_show_never_prints_a_token_and_fails_on_unloadable_input(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"monitoring": {"siem_config": {"auth_token": "literal-token-xyz"}}}')
    for args in (["show", str(path)], ["show", "--json", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "literal-token-xyz" not in result.stdout
    path.write_text('{"isolation": {"customer_vlan": "many"}}')
    result = runner.invoke(app, ["show", str(path)])
    assert result.exit_code == 1 and "cannot be loaded" in " ".join(result.stdout.split())


def test_strict_turns_warnings_into_a_failure() -> None:
    path = str(EXAMPLES / "webserver-high-security.json")
    assert runner.invoke(app, ["validate", path]).exit_code == 0
    assert runner.invoke(app, ["validate", "--strict", path]).exit_code == 1
    clean = str(EXAMPLES / "scalability-test-vm.json")
    assert runner.invoke(app, ["validate", "--strict", clean]).exit_code == 0
