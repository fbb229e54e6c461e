"""Prefix math with exact integers, judged against the standard library's values."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6ops.addr import Address, Prefix, PrefixValueError, collapse, summarize_range
from v6ops.addr.errors import AddressValueError


@st.composite
def prefixes(draw: st.DrawFn, version: int | None = None) -> Prefix:
    v = version or draw(st.sampled_from([4, 6]))
    width = 32 if v == 4 else 128
    length = draw(st.integers(0, width))
    value = draw(st.integers(0, 2**width - 1))
    return Prefix(v, value & ~((1 << (width - length)) - 1), length)


def std(p: Prefix) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(str(p))


@settings(max_examples=1500)
@given(prefixes())
def test_parse_and_bounds_match_ipaddress(p: Prefix) -> None:
    n = std(p)
    assert Prefix.parse(str(p)) == p
    assert (p.first.value, p.last.value, p.num_addresses) == (int(n.network_address), int(n.broadcast_address), n.num_addresses)


@settings(max_examples=1000)
@given(prefixes(), st.data())
def test_nth_subnet_and_index(p: Prefix, data: st.DataObject) -> None:
    new_len = data.draw(st.integers(p.length, min(p.width, p.length + 20)))
    count = p.count_subnets(new_len)
    assert count == 2 ** (new_len - p.length)
    index = data.draw(st.integers(0, count - 1))
    child = p.subnet(index, new_len)
    cls = ipaddress.IPv4Network if p.version == 4 else ipaddress.IPv6Network
    expected = cls((int(std(p).network_address) + index * 2 ** (p.width - new_len), new_len))
    assert str(child) == str(expected) and p.contains(child)
    assert p.index_of(child) == index
    assert p.subnet(-1, new_len) == p.subnet(count - 1, new_len)


@settings(max_examples=1000)
@given(prefixes(), st.data())
def test_supernet_matches_ipaddress(p: Prefix, data: st.DataObject) -> None:
    new_len = data.draw(st.integers(0, p.length))
    assert str(p.supernet(new_len)) == str(std(p).supernet(new_prefix=new_len))


@settings(max_examples=1000)
@given(prefixes(6), prefixes(6))
def test_contains_and_overlaps_match_ipaddress(a: Prefix, b: Prefix) -> None:
    assert a.overlaps(b) == std(a).overlaps(std(b))
    assert a.contains(b) == std(b).subnet_of(std(a))
    assert a.contains(b.first) == (ipaddress.ip_address(str(b.first)) in std(a))


@settings(max_examples=1000)
@given(st.sampled_from([4, 6]), st.data())
def test_summarize_range_matches_ipaddress(version: int, data: st.DataObject) -> None:
    width = 32 if version == 4 else 128
    lo = data.draw(st.integers(0, 2**width - 1))
    hi = data.draw(st.integers(lo, min(2**width - 1, lo + data.draw(st.sampled_from([0, 1, 255, 2**20, 2**70])))))
    ours = summarize_range(Address(version, lo), Address(version, hi))
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    theirs = list(ipaddress.summarize_address_range(cls(lo), cls(hi)))
    assert [str(p) for p in ours] == [str(n) for n in theirs]


@settings(max_examples=500)
@given(st.lists(prefixes(), max_size=12))
def test_collapse_matches_ipaddress(items: list[Prefix]) -> None:
    for version in (4, 6):
        mine = [str(p) for p in collapse(items) if p.version == version]
        theirs = [str(n) for n in ipaddress.collapse_addresses(std(p) for p in items if p.version == version)]
        assert mine == theirs


@settings(max_examples=1000)
@given(st.one_of(st.integers(0, 2**32 - 1).map(lambda v: Address(4, v)), st.integers(0, 2**128 - 1).map(lambda v: Address(6, v))))
def test_reverse_name_of_an_address_matches_ipaddress(a: Address) -> None:
    cls = ipaddress.IPv4Address if a.version == 4 else ipaddress.IPv6Address
    assert a.reverse_name == cls(a.value).reverse_pointer


def test_reverse_names() -> None:
    assert Address.parse("192.0.2.1").reverse_name == "1.2.0.192.in-addr.arpa"
    assert Prefix.parse("2001:db8::/32").reverse_name == "8.b.d.0.1.0.0.2.ip6.arpa"
    assert Prefix.parse("2001:db8:a000::/36").reverse_name == "a.8.b.d.0.1.0.0.2.ip6.arpa"
    assert Prefix.parse("10.1.0.0/16").reverse_name == "1.10.in-addr.arpa"
    assert Prefix.parse("0.0.0.0/0").reverse_name == "in-addr.arpa"
    assert Prefix.parse("::/0").reverse_name == "ip6.arpa"
    with pytest.raises(PrefixValueError, match="not on a nibble"):
        _ = Prefix.parse("2001:db8::/33").reverse_name
    with pytest.raises(PrefixValueError, match="not on an octet"):
        _ = Prefix.parse("10.0.0.0/12").reverse_name


@pytest.mark.parametrize(
    ("text", "error", "reason"),
    [
        ("2001:db8::1/32", PrefixValueError, r"host bits set; the prefix on its boundary is 2001:db8::/32"),
        ("10.0.0.1/8", PrefixValueError, r"10.0.0.0/8"),
        ("2001:db8::/129", AddressValueError, r"prefix length 129 is greater than 128"),
        ("10.0.0.0/33", AddressValueError, r"greater than 32"),
        ("10.0.0.0/", AddressValueError, r"prefix length '' is not a decimal number"),
        ("10.0.0.0/08", AddressValueError, r"leading zero"),
        ("10.0.0.0/8/8", AddressValueError, r"more than one '/'"),
        ("10.0.0.0/-1", AddressValueError, r"not a decimal number"),
        ("fe80::%eth0/64", AddressValueError, r"zone ID"),
    ],
)
def test_bad_prefixes(text: str, error: type, reason: str) -> None:
    with pytest.raises(error, match=reason):
        Prefix.parse(text)


def test_non_strict_parse_masks_host_bits() -> None:
    assert str(Prefix.parse("2001:db8::1/32", strict=False)) == "2001:db8::/32"


def test_out_of_range_subnet_and_supernet() -> None:
    p = Prefix.parse("2001:db8::/48")
    with pytest.raises(IndexError, match="65536 /64 subnets; index 65536 is out of range"):
        p.subnet(65536, 64)
    with pytest.raises(PrefixValueError, match="subnet length must be /48 to /128"):
        p.subnet(0, 40)
    with pytest.raises(PrefixValueError, match="supernet must be /0 to /48"):
        p.supernet(56)
    with pytest.raises(PrefixValueError, match="is not inside"):
        p.index_of(Prefix.parse("2001:db9::/64"))


def test_exact_big_integers_at_the_extremes() -> None:
    everything = Prefix.parse("::/0")
    assert everything.num_addresses == 2**128
    assert everything.count_subnets(64) == 2**64
    assert str(everything.subnet(2**64 - 1, 64)) == "ffff:ffff:ffff:ffff::/64"
    assert str(Prefix.parse("2001:db8::/32").subnet(123456, 64)) == "2001:db8:1:e240::/64"


def test_prefix_errors_quote_the_whole_input() -> None:
    with pytest.raises(AddressValueError, match=r"^'10.0.0.300/24' does not appear to be an IPv4 or IPv6 prefix: octet 4"):
        Prefix.parse("10.0.0.300/24")
