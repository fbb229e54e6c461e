"""The schema accepts every enum spelling the seed uses and rejects structure errors with their path."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from v6ops.policy.schema import (
    ComplianceFramework,
    ExtensionHeaderMode,
    FragmentPolicy,
    InterTenantPolicy,
    IPv6SecurityConfig,
    LogLevel,
    PolicyTarget,
    ProtoEnum,
    RateLimitMethod,
    SecurityProfile,
    SiemLogFormat,
)

ALL_ENUMS: list[type[ProtoEnum]] = [
    SecurityProfile, ExtensionHeaderMode, FragmentPolicy, InterTenantPolicy,
    RateLimitMethod, LogLevel, ComplianceFramework, SiemLogFormat,
]


@pytest.mark.parametrize("cls", ALL_ENUMS)
def test_every_spelling_of_every_member(cls: type[ProtoEnum]) -> None:
    for member in cls:
        assert cls.coerce(member.proto_name) is member
        assert cls.coerce(member.value) is member
        assert cls.coerce(member.value.lower()) is member
        assert cls.coerce(member.value.lower().replace("_", "-")) is member
        assert cls.coerce(member.number) is member


def test_proto_names_match_the_seed() -> None:
    assert SecurityProfile.HIGH.proto_name == "SECURITY_PROFILE_HIGH"
    assert ExtensionHeaderMode.SELECTIVE.proto_name == "EXTENSION_HEADER_MODE_SELECTIVE"
    assert FragmentPolicy.REASSEMBLE.number == 3
    assert InterTenantPolicy.BLOCK_ALL.proto_name == "INTER_TENANT_POLICY_BLOCK_ALL"
    assert RateLimitMethod.SLIDING_WINDOW.number == 3
    assert LogLevel.CRITICAL.number == 5
    assert ComplianceFramework.ISO27001.number == 5
    assert LogLevel.coerce("warning") is LogLevel.WARN


def test_unknown_enum_and_bad_number_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown SecurityProfile 'hgih'"):
        SecurityProfile.coerce("hgih")
    with pytest.raises(ValueError, match="0-4"):
        SecurityProfile.coerce(9)


def test_security_profile_alias_and_dump_round_trip() -> None:
    config = IPv6SecurityConfig.model_validate(
        {"security_profile": "high", "extension_headers": {"mode": "SELECTIVE", "allowed_types": [0, 44]}}
    )
    assert config.profile is SecurityProfile.HIGH
    dumped = config.model_dump(mode="json")
    assert dumped["profile"] == "HIGH"
    assert IPv6SecurityConfig.model_validate(dumped) == config


def test_structure_errors_carry_their_paths() -> None:
    with pytest.raises(ValidationError) as info:
        IPv6SecurityConfig.model_validate(
            {"ra_guard": {"enabled": "maybe", "typo_field": 1}, "rate_limits": {"max_pps_per_vm": -1},
             "isolation": {"customer_vlan": 2**32}}
        )
    locs = {tuple(e["loc"]) for e in info.value.errors()}
    assert locs == {
        ("ra_guard", "enabled"), ("ra_guard", "typo_field"),
        ("rate_limits", "max_pps_per_vm"), ("isolation", "customer_vlan"),
    }


def test_secret_token_is_never_in_repr_or_dump() -> None:
    config = IPv6SecurityConfig.model_validate({"monitoring": {"siem_config": {"auth_token": "s3cr3t-value"}}})
    assert "s3cr3t-value" not in repr(config)
    assert "s3cr3t-value" not in str(config.model_dump(mode="json"))
    assert "s3cr3t-value" not in config.model_dump_json()
    assert config.monitoring.siem_config.auth_token.get_secret_value() == "s3cr3t-value"


def test_target_maps_field_paths_to_their_origin() -> None:
    target = PolicyTarget(
        name="t", security=IPv6SecurityConfig(), document_path="doc.customer",
        origins={
            "ra_guard": "doc.default_security.ra_guard",
            "isolation.customer_vlan": "doc.customer.isolation.customer_vlan",
        },
    )
    assert target.source_of("ra_guard.allowed_routers[1]") == "doc.default_security.ra_guard.allowed_routers[1]"
    assert target.source_of("isolation.customer_vlan") == "doc.customer.isolation.customer_vlan"
    assert target.source_of("rate_limits.method") == "doc.customer.rate_limits.method"
