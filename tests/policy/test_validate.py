"""Every validation rule: one failing config per rule, asserted by code, path and severity."""

from __future__ import annotations

import copy
import ipaddress
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from v6ops.policy.problems import Severity
from v6ops.policy.validate import (
    MAX_CHAIN_LENGTH,
    PolicyInvalidError,
    load_validated,
    parse_tls_version,
    validate_data,
    validate_file,
    validate_text,
)

# A complete, clean policy: every rule below breaks exactly one thing in a copy of it.
CLEAN: dict[str, Any] = {
    "profile": "CUSTOM",
    "ra_guard": {"enabled": True, "block_all_ra": False, "allowed_routers": ["fe80::1"], "max_ra_rate": 10},
    "source_validation": {"strict_ingress": True, "strict_egress": True,
                          "allowed_ingress_prefixes": ["2a00:1450::/32"], "allowed_egress_prefixes": ["2000::/3"],
                          "block_private_addresses": True, "reverse_path_filtering": True},
    "extension_headers": {"mode": "SELECTIVE", "allowed_types": [0, 44, 60], "max_chain_length": 3,
                          "fragment_policy": "REASSEMBLE"},
    "isolation": {"customer_vlan": 100, "additional_vlans": [101], "network_namespace": "tenant-a",
                  "bridge_interface": "br-a", "inter_tenant_policy": "BLOCK_ALL"},
    "rate_limits": {"max_pps_per_vm": 10000, "max_bandwidth_per_vm": 125000000, "max_connections_per_vm": 1000,
                    "method": "TOKEN_BUCKET",
                    "burst_config": {"burst_packets": 1000, "burst_duration_ms": 100, "recovery_time_s": 1}},
    "monitoring": {"enable_security_logging": True, "security_log_level": "INFO", "enable_metrics": True,
                   "metrics_interval_s": 10,
                   "siem_config": {"enabled": True, "endpoint": "https://siem.example.net/api", "auth_token": "t",
                                   "log_format": "CEF"}},
    "compliance": {"frameworks": ["SOC2"], "data_retention_days": 365,
                   "audit_config": {"enabled": True, "log_destination": "/var/log/v6ops/audit.log",
                                    "encrypt_logs": True},
                   "encryption": {"require_tls": True, "min_tls_version": "1.3", "require_encryption_at_rest": True,
                                  "allowed_ciphers": ["TLS_AES_256_GCM_SHA384"]}},
}
CLEAN_VM: dict[str, Any] = {"config": {"ipv6_config": {
    "enabled": True, "addresses": ["2a00:1450::10/64"], "security": CLEAN,
    "interface": {"name": "eth0", "mac_address": "02:00:00:00:00:01", "mtu": 1500,
                  "vlan": {"vlan_id": 100, "priority": 5, "name": "web"}},
}}}


