"""RFC 6724 section 10.2's destination-selection examples, with each destination's source as the RFC gives it."""

from __future__ import annotations

import pytest

from v6ops.addr import Address
from v6ops.probe.rfc6724 import common_prefix_length, kernel_source, policy, scope, sort_destinations

A = Address.parse

# (destination -> source, expected order), one per RFC example.
EXAMPLES = {
    "prefer matching scope (1)": ({"2001:db8:1::1": "2001:db8:1::2", "198.51.100.121": "169.254.13.78"},
                                  ["2001:db8:1::1", "198.51.100.121"]),
    "prefer matching scope (2)": ({"2001:db8:1::1": "fe80::1", "198.51.100.121": "198.51.100.117"},
                                  ["198.51.100.121", "2001:db8:1::1"]),
    "prefer higher precedence (1)": ({"2001:db8:1::1": "2001:db8:1::2", "10.1.2.3": "10.1.2.4"},
                                     ["2001:db8:1::1", "10.1.2.3"]),
    "prefer smaller scope": ({"2001:db8:1::1": "2001:db8:1::2", "fe80::1": "fe80::2"}, ["fe80::1", "2001:db8:1::1"]),
    "longest matching prefix": ({"2001:db8:1::1": "2001:db8:1::2", "2001:db8:3ffe::1": "2001:db8:1::2"},
                                ["2001:db8:1::1", "2001:db8:3ffe::1"]),
    "prefer matching label": ({"2002:c633:6401::1": "2002:c633:6401::2", "2001:db8:1::1": "2002:c633:6401::2"},
                              ["2002:c633:6401::1", "2001:db8:1::1"]),
    "prefer higher precedence (2)": ({"2002:c633:6401::1": "2002:c633:6401::2", "2001:db8:1::1": "2001:db8:1::2"},
                                     ["2001:db8:1::1", "2002:c633:6401::1"]),
    # No IPv4 source at all: the IPv4 destination is unusable (rule 1), so NAT64 and native IPv6 go first.
    "ipv6-only host, NAT64 destination": ({"64:ff9b::c633:6479": "2001:db8:1::2"}, ["64:ff9b::c633:6479", "198.51.100.121"]),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_rfc6724_section_10_2_examples(name):
    sources, expected = EXAMPLES[name]

    def source_for(destination: Address) -> Address | None:
        src = sources.get(str(destination))
        return A(src) if src else None

    destinations = [A(d) for d in expected]
    assert [str(a) for a in sort_destinations(destinations, source_for)] == expected
    assert [str(a) for a in sort_destinations(list(reversed(destinations)), source_for)] == expected


def test_policy_table_rows():
    assert (policy(A("::1")).precedence, policy(A("::1")).label) == (50, 0)
    assert (policy(A("192.0.2.1")).precedence, policy(A("192.0.2.1")).label) == (35, 4)
    assert policy(A("fd00::1")).precedence == 3 and policy(A("2001::1")).label == 5
    assert policy(A("2001:db8::1")).precedence == 40


def test_scopes():
    assert scope(A("127.0.0.1")) == scope(A("169.254.1.1")) == scope(A("fe80::1")) == scope(A("::1")) == 2
    assert scope(A("ff05::1")) == 5 and scope(A("fec0::1")) == 5 and scope(A("fd00::1")) == 14


def test_common_prefix_length_stops_at_64_bits():
    assert common_prefix_length(A("2001:db8:1::1"), A("2001:db8:1::2")) == 64
    assert common_prefix_length(A("2001:db8:1::1"), A("2001:db8:3ffe::1")) == 34


def test_kernel_source_for_loopback():
    assert kernel_source(A("::1")) == A("::1")
    assert kernel_source(A("127.0.0.1")) == A("127.0.0.1")
    assert sort_destinations([A("127.0.0.1"), A("::1")]) == [A("::1"), A("127.0.0.1")]
