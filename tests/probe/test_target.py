"""Target parsing: never split an IPv6 literal on a colon; bad targets are named with the reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6ops.addr import Address
from v6ops.probe.target import TargetError, parse_target


@pytest.mark.parametrize(("text", "host", "port", "scheme", "path"), [
    ("example.com", "example.com", 443, None, "/"),
    ("Example.COM.", "example.com", 443, None, "/"),
    ("example.com:8080", "example.com", 8080, None, "/"),
    ("192.0.2.1:22", "192.0.2.1", 22, None, "/"),
    ("2001:db8::1", "2001:db8::1", 443, None, "/"),
    ("2001:db8::80", "2001:db8::80", 443, None, "/"),  # not port 80
    ("[2001:db8::1]", "2001:db8::1", 443, None, "/"),
    ("[2001:DB8:0::1]:8443", "2001:db8::1", 8443, None, "/"),
    ("http://example.com", "example.com", 80, "http", "/"),
    ("https://example.com/a/b?c=d", "example.com", 443, "https", "/a/b?c=d"),
    ("http://[2001:db8::1]:8080/health", "2001:db8::1", 8080, "http", "/health"),
    ("https://[::ffff:192.0.2.1]/", "::ffff:192.0.2.1", 443, "https", "/"),
    ("http://user@example.com:81/", "example.com", 81, "http", "/"),
    ("http://[fe80::1%25eth0]:80/", "fe80::1%eth0", 80, "http", "/"),
    ("bücher.example", "xn--bcher-kva.example", 443, None, "/"),
])
def test_good_targets(text, host, port, scheme, path):
    t = parse_target(text)
    assert (t.host, t.port, t.scheme, t.path) == (host, port, scheme, path)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("host:99999", "out of range"),
    ("host:0", "out of range"),
    ("[2001:db8::1]:70000", "out of range"),
    ("host:abc", "not a number"),
    ("http://[2001:db8::1", "malformed URL"),
    ("http://2001:db8::1/", "brackets"),
    ("ftp://example.com/", "not supported"),
    ("http:///path", "no host"),
    ("[2001:db8::1", "closing"),
    ("[2001:db8::1]x", "unexpected"),
    ("bad_-.example..com", "not a valid DNS label"),
    ("-bad.example", "not a valid DNS label"),
    ("2001:db8::g", "bad address literal"),
    ("300.1.1.1", "bad address literal"),
    ("exa mple.com", "white space"),
    ("http://example.com:99999/", "out of range"),
])
def test_bad_targets_name_the_input_and_reason(text, reason):
    with pytest.raises(TargetError) as info:
        parse_target(text)
    assert reason in str(info.value) and repr(text.strip()) in str(info.value)


@given(value=st.integers(0, 2**128 - 1), port=st.integers(1, 65535))
def test_any_ipv6_literal_round_trips_bare_and_bracketed(value, port):
    address = Address(6, value)
    assert parse_target(str(address)).address == address
    t = parse_target(f"[{address}]:{port}")
    assert (t.address, t.port) == (address, port)
    u = parse_target(f"http://[{address}]:{port}/x")
    assert (u.address, u.port, u.authority) == (address, port, f"[{address}]:{port}")
