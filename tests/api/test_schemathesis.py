"""schemathesis against the OpenAPI document, with an operator token: no 5xx, every response matches its schema.

The database holds the example plan and a few subscribers and devices, so generated requests also reach
real rows. Any S3 URL a case invents goes to a closed loopback port, never outside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api_client import bearer, make_token
from tests.ipam.fixtures import PLAN
from v6ops.api.app import create_app
from v6ops.ipam import service
from v6ops.ipam.plan import load_plan
from v6ops.ipam.subscribers import SubscriberSpec
from v6ops.settings import Settings
from v6ops.store.db import open_store

EXAMPLES = 50


def build_schema(tmp_path: Path) -> tuple[Any, dict[str, str]]:
    settings_ = Settings(data_dir=tmp_path)
    store = open_store(settings_.resolved_database_url())
    service.plan_apply(store, load_plan(PLAN))
    for i in range(3):
        service.add_subscriber(store, SubscriberSpec(name=f"sub{i}", pool="city-1-residential"))
        service.add_device(store, {"name": f"dev{i}", "region": "region-a"}, None)
    headers = bearer(make_token(settings_.resolved_database_url(), "operator"))
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_), headers=headers), headers


def test_api_has_no_server_errors_and_matches_its_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # schemathesis' own pytest plugin does not load under this pytest, so each operation's strategy is driven here.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    schema, headers = build_schema(tmp_path)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 25
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, reported together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    return build_schema(tmp_path_factory.mktemp("regressions"))


@pytest.mark.parametrize(("method", "url", "body", "status"), [
    ("POST", "/api/v1/ipam/subscribers", {"name": "x", "rate_limits": {"ipv6": {"upload": {}}}}, 422),
    ("PATCH", "/api/v1/ipam/subscribers/sub0", {"rate_limits": {"ipv6": {"upload": {}}}}, 422),
    ("PATCH", "/api/v1/ipam/subscribers/sub0", {"rate_limits": {"ipv4": {"download": "9" * 40 + "T"}}}, 422),
    ("GET", "/api/v1/ipam/devices?offset=4561954846635628852269641891840000", None, 422),
    ("POST", "/api/v1/flows/report", {"paths": ["a\x00b", "\x1b[31m"], "junk": 1, "\x07": "x"}, 422),
    ("POST", "/api/v1/flows/report/upload?name=a%00b", None, 400),
])
def test_the_server_errors_schemathesis_found_are_4xx_now(built: tuple[Any, dict[str, str]], method: str, url: str,
                                                           body: Any, status: int) -> None:
    schema, headers = built
    client = TestClient(schema.app, headers=headers)
    r = client.request(method, url, json=body, content=b"x" if body is None and method == "POST" else None)
    assert r.status_code == status, r.text