def with_change(base: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    node = data
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return data


def found(data: dict[str, Any]) -> set[tuple[str, str, Severity]]:
    return {(p.code, p.path, p.severity) for p in validate_data(data, "t.json").problems}


def test_clean_configs_have_no_problems() -> None:
    assert validate_data(CLEAN, "t.json").problems == []
    report = validate_data(CLEAN_VM, "t.json")
    assert report.problems == [] and report.valid


SV = "source_validation"
EH = "extension_headers"
ERRORS = [
    # (field changed, new value, code, path reported)
    ("ra_guard.allowed_routers", ["fe80::zz"], "bad-address", "ra_guard.allowed_routers[0]"),
    ("ra_guard.allowed_routers", ["fe80::1/64"], "bad-address", "ra_guard.allowed_routers[0]"),
    ("ra_guard.allowed_routers", ["192.0.2.1"], "not-ipv6", "ra_guard.allowed_routers[0]"),
    ("ra_guard.block_all_ra", True, "ra-block-all-with-allowed-routers", "ra_guard.allowed_routers"),
    (f"{SV}.allowed_ingress_prefixes", ["2001:db8:app::/48"], "bad-prefix", f"{SV}.allowed_ingress_prefixes[0]"),
    (f"{SV}.allowed_ingress_prefixes", ["2a00:1450::/129"], "bad-prefix", f"{SV}.allowed_ingress_prefixes[0]"),
    (f"{SV}.allowed_egress_prefixes", ["2a00:1450::1/32"], "prefix-not-on-boundary", f"{SV}.allowed_egress_prefixes[0]"),
    (f"{SV}.allowed_egress_prefixes", ["10.0.0.0/8"], "not-ipv6", f"{SV}.allowed_egress_prefixes[0]"),
    (f"{SV}.allowed_ingress_prefixes", ["fd00:1::/48"], "private-prefix-allowed", f"{SV}.allowed_ingress_prefixes[0]"),
    (f"{EH}.allowed_types", [0, 200], "unknown-extension-header", f"{EH}.allowed_types[1]"),
    (f"{EH}.allowed_types", [256], "unknown-extension-header", f"{EH}.allowed_types[0]"),
    (f"{EH}.max_chain_length", MAX_CHAIN_LENGTH + 1, "chain-length-out-of-range", f"{EH}.max_chain_length"),
    (f"{EH}.fragment_policy", "BLOCK", "fragment-contradiction", f"{EH}.fragment_policy"),
    ("isolation.customer_vlan", 4095, "vlan-out-of-range", "isolation.customer_vlan"),
    ("isolation.additional_vlans", [0], "vlan-out-of-range", "isolation.additional_vlans[0]"),
    ("isolation.additional_vlans", [100], "duplicate-vlan", "isolation.additional_vlans[0]"),
    ("isolation.network_namespace", "../etc", "bad-namespace-name", "isolation.network_namespace"),
    ("isolation.bridge_interface", "br-customer-00001", "bad-interface-name", "isolation.bridge_interface"),
    ("rate_limits.burst_config.burst_packets", 1001, "burst-exceeds-window", "rate_limits.burst_config.burst_packets"),
    ("monitoring.siem_config.endpoint", "", "siem-endpoint-missing", "monitoring.siem_config.endpoint"),
    ("monitoring.siem_config.endpoint", "siem.example.net", "bad-url", "monitoring.siem_config.endpoint"),
    ("monitoring.siem_config.endpoint", "https://2001:db8::5/api", "bad-url", "monitoring.siem_config.endpoint"),
    ("monitoring.siem_config.endpoint", "https://[2001:db8::zz]/api", "bad-url", "monitoring.siem_config.endpoint"),
    ("compliance.audit_config.log_destination", "", "audit-destination-missing",
     "compliance.audit_config.log_destination"),
    ("compliance.audit_config.log_destination", "audit.log", "audit-destination-relative",
     "compliance.audit_config.log_destination"),
    ("compliance.encryption.min_tls_version", "1.4", "unknown-tls-version", "compliance.encryption.min_tls_version"),
    ("compliance.encryption.min_tls_version", "SSLv3", "unknown-tls-version", "compliance.encryption.min_tls_version"),
    ("compliance.encryption.allowed_ciphers", ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], "no-tls13-cipher",
     "compliance.encryption.allowed_ciphers"),
]


@pytest.mark.parametrize(("field", "value", "code", "path"), ERRORS, ids=[f"{e[2]}:{e[0]}" for e in ERRORS])
def test_each_error_rule(field: str, value: Any, code: str, path: str) -> None:
    report = validate_data(with_change(CLEAN, field, value), "t.json")
    assert (code, path, Severity.ERROR) in {(p.code, p.path, p.severity) for p in report.problems}
    assert not report.valid


