"""Hostile input for the C reader: random bytes, boundary numbers, huge and empty fields, NULs, no newline.

Run as part of the suite, and by ``scripts/sanitize-linescan`` with the reader built under
AddressSanitizer and UndefinedBehaviorSanitizer, where any out-of-bounds access, overflow or
undefined shift aborts the run. The properties checked here hold with or without sanitizers: the
reader refuses a block without a final newline and otherwise raises nothing but its documented
ValueError (a file the row path then reads whole), every line it hands back is a whole line of the
block, and it takes or hands back no more lines than the block has.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v6ops.flows import encoded
from v6ops.flows._linescan import Scanner
from v6ops.flows.vpc import DEFAULT_FORMAT

FIELDS = tuple(DEFAULT_FORMAT)
TOKENS = [
    "2", "123456789010", "eni-1", "10.0.0.1", "2001:db8::1", "::", "::ffff:1.2.3.4", "64:ff9b::1.2.3.4",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "1:2:3:4:5:6:7:8:9", ":::", "1.2.3.4.5", "999.1.1.1", "-", "0",
    "-0", "+1", "00000000000000000000001", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
    "9223372036854775808", "18446744073709551616", "ACCEPT", "REJECT", "OK", "NODATA", "SKIPDATA", "IPv6", "x" * 300,
    "1767571200", "", "\x00", "\xff\xfe", "é", "\t", "\r",
]
hostile_line = st.one_of(
    st.lists(st.sampled_from(TOKENS), min_size=0, max_size=20).map(" ".join),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.lists(st.sampled_from(TOKENS[:30]), min_size=14, max_size=14).map(" ".join),
)


def _block(lines: list[str], newline_at_end: bool) -> bytes:
    data = "\n".join(lines).encode("utf-8", "surrogateescape")
    return data + b"\n" if newline_at_end else data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_line, min_size=1, max_size=30), st.booleans(), st.sampled_from([1, 7, 60, 3600]),
       st.sampled_from([None, encoded.DetectBins(60), encoded.DetectBins(7, ("eni-1", "x" * 300))]))
def test_hostile_blocks(lines: list[str], newline_at_end: bool, fine_bin: int,
                        detect: encoded.DetectBins | None) -> None:
    """... also with the detections' flows aggregate (destination ports and internet-facing interfaces read)."""
    block = _block(lines, newline_at_end)
    scanner = (Scanner(encoded.roles(FIELDS), fine_bin) if detect is None else
               Scanner(encoded.roles(FIELDS, detect), fine_bin, detect.seconds, detect.facing))
    if block and not block.endswith(b"\n"):
        with pytest.raises(ValueError, match="must end with a newline"):
            scanner.feed(block)
        block += b"\n"
    try:
        odd = np.frombuffer(scanner.feed(block), np.int64).reshape(-1, 2)
    except ValueError as exc:
        assert str(exc).startswith("line ")  # the documented refusal: the row path reads the file
        return
    for start, length in odd:
        assert start >= 0 and start + length <= len(block)
        assert start == 0 or block[start - 1:start] == b"\n"
    taken, _, _ = scanner.summary()
    assert taken + len(odd) <= block.count(b"\n") + 1
    scanner.facts()
    scanner.pairs()
    count, _, _ = scanner.texts(0)
    assert len(np.frombuffer(scanner.codes(), np.uint8)) == count
    if detect is not None:  # every bin: a known source, a start on a bin boundary, flows taken at most
        bins, src, _, _, _, starts, *_, flows, _, _ = scanner.flows()
        sources = np.frombuffer(src, np.int32)
        assert len(sources) == bins and ((sources >= 0) & (sources < count)).all()
        assert (np.frombuffer(starts, np.int64) % detect.seconds == 0).all()
        assert np.frombuffer(flows, np.int64).sum() <= taken


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(hostile_line, min_size=1, max_size=10), min_size=2, max_size=3))
def test_hostile_blocks_merged_across_scanners(blocks: list[list[str]]) -> None:
    """The multi-scanner merge (adopt the others' addresses, renumber their pairs) on hostile input."""
    scanners = [Scanner(encoded.roles(FIELDS), 60) for _ in blocks]
    for scanner, lines in zip(scanners, blocks, strict=True):
        try:
            scanner.feed(_block(lines, True))
        except ValueError:
            return  # the documented refusal
    first = scanners[0]
    for other in scanners[1:]:
        remap = first.adopt_addresses(other)
        first.absorb(other, remap)
    first.pairs()
    first.facts()
