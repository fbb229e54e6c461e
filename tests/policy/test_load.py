"""Loading: formats, environment expansion without leaking secrets, layouts, and the merge order."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from v6ops.policy.load import (
    PolicyLoadError,
    build_target,
    expand_env,
    format_path,
    is_secret_field,
    load_data,
    load_file,
    load_policy,
    load_text,
)
from v6ops.policy.profiles import PROFILE_DEFAULTS
from v6ops.policy.schema import (
    DocumentShape,
    ExtensionHeaderMode,
    FragmentPolicy,
    IPv6SecurityConfig,
    LogLevel,
    SecurityProfile,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
SECRET = "tok-9f8e7d6c5b4a"


def codes(problems: list) -> set[str]:
    return {p.code for p in problems}


def test_json_and_yaml_of_the_same_document_load_identically() -> None:
    yaml_text = (EXAMPLES / "ipv6-production.yaml").read_text()
    data = yaml.safe_load(yaml_text)
    env = {"SIEM_AUTH_TOKEN": SECRET}
    from_yaml = load_text(yaml_text, "prod.yaml", environ=env)
    from_json = load_text(json.dumps(data), "prod.json", environ=env)
    assert from_yaml.document is not None and from_json.document is not None
    assert from_yaml.document.targets == from_json.document.targets
    assert from_yaml.problems == from_json.problems == []


def test_format_is_detected_from_content_without_suffix() -> None:
    assert load_text('{"profile": "low"}', "-").document.targets[0].security.profile is SecurityProfile.LOW
    assert load_text("profile: low\n", "-").document.targets[0].security.profile is SecurityProfile.LOW


@pytest.mark.parametrize(("text", "source", "where"), [
    ('{"profile": "high",}', "a.json", "line 1"),
    ("ra_guard:\n  enabled: [\n", "a.yaml", "line 3"),
])
def test_syntax_errors_name_the_line(text: str, source: str, where: str) -> None:
    result = load_text(text, source)
    assert result.document is None
    assert codes(result.problems) == {"syntax"}
    assert where in result.problems[0].message


@pytest.mark.parametrize(("text", "source"), [
    ('{"ra_guard": {"enabled": true, "enabled": false}}', "a.json"),
    ("ra_guard:\n  enabled: true\n  enabled: false\n", "a.yaml"),
])
def test_duplicate_keys_are_errors_not_last_wins(text: str, source: str) -> None:
    result = load_text(text, source)
    assert result.document is None
    assert codes(result.problems) == {"duplicate-key"}
    assert "'enabled'" in result.problems[0].message


def test_not_a_mapping_and_unreadable_file(tmp_path: Path) -> None:
    assert codes(load_text("- 1\n- 2\n", "a.yaml").problems) == {"not-a-mapping"}
    assert codes(load_text("", "a.yaml").problems) == {"not-a-mapping"}
    missing = load_file(tmp_path / "nope.yaml")
    assert codes(missing.problems) == {"unreadable"}
    assert "nope.yaml" in missing.problems[0].message


def test_env_expansion_escapes_and_problems() -> None:
    data = {"monitoring": {"siem_config": {
        "endpoint": "https://${SIEM_HOST}/api", "auth_token": "${TOKEN}", "log_format": "$${LITERAL}",
    }}, "isolation": {"network_namespace": "${UNSET_VAR}", "bridge_interface": "${bad-name}"}}
    out, problems = expand_env(data, {"SIEM_HOST": "siem.example.net", "TOKEN": SECRET})
    assert out["monitoring"]["siem_config"]["endpoint"] == "https://siem.example.net/api"
    assert out["monitoring"]["siem_config"]["auth_token"] == SECRET
    assert out["monitoring"]["siem_config"]["log_format"] == "${LITERAL}"
    assert {(p.code, p.path) for p in problems} == {
        ("env-unset", "isolation.network_namespace"), ("env-reference", "isolation.bridge_interface"),
    }


def test_secret_fields_are_redacted_by_field_and_nothing_else_is_rewritten() -> None:
    # A secret field with a wrong value: its problem names the field, never the value.
    data = {"profile": "${TOKEN}", "monitoring": {"siem_config": {"auth_token": [SECRET], "enabled": True}}}
    result = load_data(data, "x.json", environ={"TOKEN": SECRET})
    by_path = {p.path: p.message for p in result.problems}
    assert set(by_path) == {"profile", "monitoring.siem_config.auth_token"}
    assert SECRET not in by_path["monitoring.siem_config.auth_token"]
    assert "not shown" in by_path["monitoring.siem_config.auth_token"]
    # The profile is not a secret field: its (wrong) value is quoted as written, as for any other field.
    assert f"'{SECRET}'" in by_path["profile"]
    assert is_secret_field(IPv6SecurityConfig, ("monitoring", "siem_config", "auth_token"))
    assert not is_secret_field(IPv6SecurityConfig, ("monitoring", "siem_config", "endpoint"))
    assert not is_secret_field(IPv6SecurityConfig, ("profile",))
    good = load_data({"monitoring": {"siem_config": {"auth_token": "${TOKEN}"}}}, "x.json", environ={"TOKEN": SECRET})
    assert good.document is not None
    assert SECRET not in good.document.model_dump_json()
    assert SECRET not in repr(good.document)
    token = good.document.targets[0].security.monitoring.siem_config.auth_token
    assert token.get_secret_value() == SECRET


def test_expand_false_keeps_placeholders_and_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", SECRET)
    result = load_data({"monitoring": {"siem_config": {"auth_token": "${TOKEN}"}}}, "api", expand=False)
    assert result.problems == []
    assert result.document.targets[0].security.monitoring.siem_config.auth_token.get_secret_value() == "${TOKEN}"


def test_unset_env_var_is_an_error_at_its_path() -> None:
    result = load_file(EXAMPLES / "ipv6-production.yaml", environ={})
    assert [(p.code, p.path) for p in result.problems] == [
        ("env-unset", "metald.network.ipv6.monitoring.siem_config.auth_token")
    ]


@pytest.mark.parametrize(("name", "shape", "targets"), [
    ("ipv6-production.yaml", DocumentShape.HOST, ["ipv6-production"]),
    ("ipv6-multi-tenant.yaml", DocumentShape.MULTI_TENANT, ["customer-001", "customer-002"]),
    ("webserver-high-security.json", DocumentShape.VM_REQUEST, ["webserver-high-security"]),
    ("migration-phase3-full-security.json", DocumentShape.SECURITY, ["migration-phase3-full-security"]),
    ("scalability-test-vm.json", DocumentShape.VM_REQUEST, ["scalability-test-vm"]),
])
def test_layouts_are_recognised(name: str, shape: DocumentShape, targets: list[str]) -> None:
    document = load_policy(EXAMPLES / name, environ={"SIEM_AUTH_TOKEN": SECRET})
    assert document.shape is shape
    assert [t.name for t in document.targets] == targets


def test_ipv6_config_layout_carries_addresses_and_interface() -> None:
    data = {"enabled": True, "addresses": ["2001:db8::10/64"], "security": {"profile": "low"},
            "interface": {"name": "eth0", "mtu": 1500, "vlan": {"vlan_id": 10}}}
    target = load_data(data, "vm.json").document.targets[0]
    assert target.enabled and target.addresses == ["2001:db8::10/64"]
    assert target.interface is not None and target.interface.vlan is not None and target.interface.vlan.vlan_id == 10
    assert target.security.profile is SecurityProfile.LOW


def test_webserver_example_round_trips_every_field() -> None:
    target = load_policy(EXAMPLES / "webserver-high-security.json").targets[0]
    sec = target.security
    assert sec.profile is SecurityProfile.HIGH
    assert sec.extension_headers.mode is ExtensionHeaderMode.SELECTIVE
    assert sec.extension_headers.allowed_types == [0, 6, 17]
    assert sec.extension_headers.fragment_policy is FragmentPolicy.REASSEMBLE
    assert sec.monitoring.security_log_level is LogLevel.INFO
    assert sec.rate_limits.burst_config.burst_packets == 500
    assert sec.compliance.data_retention_days == 2555
    assert target.interface is not None and target.interface.vlan is not None
    assert target.interface.vlan.priority == 7
    assert target.addresses == ["2001:db8:1000::10/64"]


def test_multi_tenant_merge_order_and_origins() -> None:
    document = load_policy(EXAMPLES / "ipv6-multi-tenant.yaml")
    one, two = document.targets
    # customer config wins over the profile (block_all_ra false) ...
    assert one.security.ra_guard.block_all_ra is False
    assert one.security.ra_guard.allowed_routers == ["2001:db8:1001::1"]
    # ... default_security wins over the profile (WARN instead of HIGH's INFO) ...
    assert one.security.monitoring.security_log_level is LogLevel.WARN
    # ... and the profile fills what nobody wrote.
    assert one.security.ra_guard.block_config.block_rdnss is True
    assert one.security.compliance.encryption.min_tls_version == "1.3"
    assert two.security.ra_guard.block_all_ra is True
    assert two.security.rate_limits.max_pps_per_vm == 15000
    base = "metald.network.ipv6"
    assert one.source_of("ra_guard.allowed_routers[0]") == f"{base}.customer_configs.customer-001.ra_guard.allowed_routers[0]"
    assert one.source_of("monitoring.security_log_level") == f"{base}.default_security.monitoring.security_log_level"
    assert one.source_of("ra_guard.block_config.block_rdnss") == "profile:HIGH.ra_guard.block_config.block_rdnss"
    assert one.source_of("profile") == f"{base}.security_profile".replace("security_profile", "profile")


def test_layer_precedence_lists_replace_and_null_means_not_given() -> None:
    data = {"metald": {"network": {"ipv6": {
        "security_profile": "medium",
        "extension_headers": {"allowed_types": [0]},
        "default_security": {"profile": "low", "extension_headers": {"allowed_types": [44, 60]},
                             "rate_limits": {"max_pps_per_vm": 100}},
        "customer_configs": {
            "a": {"profile": "high", "rate_limits": {"max_pps_per_vm": None}},
            "b": {"extension_headers": {"allowed_types": [60]}},
        },
    }}}}
    a, b = load_data(data, "mt.yaml").document.targets
    assert a.security.profile is SecurityProfile.HIGH  # customer's profile wins
    assert b.security.profile is SecurityProfile.LOW  # then default_security's
    assert a.security.extension_headers.allowed_types == [44, 60]  # list replaced, not concatenated
    assert b.security.extension_headers.allowed_types == [60]
    assert a.security.rate_limits.max_pps_per_vm == 100  # null in the customer layer = not given
    assert a.security.rate_limits.method.value == "TOKEN_BUCKET"  # from HIGH defaults
    assert b.security.extension_headers.mode is ExtensionHeaderMode.ALLOW_ALL  # LOW defaults


def test_profile_burst_scales_with_a_written_rate_but_a_written_burst_is_kept() -> None:
    scaled = load_data({"profile": "high", "rate_limits": {"max_pps_per_vm": 5000}}, "p").document.targets[0]
    assert scaled.security.rate_limits.burst_config.burst_packets == 500  # 100 ms of 5000 pps
    kept = load_data({"profile": "high", "rate_limits": {"max_pps_per_vm": 5000,
                                                         "burst_config": {"burst_packets": 900}}}, "p")
    assert kept.document.targets[0].security.rate_limits.burst_config.burst_packets == 900


def test_unknown_field_suggests_the_closest_name() -> None:
    result = load_data({"ra_guard": {"block_all_ras": True}, "source_validaton": {}}, "x.json")
    messages = {p.path: p.message for p in result.problems}
    assert "did you mean 'block_all_ra'" in messages["ra_guard.block_all_ras"]
    assert "did you mean 'source_validation'" in messages["source_validaton"]


def test_structure_errors_are_all_collected_at_document_paths() -> None:
    data = {"metald": {"network": {"ipv6": {"customer_configs": {
        "c1": {"isolation": {"customer_vlan": "ten"}}, "c2": {"rate_limits": {"method": "FASTEST"}},
    }}}}}
    result = load_data(data, "mt.yaml")
    assert result.document is None
    assert {p.path for p in result.problems} == {
        "metald.network.ipv6.customer_configs.c1.isolation.customer_vlan",
        "metald.network.ipv6.customer_configs.c2.rate_limits.method",
    }
    assert str(PolicyLoadError("mt.yaml", result.problems)).endswith("(and 1 more)")


def test_load_policy_raises_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"ra_guard": {"enabled": "sometimes"}, "isolation": {"customer_vlan": -1}}')
    with pytest.raises(PolicyLoadError) as info:
        load_policy(path)
    assert {p.path for p in info.value.problems} == {"ra_guard.enabled", "isolation.customer_vlan"}


def test_layers_overlay_field_by_field_and_share_untouched_sections() -> None:
    first = IPv6SecurityConfig.model_validate({"profile": "custom", "ra_guard": {"enabled": True, "max_ra_rate": 3},
                                               "isolation": {"customer_vlan": 7}})
    second = IPv6SecurityConfig.model_validate({"ra_guard": {"max_ra_rate": 9}, "extension_headers": {}})
    target = build_target("t", [("A", first), ("B", second)])
    assert target.security.ra_guard.enabled is True  # from A, B did not state it
    assert target.security.ra_guard.max_ra_rate == 9  # B wins
    other = build_target("u", [("C", first)])
    assert target.security.compliance is other.security.compliance  # untouched frozen section shared, not copied
    assert target.origins["ra_guard.enabled"] == "A.ra_guard.enabled"
    assert target.origins["ra_guard.max_ra_rate"] == "B.ra_guard.max_ra_rate"
    assert "extension_headers.mode" not in target.origins  # an empty section states nothing
    assert target.origins["profile"] == "A.profile"


def test_format_path_quotes_odd_keys() -> None:
    assert format_path(["a", 0, "b-c", "d.e"]) == 'a[0].b-c["d.e"]'


def test_every_profile_default_is_schema_valid() -> None:
    for profile, defaults in PROFILE_DEFAULTS.items():
        result = load_data({"profile": profile.value, **defaults}, "p")
        assert result.document is not None, (profile, result.problems)


def test_default_security_without_customers_is_flagged() -> None:
    data = {"metald": {"network": {"ipv6": {"enabled": True, "default_security": {"ra_guard": {"enabled": True}}}}}}
    result = load_data(data, "host.yaml")
    assert result.document is not None and result.document.shape is DocumentShape.HOST
    assert [(p.code, p.path) for p in result.problems] == [
        ("default-security-unused", "metald.network.ipv6.default_security")]


def test_yaml_problems_carry_their_line() -> None:
    text = "profile: custom\nra_guard:\n  allowed_routers:\n    - fe80::1\n    - not-an-address\nisolation: {customer_vlan: 9999}\n"
    from v6ops.policy.validate import validate_text

    problems = {p.path: p.line for p in validate_text(text, "p.yaml").problems}
    assert problems["ra_guard.allowed_routers[1]"] == 5
    assert problems["isolation.customer_vlan"] == 6
    assert validate_text('{"isolation": {"customer_vlan": 9999}}', "p.json").problems[0].line is None


def test_a_missing_field_points_at_its_parent_line() -> None:
    text = "ra_guard:\n  enabled: false\n  max_ra_rate: 5\n"
    result = load_text(text, "p.yaml")
    assert result.line_of("ra_guard.block_all_ra") == 1
    assert result.line_of("ra_guard.max_ra_rate") == 3
    assert result.line_of("profile") is None


def test_enum_spelling_does_not_change_the_result() -> None:
    """The webserver example in proto names equals the same file in short lower-case names."""
    from v6ops.policy.schema import ProtoEnum

    def respell(node: object) -> object:
        if isinstance(node, dict):
            return {k: respell(v) for k, v in node.items()}
        if isinstance(node, list):
            return [respell(v) for v in node]
        if isinstance(node, str) and node.isupper() and "_" in node:
            for cls in ProtoEnum.__subclasses__():
                if node.startswith(cls.proto_prefix()):
                    return node.removeprefix(cls.proto_prefix()).lower().replace("_", "-")
        return node

    data = json.loads((EXAMPLES / "webserver-high-security.json").read_text())
    respelled = respell(data)
    assert json.dumps(respelled) != json.dumps(data)
    assert "selective" in json.dumps(respelled)
    assert load_data(respelled, "w.json").document == load_data(data, "w.json").document


@pytest.mark.parametrize("data", [
    {"metald": [1]}, {"metald": {"network": "x"}}, {"metald": {"network": {"ipv6": 5}}}, {"config": []},
    {"config": {"ipv6_config": "on"}}, {"metald": {"network": {"ipv6": {"customer_configs": [1]}}}},
])
def test_malformed_layouts_are_problems_not_crashes(data: dict) -> None:
    result = load_data(data, "x.yaml")
    assert result.document is None
    assert result.problems and all(p.code == "schema" for p in result.problems)


def _deep_merge(base: dict, layer: dict) -> dict:
    out = dict(base)
    for key, value in layer.items():
        out[key] = _deep_merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


_LAYER = st.fixed_dictionaries({}, optional={
    "profile": st.sampled_from(["high", "MEDIUM", "SECURITY_PROFILE_LOW", "custom"]),
    "ra_guard": st.fixed_dictionaries({}, optional={
        "enabled": st.booleans(), "max_ra_rate": st.integers(0, 50),
        "block_config": st.fixed_dictionaries({}, optional={"block_rdnss": st.booleans()})}),
    "extension_headers": st.fixed_dictionaries({}, optional={
        "allowed_types": st.lists(st.sampled_from([0, 43, 44, 60]), max_size=3),
        "mode": st.sampled_from(["SELECTIVE", "allow-all"])}),
    "rate_limits": st.fixed_dictionaries({}, optional={
        "max_pps_per_vm": st.integers(1, 10**6),
        "burst_config": st.fixed_dictionaries({}, optional={"burst_packets": st.integers(1, 100)})}),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(_LAYER, min_size=1, max_size=4))
def test_layering_equals_a_plain_deep_merge(layers: list[dict]) -> None:
    """Oracle: dict deep-merge of profile defaults and the layers, validated once (burst rescaling aside)."""
    from v6ops.policy.profiles import PROFILE_DEFAULTS

    models = [("L" + str(i), IPv6SecurityConfig.model_validate(layer)) for i, layer in enumerate(layers)]
    target = build_target("t", models)
    profile = next((m.profile for _, m in reversed(models) if "profile" in m.model_fields_set),
                   SecurityProfile.UNSPECIFIED)
    merged: dict = copy.deepcopy(PROFILE_DEFAULTS[profile])
    for layer in layers:
        merged = _deep_merge(merged, layer)
    merged["profile"] = profile.value
    expected = IPv6SecurityConfig.model_validate(merged)
    rates = merged.get("rate_limits", {})
    burst_written = any("burst_packets" in layer.get("rate_limits", {}).get("burst_config", {}) for layer in layers)
    if profile in (SecurityProfile.HIGH, SecurityProfile.MEDIUM) and not burst_written \
            and any("max_pps_per_vm" in layer.get("rate_limits", {}) for layer in layers):
        packets = rates["max_pps_per_vm"] * rates["burst_config"]["burst_duration_ms"] // 1000
        merged["rate_limits"]["burst_config"]["burst_packets"] = packets
        expected = IPv6SecurityConfig.model_validate(merged)
    assert target.security == expected
    for i, layer in enumerate(layers):  # every leaf a later layer does not override names this layer
        for key, section in layer.items():
            if isinstance(section, dict) and key == "ra_guard" and "max_ra_rate" in section:
                later = any("max_ra_rate" in lay.get("ra_guard", {}) for lay in layers[i + 1:])
                if not later:
                    assert target.origins["ra_guard.max_ra_rate"] == f"L{i}.ra_guard.max_ra_rate"