VM = "config.ipv6_config"
VM_ERRORS = [
    (f"{VM}.addresses", ["2001:db8:app:frontend::5/64"], "bad-address", f"{VM}.addresses[0]"),
    (f"{VM}.addresses", ["192.0.2.1/24"], "not-ipv6", f"{VM}.addresses[0]"),
    (f"{VM}.addresses", ["ff02::1/128"], "unusable-interface-address", f"{VM}.addresses[0]"),
    (f"{VM}.interface.mtu", 1279, "mtu-out-of-range", f"{VM}.interface.mtu"),
    (f"{VM}.interface.name", "eth0 ", "bad-interface-name", f"{VM}.interface.name"),
    (f"{VM}.interface.mac_address", "02:00:00:00:00", "bad-mac", f"{VM}.interface.mac_address"),
    (f"{VM}.interface.mac_address", "00:00:00:00:00:00", "bad-mac", f"{VM}.interface.mac_address"),
    (f"{VM}.interface.mac_address", "01:00:5e:00:00:01", "multicast-mac", f"{VM}.interface.mac_address"),
    (f"{VM}.interface.vlan.vlan_id", 4095, "vlan-out-of-range", f"{VM}.interface.vlan.vlan_id"),
    (f"{VM}.interface.vlan.vlan_id", 0, "vlan-out-of-range", f"{VM}.interface.vlan.vlan_id"),
    (f"{VM}.interface.vlan.priority", 8, "vlan-priority-out-of-range", f"{VM}.interface.vlan.priority"),
]


@pytest.mark.parametrize(("field", "value", "code", "path"), VM_ERRORS, ids=[e[2] for e in VM_ERRORS])
def test_each_vm_error_rule(field: str, value: Any, code: str, path: str) -> None:
    assert (code, path, Severity.ERROR) in found(with_change(CLEAN_VM, field, value))


WARNINGS = [
    ("ra_guard.allowed_routers", ["2001:db8::1"], "router-not-link-local", "ra_guard.allowed_routers[0]"),
    ("ra_guard.allowed_routers", ["fe80::1", "fe80::1"], "duplicate-value", "ra_guard.allowed_routers"),
    ("ra_guard.max_ra_rate", 21, "ra-rate-above-legitimate", "ra_guard.max_ra_rate"),
    ("ra_guard.enabled", False, "ra-guard-disabled", "ra_guard.enabled"),
    (f"{SV}.allowed_ingress_prefixes", ["2a00:1450::/32", "2a00:1450:1::/48"], "redundant-prefix",
     f"{SV}.allowed_ingress_prefixes[1]"),
    (f"{SV}.allowed_egress_prefixes", ["2001:db8::/32"], "special-purpose-prefix", f"{SV}.allowed_egress_prefixes[0]"),
    (f"{SV}.strict_egress", False, "prefixes-not-enforced", f"{SV}.allowed_egress_prefixes"),
    (f"{SV}.allowed_ingress_prefixes", [], "strict-without-prefixes", f"{SV}.strict_ingress"),
    (f"{EH}.allowed_types", [0, 6, 44], "not-an-extension-header", f"{EH}.allowed_types[1]"),
    (f"{EH}.allowed_types", [0, 0, 44], "duplicate-value", f"{EH}.allowed_types[1]"),
    (f"{EH}.allowed_types", [0, 60], "fragment-not-listed", f"{EH}.fragment_policy"),
    (f"{EH}.allowed_types", [], "selective-without-types", f"{EH}.allowed_types"),
    (f"{EH}.mode", "ALLOW_ALL", "allowed-types-ignored", f"{EH}.allowed_types"),
    ("isolation.customer_vlan", 0, "additional-without-customer-vlan", "isolation.additional_vlans"),
    ("rate_limits.burst_config.burst_duration_ms", 0, "burst-without-window", "rate_limits.burst_config.burst_duration_ms"),
    ("rate_limits.max_pps_per_vm", 0, "burst-without-rate", "rate_limits.burst_config"),
    ("rate_limits.max_bandwidth_per_vm", 1000, "bandwidth-below-min-mtu", "rate_limits.max_bandwidth_per_vm"),
    ("monitoring.metrics_interval_s", 0, "metrics-interval-missing", "monitoring.metrics_interval_s"),
    ("monitoring.siem_config.endpoint", "http://siem.example.net/", "token-in-clear", "monitoring.siem_config.endpoint"),
    ("monitoring.siem_config.log_format", "UNSPECIFIED", "siem-format-missing", "monitoring.siem_config.log_format"),
    ("compliance.frameworks", ["SOC2", "soc2"], "duplicate-value", "compliance.frameworks[1]"),
    ("compliance.encryption.min_tls_version", "TLSv1.1", "deprecated-tls-version",
     "compliance.encryption.min_tls_version"),
    ("compliance.encryption.require_tls", False, "tls-not-required", "compliance.encryption.min_tls_version"),
    ("compliance.encryption.allowed_ciphers", ["AES256-SHA"], "unknown-cipher", "compliance.encryption.allowed_ciphers[0]"),
    ("profile", "UNSPECIFIED", "profile-unspecified", "profile"),
]


