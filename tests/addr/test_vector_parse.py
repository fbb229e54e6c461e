"""The vector parser against the scalar one (``Address.parse``) and, for values, ``ipaddress``."""

from __future__ import annotations

import ipaddress
import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.addr.strategies import ipv6_spellings as spellings
from v6ops.addr import Address, AddressValueError
from v6ops.addr.vector import AddressColumn, parse_addresses


def _scalar(text: str | None) -> tuple[int, int] | None:
    """(family, value) by the scalar parser, None when it refuses the text."""
    if text is None:
        return None
    try:
        address = Address.parse(text)
    except AddressValueError:
        return None
    return address.version, address.value


def _row(column: AddressColumn, i: int) -> tuple[int, int] | None:
    if not column.valid[i]:
        assert column.family[i] == 0 and column.hi[i] == 0 and column.lo[i] == 0
        return None
    return int(column.family[i]), (int(column.hi[i]) << 64) | int(column.lo[i])


def _assert_same_as_scalar(texts: list[str | None], column: AddressColumn | None = None) -> None:
    column = parse_addresses(texts) if column is None else column
    assert len(column) == len(texts)
    for i, text in enumerate(texts):
        expected = _scalar(text)
        assert _row(column, i) == expected, f"row {i}: {text!r}"
        assert column.valid[i] == (expected is not None)
        assert column.null[i] == (text is None)
        if expected is not None:
            version, value = expected
            assert int(ipaddress.ip_address(text)) == value  # the independent oracle
            assert ipaddress.ip_address(text).version == version


def ipv6_spellings() -> st.SearchStrategy[str]:
    return spellings().map(lambda vt: vt[1])


ipv4_spellings = st.tuples(*[st.integers(0, 255)] * 4).map(lambda o: ".".join(map(str, o)))

