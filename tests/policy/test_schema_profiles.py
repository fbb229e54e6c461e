"""Profiles: the documented table is the code's table, and every default is schema-valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from v6ops.policy.profiles import PROFILE_DEFAULTS, profile_defaults, profile_table_markdown
from v6ops.policy.schema import SecurityProfile
from v6ops.policy.validate import validate_data

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy-profiles.md"


def test_docs_table_matches_the_code() -> None:
    assert profile_table_markdown() in DOC.read_text()


@pytest.mark.parametrize("profile", [SecurityProfile.HIGH, SecurityProfile.MEDIUM, SecurityProfile.LOW])
def test_profile_defaults_alone_have_no_errors(profile: SecurityProfile) -> None:
    report = validate_data({"profile": profile.value}, "p.json")
    assert report.valid, report.problems


def test_profiles_are_ordered_by_strictness() -> None:
    high, medium, low = (profile_defaults(p) for p in (SecurityProfile.HIGH, SecurityProfile.MEDIUM,
                                                         SecurityProfile.LOW))
    assert high.ra_guard.block_all_ra and not medium.ra_guard.block_all_ra
    assert high.source_validation.strict_egress and not medium.source_validation.strict_egress
    assert medium.source_validation.strict_ingress and not low.source_validation.strict_ingress
    assert high.extension_headers.max_chain_length < medium.extension_headers.max_chain_length
    assert set(high.extension_headers.allowed_types) < set(medium.extension_headers.allowed_types)
    assert 0 < high.rate_limits.max_pps_per_vm < medium.rate_limits.max_pps_per_vm
    assert low.rate_limits.max_pps_per_vm == 0


def test_custom_and_unspecified_fill_in_nothing() -> None:
    assert PROFILE_DEFAULTS[SecurityProfile.CUSTOM] == PROFILE_DEFAULTS[SecurityProfile.UNSPECIFIED] == {}
    custom = profile_defaults(SecurityProfile.CUSTOM)
    assert not custom.ra_guard.enabled and custom.rate_limits.max_pps_per_vm == 0
