"""Parse every RFC 4291 2.2 form and print RFC 5952 text, judged against ipaddress values."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.addr.strategies import fields_of as _fields
from tests.addr.strategies import ipv6_ints, ipv6_spellings
from v6ops.addr import Address, AddressValueError, format_ipv6


@settings(max_examples=3000)
@given(ipv6_spellings())
def test_every_rfc4291_spelling_parses_to_the_ipaddress_value(case: tuple[int, str]) -> None:
    value, text = case
    assert int(ipaddress.IPv6Address(text)) == value
    assert Address.parse(text).value == value


def _rfc5952_ok(text: str, value: int) -> None:
    """The RFC 5952 section 4 rules, checked on the output independently of our formatter."""
    assert text == text.lower()  # 4.3
    if value >> 32 == 0xFFFF:  # section 5, IPv4-mapped in mixed notation
        v4 = value & 0xFFFFFFFF
        assert text == f"::ffff:{v4 >> 24}.{(v4 >> 16) & 255}.{(v4 >> 8) & 255}.{v4 & 255}"
        return
    assert text.count("::") <= 1
    for field in re.split(":+", text.strip(":")):
        if field:
            assert field == field.lstrip("0") or field == "0"  # 4.1
    fields = _fields(value)
    runs = []
    i = 0
    while i < 8:
        if fields[i] == 0:
            j = i
            while j < 8 and fields[j] == 0:
                j += 1
            runs.append((i, j - i))
            i = j
        else:
            i += 1
    longest = max((n for _, n in runs), default=0)
    if longest >= 2:  # 4.2.2 and 4.2.3: the longest run, the first of equals
        start = next(s for s, n in runs if n == longest)
        head = text.split("::")[0]
        assert "::" in text
        assert (len(head.split(":")) if head else 0) == start
        assert 8 - len([f for f in text.replace("::", ":X:").strip(":").split(":") if f != "X"]) == longest
    else:
        assert "::" not in text  # 4.2.2: never for a single zero field


@settings(max_examples=3000)
@given(ipv6_ints)
def test_canonical_text_follows_rfc5952_and_round_trips(value: int) -> None:
    text = format_ipv6(value)
    _rfc5952_ok(text, value)
    assert Address.parse(text).value == value
    if value >> 32 != 0xFFFF:
        # Python 3.11 prints mapped addresses in hex; elsewhere it follows RFC 5952 too.
        assert text == ipaddress.IPv6Address(value).compressed


@settings(max_examples=2000)
@given(st.integers(0, 2**32 - 1))
def test_ipv4_round_trip(value: int) -> None:
    text = str(ipaddress.IPv4Address(value))
    parsed = Address.parse(text)
    assert (parsed.version, parsed.value, str(parsed)) == (4, value, text)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  # RFC 5952 4.2.3: first of equal runs
        ("2001:0db8::0001", "2001:db8::1"),  # 4.1 leading zeros
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  # 4.2.2 single zero not compressed
        ("2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"),  # longest run wins
        ("0:0:0:0:0:0:0:0", "::"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("::FFFF:192.0.2.1", "::ffff:192.0.2.1"),  # section 5 mixed notation for mapped
        ("0:0:0:0:0:ffff:c000:201", "::ffff:192.0.2.1"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("FE80::1", "fe80::1"),
    ],
)
def test_rfc5952_examples(text: str, canonical: str) -> None:
    assert str(Address.parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2001:db8::g", r"field 3 \('g'\) is not 1-4 hexadecimal digits"),
        ("2001:db8::12345", r"'12345'\) is not 1-4 hexadecimal digits"),
        ("1::2::3", r"'::' may appear only once"),
        ("1:::2", r"'::' may appear only once"),
        ("1:2:3:4:5:6:7:8::", r"at least one zero field"),
        ("::1:2:3:4:5:6:7:8", r"at least one zero field"),
        ("1:2:3:4:5:6:7", r"expected 8 fields"),
        ("1:2:3:4:5:6:7:8:9", r"expected 8 fields"),
        (":1:2:3:4:5:6:7", r"field 1 is empty"),
        ("1:2:3:4:5:6:7:", r"is empty"),
        ("1:2:3:4:5:6:7:1.2.3.4", r"expected 6 fields before the dotted IPv4 part"),
        ("::1.2.3", r"expected 4 dot-separated octets"),
        ("::1.2.3.256", r"octet 4 \('256'\) is greater than 255"),
        ("::1.2.3.04", r"leading zero"),
        ("1.2.3.4:1::", r"is not 1-4 hexadecimal digits"),
        ("1.2.3", r"expected 4 dot-separated octets"),
        ("1.2.3.4.5", r"expected 4 dot-separated octets"),
        ("01.2.3.4", r"leading zero, which is ambiguous"),
        ("1.2.3.-4", r"not a decimal number"),
        ("1..2.3", r"octet 2 is empty"),
        ("256.0.0.1", r"greater than 255"),
        ("fe80::1%eth0", r"zone ID .* is not allowed here"),
        ("", r"empty"),
        (" ::1", r"white space"),
        ("::1\n", r"white space"),
        ("2001:db8::１", r"non-ASCII"),
        ("hello", r"neither ':' \(IPv6\) nor '\.' \(IPv4\)"),
        ("1.2.3.4%eth0", r"IPv4 addresses have no zone ID"),
        ("2001:db8::/32", r"use Prefix.parse"),
    ],
)
def test_invalid_text_is_rejected_with_the_input_and_the_reason(text: str, reason: str) -> None:
    with pytest.raises(AddressValueError, match=reason) as info:
        Address.parse(text)
    assert repr(text) in str(info.value)


MUTATION_ALPHABET = "0123456789abcdefABCDEF:.xg "  # no '%' or '/': 3.11's ipaddress takes scope IDs, we do not


@st.composite
def ipv4_spellings(draw: st.DrawFn) -> str:
    """Dotted quads near the edges: 0, 255, 256, leading zeros."""
    octets = draw(st.lists(st.sampled_from(["0", "1", "9", "10", "99", "255", "256", "00", "01", "300"])
                           | st.integers(0, 255).map(str), min_size=4, max_size=4))
    return ".".join(octets)


@st.composite
def near_addresses(draw: st.DrawFn) -> str:
    """A valid IPv6 or IPv4 spelling with 0-3 single-character edits, so about half stay valid."""
    text = draw(st.one_of(ipv6_spellings().map(lambda vt: vt[1]), ipv4_spellings()))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        i = draw(st.integers(0, len(text)))
        c = draw(st.sampled_from(MUTATION_ALPHABET))
        op = draw(st.sampled_from(["delete", "insert", "replace", "double", "swap"]))
        if op == "delete":
            text = text[:i] + text[i + 1:]
        elif op == "insert":
            text = text[:i] + c + text[i:]
        elif op == "replace":
            text = text[:i] + c + text[i + 1:]
        elif op == "double":
            text = text[:i] + text[i:i + 1] * 2 + text[i + 1:]
        else:
            text = text[:i] + text[i + 1:i + 2] + text[i:i + 1] + text[i + 2:]
    return text


@settings(max_examples=2000)
@given(near_addresses())
def test_we_accept_exactly_what_ipaddress_accepts(text: str) -> None:
    """Mutated valid spellings: both parsers agree on validity and value."""
    try:
        expected = int(ipaddress.ip_address(text))
    except ValueError:
        expected = None
    try:
        got = Address.parse(text).value
    except AddressValueError:
        got = None
    event("valid" if expected is not None else "invalid")
    event("IPv4" if "." in text and ":" not in text else "IPv6 or other")
    assert got == expected, text


def test_the_mutation_strategy_reaches_both_outcomes_and_both_families() -> None:
    """The agreement test is only as good as its inputs: check they are not almost all invalid."""
    outcomes: Counter[tuple[bool, int]] = Counter()

    @settings(max_examples=600, database=None, derandomize=True)
    @given(near_addresses())
    def sample(text: str) -> None:
        try:
            outcomes[(True, ipaddress.ip_address(text).version)] += 1
        except ValueError:
            outcomes[(False, 0)] += 1

    sample()
    total = sum(outcomes.values())
    assert outcomes[(True, 6)] / total > 0.2 and outcomes[(True, 4)] / total > 0.05
    assert outcomes[(False, 0)] / total > 0.2


def test_zone_ids_only_when_asked() -> None:
    a = Address.parse("fe80::1%eth0", allow_zone=True)
    assert (a.value, a.zone, str(a)) == (0xFE800000000000000000000000000001, "eth0", "fe80::1%eth0")
    with pytest.raises(AddressValueError, match="zone ID after '%' is empty"):
        Address.parse("fe80::1%", allow_zone=True)


def test_non_string_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected a str, got int"):
        Address.parse(42)  # type: ignore[arg-type]