# Text made of the characters addresses are made of, plus a few that must be refused.
near_addresses = st.text(alphabet="0123456789abcdefABCDEF:::...%/ gG\u00e9", max_size=48)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid address with a few characters inserted, deleted or replaced."""
    text = list(draw(st.one_of(ipv6_spellings(), ipv4_spellings)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        at = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(list("0aF:.:% 9")))
        if op == "insert":
            text.insert(at, char)
        elif text and at < len(text):
            if op == "delete":
                del text[at]
            else:
                text[at] = char
    return "".join(text)


any_text = st.one_of(ipv6_spellings(), ipv4_spellings, near_addresses, mutated(), st.none())


@settings(max_examples=300, deadline=None)
@given(st.lists(any_text, max_size=40))
def test_parse_agrees_with_the_scalar_parser(texts: list[str | None]) -> None:
    _assert_same_as_scalar(texts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(ipv6_spellings(), ipv4_spellings), min_size=1, max_size=40))
def test_every_valid_spelling_parses(texts: list[str]) -> None:
    column = parse_addresses(texts)
    assert column.valid.all()
    _assert_same_as_scalar(texts, column)


EDGE_CASES = [
    "::", "::1", "1::", "1::2", ":", ":::", "1:::2", "::1::", ":1", "1:", "::1:2:3:4:5:6:7", "1:2:3:4:5:6:7::",
    "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2:3:4:5:6:7:8", "::1:2:3:4:5:6:7:8", "12345::", "0000:0::0",
    "::1.2.3.4", "::ffff:1.2.3.4", "1.2.3.4::", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
    "1:2:3:4:5::1.2.3.4", "1:2:3:4:5:6::1.2.3.4", ":1.2.3.4", "::1.2.3", "::1.2.3.4.5", "::01.2.3.4",
    "::1.2.3.256", "::1.2.3.a", "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.1.1.1", "1.1.1.00",
    "1.1.1", "1.1.1.1.1", "1..1.1", ".1.1.1", "1.1.1.", "1", "", " ::1", "::1 ", "fe80::1%eth0", "1.2.3.4%x",
    "::1/128", "2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
    "g::1", "::é", "1.2.3.1234", "::1234.1.1.1", "1:2:3:4:5:6:7:8.1.2.3", "1::2:3:4:5:6:7", "::0:0:0:0:0:0:0",
]


def test_edge_cases_agree_with_the_scalar_parser() -> None:
    _assert_same_as_scalar(EDGE_CASES)


def test_a_large_column_crosses_block_boundaries() -> None:
    rng = random.Random(5)
    texts: list[str | None] = []
    for i in range(70_000):
        pick = rng.random()
        if pick < 0.45:
            texts.append(str(ipaddress.IPv6Address(rng.getrandbits(128))))
        elif pick < 0.9:
            texts.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        elif pick < 0.95:
            texts.append(None)
        else:
            texts.append(f"bad{i}:")
    column = parse_addresses(texts)
    got = [_row(column, i) for i in range(len(texts))]
    assert got == [_scalar(t) for t in texts]


def test_repeated_column_is_deduplicated_and_parsed_the_same() -> None:
    rng = np.random.default_rng(7)
    distinct = [str(ipaddress.IPv6Address(int(v) << 64 | 1)) for v in rng.integers(0, 2**62, 500)]
    distinct += ["10.0.0.1", "bad", None]
    texts = [distinct[i] for i in rng.integers(0, len(distinct), 200_000)]
    column = parse_addresses(pa.array(texts, pa.string()))
    for i in range(0, len(texts), 97):
        assert _row(column, i) == _scalar(texts[i])
    assert (column.null == np.array([t is None for t in texts])).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda t: pa.array(t, pa.string()),
        lambda t: pa.array(t, pa.large_string()),
        lambda t: pa.array(t, pa.string_view()),
        lambda t: pa.array(t, pa.string()).dictionary_encode(),
        lambda t: pa.chunked_array([pa.array(t[:3], pa.string()), pa.array(t[3:], pa.string())]),
        lambda t: pa.array(["x", *t, "y"], pa.string()).slice(1, len(t)),
        lambda t: np.array(t, dtype=object),
        lambda t: np.array(["" if x is None else x for x in t]),
    ],
    ids=["string", "large_string", "string_view", "dictionary", "chunked", "sliced", "numpy-object", "numpy-str"],
)
def test_every_input_container_parses_the_same(make: object) -> None:
    texts: list[str | None] = ["2001:db8::1", None, "10.1.2.3", "nonsense", "::ffff:192.0.2.1", "FE80::A"]
    column = parse_addresses(make(texts))  # type: ignore[operator]
    for i, text in enumerate(texts):
        expected = _scalar(text)
        assert _row(column, i) == expected


def test_empty_column() -> None:
    column = parse_addresses(pa.array([], pa.string()))
    assert len(column) == 0 and column.family.dtype == np.uint8 and column.hi.dtype == np.uint64


def test_other_types_are_refused_with_the_type_named() -> None:
    with pytest.raises(TypeError, match="int64"):
        parse_addresses(pa.array([1, 2]))
    with pytest.raises(TypeError, match="float64"):
        parse_addresses(np.array([1.0]))


def test_errors_give_the_scalar_reason_per_bad_row_and_counts() -> None:
    texts = ["010.0.0.1", "::1", None, "1::2::3", "010.0.0.1", "fe80::1%eth0"]
    column = parse_addresses(texts)
    errors = column.errors().to_pylist()
    assert errors[1] is None and errors[2] is None  # valid and missing rows have no error
    assert errors[0] == errors[4] and "leading zero" in errors[0]
    assert "'::' may appear only once" in errors[3]
    assert "zone" in errors[5]
    counts = column.error_counts()
    assert sum(counts.values()) == 4 and counts[errors[0]] == 2
    assert column.invalid.tolist() == [True, False, False, True, True, True]


def test_errors_of_a_chunked_column_line_up_with_its_rows() -> None:
    chunks = [["x", "1.2.3.4", "010.0.0.1"], ["::1", None, "x", "1:2"]]
    column = parse_addresses(pa.chunked_array([pa.array(c, pa.string()) for c in chunks]))
    texts = [t for c in chunks for t in c]
    expected: list[str | None] = []
    for text in texts:
        try:
            if text is not None:
                Address.parse(text)
        except AddressValueError as exc:
            expected.append(exc.reason)
        else:
            expected.append(None)
    assert column.errors().to_pylist() == expected
    assert sum(column.error_counts().values()) == 4
