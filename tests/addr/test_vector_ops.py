"""Canonical text, kinds, truncation and unmapping of a column, each against the scalar functions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6ops.addr import Address, Prefix, address_kind, format_ipv4, format_ipv6
from v6ops.addr.registry import ROWS
from v6ops.addr.vector import (
    AddressColumn,
    address_kinds,
    format_addresses,
    from_parts,
    parse_addresses,
    truncate,
    unmap_ipv4,
)

ipv6_values = st.one_of(
    st.integers(0, 2**128 - 1),
    # Zero runs of every length and position, to exercise '::' placement and ties (RFC 5952 4.2).
    st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8, 0xABC, 0x10]), min_size=8, max_size=8).map(
        lambda fs: int("".join(f"{f:04x}" for f in fs), 16)
    ),
    st.integers(0, 2**32 - 1).map(lambda v: 0xFFFF00000000 | v),  # IPv4-mapped
    st.integers(0, 2**48 - 1),
)


@st.composite
def registry_addresses(draw: st.DrawFn) -> Address:
    """Addresses at the edges and insides of registry rows, so every row and its neighbours get hit."""
    row = draw(st.sampled_from([r for family in (4, 6) for r in ROWS[family]]))
    prefix = row.prefix
    offset = draw(st.sampled_from([0, 1, prefix.num_addresses - 1, prefix.num_addresses, -1]))
    offset = draw(st.integers(0, prefix.num_addresses - 1)) if draw(st.booleans()) else offset
    value = (prefix.network + offset) % (1 << prefix.width)
    return Address(prefix.version, value)


addresses = st.one_of(
    ipv6_values.map(lambda v: Address(6, v)),
    st.integers(0, 2**32 - 1).map(lambda v: Address(4, v)),
    registry_addresses(),
)


def _column(items: list[Address | None]) -> AddressColumn:
    family = np.array([0 if a is None else a.version for a in items], np.uint8)
    hi = np.array([0 if a is None else a.value >> 64 for a in items], np.uint64)
    lo = np.array([0 if a is None else a.value & (2**64 - 1) for a in items], np.uint64)
    return from_parts(family, hi, lo)


def _text(a: Address) -> str:
    return format_ipv4(a.value) if a.version == 4 else format_ipv6(a.value)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(addresses, st.none()), max_size=40))
def test_format_is_the_scalar_canonical_text(items: list[Address | None]) -> None:
    text = format_addresses(_column(items))
    assert text.type == pa.string()
    assert text.to_pylist() == [None if a is None else _text(a) for a in items]


@settings(max_examples=100, deadline=None)
@given(st.lists(addresses, min_size=1, max_size=40))
def test_format_then_parse_round_trips(items: list[Address]) -> None:
    column = _column(items)
    back = parse_addresses(format_addresses(column))
    assert (back.family == column.family).all() and (back.hi == column.hi).all() and (back.lo == column.lo).all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(addresses, st.none()), max_size=40))
def test_kinds_are_the_scalar_address_kind(items: list[Address | None]) -> None:
    kinds = address_kinds(_column(items))
    assert kinds.cast(pa.string()).to_pylist() == [None if a is None else address_kind(a) for a in items]


def test_every_registry_row_gets_its_own_kind() -> None:
    rows = [r for family in (4, 6) for r in ROWS[family]]
    column = _column([r.prefix.first for r in rows] + [r.prefix.last for r in rows])
    assert address_kinds(column).cast(pa.string()).to_pylist() == [
        address_kind(a) for a in [r.prefix.first for r in rows] + [r.prefix.last for r in rows]
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(addresses, st.none()), max_size=30), st.integers(0, 32), st.integers(0, 128))
def test_truncate_gives_the_network_of_the_prefix(items: list[Address | None], v4: int, v6: int) -> None:
    out = truncate(_column(items), v4, v6)
    for i, a in enumerate(items):
        if a is None:
            assert out.family[i] == 0 and not out.valid[i]
            continue
        length = v4 if a.version == 4 else v6
        expected = Prefix.parse(f"{a}/{length}", strict=False).network
        assert (int(out.hi[i]) << 64 | int(out.lo[i])) == expected
        assert out.family[i] == a.version


def test_truncate_refuses_lengths_out_of_range() -> None:
    column = parse_addresses(["::1"])
    with pytest.raises(ValueError, match="v4_length"):
        truncate(column, 33, 64)
    with pytest.raises(ValueError, match="v6_length"):
        truncate(column, 24, -1)


def test_unmap_turns_mapped_addresses_into_ipv4_and_leaves_the_rest() -> None:
    texts = ["::ffff:192.0.2.1", "::FFFF:c000:201", "::fffe:192.0.2.1", "64:ff9b::192.0.2.1", "192.0.2.1", "x", None]
    out = unmap_ipv4(parse_addresses(texts))
    assert format_addresses(out).to_pylist() == [
        "192.0.2.1", "192.0.2.1", "::fffe:c000:201", "64:ff9b::c000:201", "192.0.2.1", None, None,
    ]
    assert out.family.tolist() == [4, 4, 6, 6, 4, 0, 0]
    assert out.errors().to_pylist()[5] is not None  # the reasons survive the transformation


def test_the_same_address_three_ways_is_one_key() -> None:
    column = parse_addresses(["2001:DB8::1", "2001:db8:0:0:0:0:0:1", "2001:0db8::0001"])
    keys = set(zip(column.family.tolist(), column.hi.tolist(), column.lo.tolist(), strict=True))
    assert len(keys) == 1
    assert format_addresses(column).to_pylist() == ["2001:db8::1"] * 3


def test_from_parts_takes_arrow_columns_with_nulls_and_refuses_bad_parts() -> None:
    column = from_parts(pa.array([4, None, 6], pa.uint8()), pa.array([0, None, 1]), pa.array([1, None, 2]))
    assert column.valid.tolist() == [True, False, True]
    assert format_addresses(column).to_pylist() == ["0.0.0.1", None, format_ipv6(1 << 64 | 2)]
    with pytest.raises(ValueError, match="family must be 4, 6"):
        from_parts(np.array([5]), np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match="row 1 has 260"):
        from_parts(np.array([4, 260]), np.array([0, 0]), np.array([0, 0]))
    with pytest.raises(ValueError, match="32 bits"):
        from_parts(np.array([4]), np.array([0]), np.array([2**32]))
    table = column.to_arrow()
    assert table.column("family").to_pylist() == [4, None, 6]
