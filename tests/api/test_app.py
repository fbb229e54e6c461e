from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api_client import api_client
from v6ops.addr import explain
from v6ops.settings import Settings, SettingsError, load_settings


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return api_client(Settings(data_dir=tmp_path))


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["version"]


def test_address_endpoint_returns_what_explain_returns(client: TestClient) -> None:
    for text in ["2001:DB8::1", "2001:db8::/32", "::ffff:192.0.2.1", "fe80::1%eth0"]:
        response = client.get(f"/api/v1/addresses/{text.replace('%', '%25')}")
        assert response.status_code == 200
        assert response.json() == explain(text)


def test_bad_address_is_a_400_naming_the_input(client: TestClient) -> None:
    response = client.get("/api/v1/addresses/2001:db8::g")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("'2001:db8::g' does not appear to be an IPv4 or IPv6 address")
    response = client.get("/api/v1/addresses/2001:db8::1/32")
    assert response.status_code == 400 and "host bits set" in response.json()["detail"]


def test_openapi_lists_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/health" in paths and "/api/v1/addresses/{text}" in paths


def test_metrics_count_requests(client: TestClient) -> None:
    client.get("/health")
    text = client.get("/metrics").text
    assert 'v6ops_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text


def test_settings_from_toml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "v6ops.toml"
    config.write_text('[v6ops]\nport = 9000\nlog_format = "text"\ndatabase_url = "sqlite:///x.db"\n')
    monkeypatch.setenv("V6OPS_PORT", "9100")
    s = load_settings(config)
    assert (s.port, s.log_format, s.database_url) == (9100, "text", "sqlite:///x.db")  # env beats file
    monkeypatch.delenv("V6OPS_PORT")
    assert load_settings(config, port=9200).port == 9200  # explicit beats file


@pytest.mark.parametrize(
    ("content", "message"),
    [("[v6ops]\nport = 70000\n", "port: Input should be less than or equal to 65535"),
     ("[v6ops]\nport = \n", "is not valid TOML"),
     ("[v6ops]\nbogus = 1\n", "bogus: Extra inputs are not permitted")],
)
def test_bad_settings_are_named(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(SettingsError, match=message):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_metric_route_labels_are_full_templates(client: TestClient) -> None:
    client.get("/api/v1/addresses/2001:db8::/32")
    client.get("/api/v1/addresses/10.0.0.1")
    text = client.get("/metrics").text
    assert 'v6ops_http_requests_total{method="GET",route="/api/v1/addresses/{text}",status="200"} 2.0' in text