@pytest.mark.parametrize(("field", "value", "code", "path"), WARNINGS, ids=[f"{w[2]}:{w[0]}" for w in WARNINGS])
def test_each_warning_rule(field: str, value: Any, code: str, path: str) -> None:
    report = validate_data(with_change(CLEAN, field, value), "t.json")
    assert (code, path, Severity.WARNING) in {(p.code, p.path, p.severity) for p in report.problems}
    assert report.valid, "warnings alone never make a config invalid"


def test_ipv6_literal_siem_endpoint_in_brackets_is_fine() -> None:
    data = with_change(CLEAN, "monitoring.siem_config.endpoint", "https://[2001:db8::5]:8443/api")
    assert validate_data(data, "t.json").problems == []


def test_own_ula_address_with_private_blocking_warns() -> None:
    data = with_change(CLEAN_VM, f"{VM}.addresses", ["fd12:3456:789a::10/64"])
    assert ("own-address-private", f"{VM}.addresses[0]", Severity.WARNING) in found(data)


def test_vlan_mismatch_warning() -> None:
    data = with_change(CLEAN_VM, f"{VM}.interface.vlan.vlan_id", 200)
    assert ("vlan-mismatch", f"{VM}.interface.vlan.vlan_id", Severity.WARNING) in found(data)


def test_every_problem_is_collected_not_only_the_first() -> None:
    data = CLEAN
    wanted = set()
    fields = set()
    for field, value, code, _ in ERRORS:
        if field not in fields:  # one change per field, so none overwrites another
            fields.add(field)
            wanted.add(code)
            data = with_change(data, field, value)
    wanted -= {"fragment-contradiction", "no-tls13-cipher"}  # need fields another rule changed
    report = validate_data(data, "t.json")
    assert wanted <= {p.code for p in report.problems}
    assert report.errors >= len(fields) - 2


def test_tenants_sharing_a_vlan_or_bridge_is_an_error() -> None:
    data = {"metald": {"network": {"ipv6": {"security_profile": "custom", "customer_configs": {
        "a": {"isolation": {"customer_vlan": 10, "bridge_interface": "br-x"}},
        "b": {"isolation": {"customer_vlan": 10, "bridge_interface": "br-y"}},
        "c": {"isolation": {"customer_vlan": 11, "bridge_interface": "br-x"}},
    }}}}}
    problems = validate_data(data, "mt.yaml").problems
    shared = {(p.target, p.path) for p in problems if p.code == "shared-isolation"}
    base = "metald.network.ipv6.customer_configs"
    assert shared == {("b", f"{base}.b.isolation.customer_vlan"), ("c", f"{base}.c.isolation.bridge_interface")}


def test_problem_from_a_shared_default_points_at_default_security_once() -> None:
    data = {"metald": {"network": {"ipv6": {
        "security_profile": "custom",
        "default_security": {"isolation": {"customer_vlan": 5000}},
        "customer_configs": {"a": {"profile": "custom"}, "b": {"profile": "custom"}},
    }}}}
    problems = [p for p in validate_data(data, "mt.yaml").problems if p.code == "vlan-out-of-range"]
    assert [p.path for p in problems] == ["metald.network.ipv6.default_security.isolation.customer_vlan"]


def test_load_validated_refuses_invalid_and_returns_valid(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"isolation": {"customer_vlan": 4095}}')
    with pytest.raises(PolicyInvalidError, match=r"isolation\.customer_vlan"):
        load_validated(bad)
    good = tmp_path / "good.yaml"
    good.write_text("profile: high\n")
    assert load_validated(good).targets[0].name == "good"


