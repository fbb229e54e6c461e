"""RFC 6052 synthesis: the inverse of extraction, and the RFC's own examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6ops.addr import Address, Prefix, nat64_extract
from v6ops.addr.embedded import nat64_synthesize

# RFC 6052 section 2.4, table of examples for 192.0.2.33.
RFC6052_EXAMPLES = [
    ("2001:db8::/32", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
    ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
]


@pytest.mark.parametrize(("prefix", "expected"), RFC6052_EXAMPLES)
def test_rfc6052_examples(prefix, expected):
    assert nat64_synthesize(Address.parse("192.0.2.33"), Prefix.parse(prefix)) == Address.parse(expected)


@given(v4=st.integers(0, 2**32 - 1), length=st.sampled_from([32, 40, 48, 56, 64, 96]), net=st.integers(0, 2**128 - 1))
def test_synthesize_then_extract_is_identity_and_u_octet_is_zero(v4, length, net):
    prefix = Prefix(6, net & (((1 << length) - 1) << (128 - length)), length)
    synthesized = nat64_synthesize(Address(4, v4), prefix)
    assert nat64_extract(synthesized, length) == Address(4, v4)
    assert prefix.contains(synthesized)
    if length < 96:
        assert (synthesized.value >> 56) & 0xFF == 0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="2001:db8::/33"):
        nat64_synthesize(Address.parse("192.0.2.1"), Prefix.parse("2001:db8::/33"))
    with pytest.raises(ValueError, match="not an IPv4"):
        nat64_synthesize(Address.parse("::1"), Prefix.parse("64:ff9b::/96"))
