"""Every config the seed shows, extracted into examples/policies/, loads and validates.

Files under invalid/ are the seed's own mistakes, kept with the errors they must produce.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from v6ops.policy.problems import Severity
from v6ops.policy.validate import load_validated, validate_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
ENV = {"SIEM_AUTH_TOKEN": "example-token"}
VALID = sorted(p for p in EXAMPLES.glob("*.*") if p.suffix in (".json", ".yaml"))
INVALID: dict[str, set[tuple[str, str]]] = {
    # 'app', 'frontend' are not hexadecimal: the seed's address is not an IPv6 address
    "multi-tier-frontend.json": {("bad-address", "config.ipv6_config.addresses[0]")},
    "multi-tier-backend.json": {
        ("bad-address", "config.ipv6_config.addresses[0]"),
        ("bad-prefix", "config.ipv6_config.security.source_validation.allowed_ingress_prefixes[0]"),
        ("bad-prefix", "config.ipv6_config.security.source_validation.allowed_ingress_prefixes[1]"),
        ("bad-prefix", "config.ipv6_config.security.source_validation.allowed_egress_prefixes[0]"),
        ("bad-prefix", "config.ipv6_config.security.source_validation.allowed_egress_prefixes[1]"),
    },
    # the seed's PATCH bodies toggle an "enabled" flag these messages do not have
    "performance-debug-disable.json": {("unknown-field", "source_validation.enabled"),
                                       ("unknown-field", "rate_limits.enabled")},
    "performance-debug-restore.json": {("unknown-field", "source_validation.enabled"),
                                       ("unknown-field", "rate_limits.enabled")},
}


def test_examples_exist_in_both_formats() -> None:
    assert {p.suffix for p in VALID} == {".json", ".yaml"}
    assert len(VALID) >= 10
    assert sorted(p.name for p in (EXAMPLES / "invalid").iterdir()) == sorted(INVALID)


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_seed_example_is_valid(path: Path) -> None:
    report = validate_file(path, environ=ENV)
    assert report.valid, [p for p in report.problems if p.severity is Severity.ERROR]
    assert load_validated(path, environ=ENV).targets


@pytest.mark.parametrize("name", sorted(INVALID))
def test_seed_mistake_is_reported(name: str) -> None:
    report = validate_file(EXAMPLES / "invalid" / name, environ=ENV)
    assert not report.valid
    assert {(p.code, p.path) for p in report.problems if p.severity is Severity.ERROR} == INVALID[name]


def test_yaml_examples_parse_the_same_as_their_json_rendering(tmp_path: Path) -> None:
    for path in EXAMPLES.glob("*.yaml"):
        as_json = tmp_path / (path.stem + ".json")
        as_json.write_text(json.dumps(yaml.safe_load(path.read_text())))
        from_yaml = validate_file(path, environ=ENV).problems
        assert all(p.line for p in from_yaml)  # YAML problems name their line; JSON ones cannot
        assert validate_file(as_json, environ=ENV).problems == [p.model_copy(update={"line": None}) for p in from_yaml]


def test_seed_warnings_are_explained() -> None:
    """The seed's real slips that still apply: a global router address, TCP/UDP listed as extension headers."""
    multi = validate_file(EXAMPLES / "ipv6-multi-tenant.yaml", environ=ENV)
    assert ("router-not-link-local", "metald.network.ipv6.customer_configs.customer-001.ra_guard.allowed_routers[0]") \
        in {(p.code, p.path) for p in multi.problems}
    web = validate_file(EXAMPLES / "webserver-high-security.json", environ=ENV)
    assert {"not-an-extension-header", "fragment-not-listed"} <= {p.code for p in web.problems}