def test_structure_and_semantic_problems_are_reported_together() -> None:
    report = validate_text('{"profile": "hgih", "isolation": {"customer_vlan": 5000}}', "t.json")
    assert {p.code for p in report.problems} == {"schema"}  # structure first: the model cannot be built
    report = validate_text('{"isolation": {"customer_vlan": 5000}, "ra_guard": {"allowed_routers": ["x"]}}', "t.json")
    assert {"vlan-out-of-range", "bad-address"} <= {p.code for p in report.problems}


@pytest.mark.parametrize(("text", "expected"), [
    ("1.2", (1, 2)), ("TLSv1.3", (1, 3)), ("TLS 1.0", (1, 0)), ("tls1.1", (1, 1)),
    ("1.4", None), ("SSLv3", None), ("", None), ("1.2.3", None),
])
def test_tls_version_spellings(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_tls_version(text) == expected


# -- property tests against independent oracles ------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=2**128 - 1), st.integers(min_value=0, max_value=128))
def test_prefix_rules_agree_with_ipaddress(value: int, length: int) -> None:
    text = f"{ipaddress.IPv6Address(value)}/{length}"
    codes = {p.code for p in validate_data(with_change(CLEAN, f"{SV}.allowed_egress_prefixes", [text]), "t").problems}
    try:
        ipaddress.IPv6Network(text, strict=True)
        on_boundary = True
    except ValueError:
        on_boundary = False
    assert ("prefix-not-on-boundary" in codes) == (not on_boundary)
    assert "bad-prefix" not in codes


@st.composite
def burst_near_the_window(draw: st.DrawFn) -> tuple[int, int, int]:
    """(pps, duration_ms, burst) with the burst drawn within 2 packets of the window pps * duration / 1000,
    so the '>' vs '>=' boundary (and a window that is not a whole number of packets) is hit in most examples."""
    pps = draw(st.integers(1, 2**32 - 1) | st.integers(1, 5000))
    duration = draw(st.integers(1, 2**32 - 1) | st.integers(1, 3000))
    window_floor = pps * duration // 1000
    burst = draw(st.integers(window_floor - 2, window_floor + 2))
    return pps, duration, min(max(burst, 1), 2**32 - 1)


@settings(max_examples=300, deadline=None)
@given(burst_near_the_window())
@example((1000, 1, 1)).via("window of exactly one packet: allowed")
@example((1000, 1, 2)).via("one packet over the window")
@example((3, 500, 1)).via("window of 1.5 packets: a burst of 1 fits")
@example((3, 500, 2)).via("window of 1.5 packets: a burst of 2 does not")
def test_burst_window_rule_is_exact(case: tuple[int, int, int]) -> None:
    pps, duration_ms, burst = case
    data = with_change(CLEAN, "rate_limits", {"max_pps_per_vm": pps, "burst_config": {
        "burst_packets": burst, "burst_duration_ms": duration_ms}})
    codes = {p.code for p in validate_data(data, "t").problems}
    event("over the window" if Fraction(burst) > Fraction(pps * duration_ms, 1000) else "within the window")
    assert ("burst-exceeds-window" in codes) == (Fraction(burst) > Fraction(pps * duration_ms, 1000))


def test_validate_file_reports_unreadable_path(tmp_path: Path) -> None:
    report = validate_file(tmp_path / "missing.json")
    assert not report.valid and report.problems[0].code == "unreadable"


MULTI_CHANGE_WARNINGS = [
    ({f"{EH}.mode": "BLOCK_ALL", f"{EH}.allowed_types": []}, "chain-length-ignored", f"{EH}.max_chain_length"),
    ({f"{EH}.mode": "ALLOW_ALL", f"{EH}.allowed_types": [], f"{EH}.fragment_policy": "BLOCK"},
     "fragment-blocked-in-allow-all", f"{EH}.fragment_policy"),
    ({"compliance.frameworks": ["UNSPECIFIED"]}, "framework-unspecified", "compliance.frameworks[0]"),
    ({"ra_guard.allowed_routers": [], "ra_guard.max_ra_rate": 0}, "ra-guard-open", "ra_guard"),
    ({"ra_guard.allowed_routers": [], "ra_guard.block_all_ra": True}, "ra-rate-ignored", "ra_guard.max_ra_rate"),
    ({"rate_limits.burst_config.burst_packets": 0}, "window-without-burst", "rate_limits.burst_config.burst_packets"),
]


@pytest.mark.parametrize(("changes", "code", "path"), MULTI_CHANGE_WARNINGS, ids=[w[1] for w in MULTI_CHANGE_WARNINGS])
def test_warning_rules_needing_several_fields(changes: dict[str, Any], code: str, path: str) -> None:
    data = CLEAN
    for field, value in changes.items():
        data = with_change(data, field, value)
    report = validate_data(data, "t.json")
    assert (code, path, Severity.WARNING) in {(p.code, p.path, p.severity) for p in report.problems}
    assert report.valid


def test_vm_request_without_ipv6_config_is_flagged() -> None:
    assert ("no-ipv6-config", "config", Severity.WARNING) in found({"config": {"cpu": {"vcpu_count": 1}}})


def test_every_rule_code_is_documented() -> None:
    import re

    import v6ops.policy.load as load_module
    import v6ops.policy.validate as validate_module

    docs = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    codes = set()
    for module in (validate_module, load_module):
        source = Path(module.__file__ or "").read_text()
        # the code is the first quoted kebab-case argument after the path: err(path, "code", ...)
        codes |= set(re.findall(r'(?:err|warn|error|warning)\(\s*(?:"[^"]*"|[^,()"]+(?:\([^()]*\))?),\s*'
                                r'"([a-z0-9]+(?:-[a-z0-9]+)+)"', source))
    assert len(codes) > 50
    assert {c for c in codes if f"`{c}`" not in docs} == set()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 16)), min_size=1, max_size=12))
