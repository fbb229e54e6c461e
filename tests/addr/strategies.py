"""Hypothesis strategies shared by the scalar and vector address tests."""

from __future__ import annotations

from hypothesis import strategies as st

ipv6_ints = st.one_of(
    st.integers(0, 2**128 - 1),
    # Bias towards zero runs so '::' placement and ties get exercised.
    st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8, 0x2001, 0xA]), min_size=8, max_size=8).map(
        lambda fs: int("".join(f"{f:04x}" for f in fs), 16)
    ),
    st.integers(0, 2**32 - 1).map(lambda v: 0xFFFF00000000 | v),
)


def fields_of(value: int) -> list[int]:
    return [(value >> s) & 0xFFFF for s in range(112, -1, -16)]


@st.composite
def ipv6_spellings(draw: st.DrawFn) -> tuple[int, str]:
    """(value, text) for any RFC 4291 2.2 spelling: full, leading zeros, mixed case, '::' anywhere legal, dotted tail."""
    value = draw(ipv6_ints)
    fields = fields_of(value)
    texts = [draw(st.sampled_from([f"{f:x}", f"{f:04x}", f"{f:X}", f"{f:04X}"])) for f in fields]
    dotted = draw(st.booleans())
    if dotted:
        v4 = value & 0xFFFFFFFF
        texts = [*texts[:6], f"{v4 >> 24}.{(v4 >> 16) & 255}.{(v4 >> 8) & 255}.{v4 & 255}"]
    zero_runs = [
        (i, j) for i in range(len(texts)) for j in range(i + 1, len(texts) + 1)
        if all(f == 0 for f in fields[i:j]) and not (dotted and j > 6)
    ]
    if zero_runs and draw(st.booleans()):
        i, j = draw(st.sampled_from(zero_runs))
        return value, ":".join(texts[:i]) + "::" + ":".join(texts[j:])
    return value, ":".join(texts)