def test_redundant_prefix_sweep_agrees_with_pairwise_oracle(raw: list[tuple[int, int]]) -> None:
    # small 16-bit universe under 2a00::/16 so that nesting and repeats are frequent
    nets = [ipaddress.IPv6Network(((0x2A00 << 112) | (v << 104)) & ~((1 << (128 - (16 + n))) - 1), 16 + n)
            for v, n in ((v, min(n, 8)) for v, n in raw)]
    texts = [str(n) for n in nets]
    data = with_change(CLEAN, f"{SV}.allowed_egress_prefixes", texts)
    flagged = {p.path for p in validate_data(data, "t").problems if p.code == "redundant-prefix"}
    expected = {
        f"{SV}.allowed_egress_prefixes[{i}]" for i, inner in enumerate(nets)
        if any(j != i and inner.subnet_of(outer) and (outer != inner or j < i) for j, outer in enumerate(nets))
    }
    assert flagged == expected


_KEYS = st.sampled_from([
    "metald", "network", "ipv6", "config", "ipv6_config", "security", "customer_configs", "default_security",
    "profile", "ra_guard", "allowed_routers", "block_all_ra", "source_validation", "allowed_ingress_prefixes",
    "extension_headers", "allowed_types", "max_chain_length", "isolation", "customer_vlan", "rate_limits",
    "burst_config", "burst_packets", "monitoring", "siem_config", "endpoint", "compliance", "encryption",
    "min_tls_version", "addresses", "interface", "vlan", "mtu", "x",
])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**33), st.floats(allow_nan=True),
                     st.sampled_from(["high", "SELECTIVE", "fe80::1", "2001:db8::/32", "1.3", "${UNSET_X}", ""]),
                     st.text(max_size=8))
_DOCS = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _DOCS, max_size=5))
def test_any_document_gives_a_report_never_a_crash(data: dict[str, Any]) -> None:
    report = validate_data(data, "fuzz.json", environ={})
    assert report.valid == (report.errors == 0 and report.shape is not None)


@pytest.mark.parametrize(("data", "path"), [
    ({"metald": {"network": {"ipv6": {"security_profile": "high"}}}}, "metald.network.ipv6.enabled"),
    ({"config": {"ipv6_config": {"enabled": False, "security": {"profile": "high"}}}}, "config.ipv6_config.enabled"),
])
def test_disabled_ipv6_is_flagged(data: dict[str, Any], path: str) -> None:
    assert ("ipv6-disabled", path, Severity.WARNING) in found(data)
