"""Address text to (family, hi, lo) for a whole Arrow string buffer at once.

The rules are those of ``v6ops.addr.parse`` (RFC 4291 section 2.2, no zones, no
IPv4 octets with leading zeros); the property tests hold the two parsers equal.

Instead of a loop per row: every row is cut into fields at its ':' and '.'
separators (one flat array of fields for the whole block), each field's value
is read from the four bytes before its end as one little-endian uint32 (SWAR),
and a row's *shape* (separator count, which separators are dots, which fields
are empty) is looked up in a table of every valid shape, built once from
RFC 4291 2.2, which also says which field feeds each of the eight 16-bit groups.
"""

from __future__ import annotations

import numpy as np

from v6ops.addr.vector_blocks import for_each_block

_BLOCK_ROWS = 1 << 14  # rows per pass: keeps the per-field arrays in cache
_FRONT_PAD = 4  # a field's 4-byte window may start before the first byte
_BACK_PAD = 8

# bytes.translate tables: separators (':' '.') to 1, everything else to 0; and the bytes an address may hold.
_SEPARATORS = bytes(1 if c in b":." else 0 for c in range(256))
_ADDRESS_BYTES = b"0123456789abcdefABCDEF:."
_IS_BAD = np.ones(256, bool)
_IS_BAD[list(_ADDRESS_BYTES)] = False

# Keep the last L bytes of a 4-byte window (the field), as a uint32 mask, by L.
_FIELD_MASK = np.array([0, 0xFF000000, 0xFFFF0000, 0xFFFFFF00, 0xFFFFFFFF], np.uint32)
_U32 = np.uint32
_U64 = np.uint64

# Row shapes. A valid address has at most 10 separators ('::1:2:3:4:5:1.2.3.4'), so 11 fields.
_MAX_SEPS = 10
_RANK_CAP = 12  # field ranks are clipped here; rows that long are invalid anyway
_DOT_BIT, _LONG_BIT = 16, 31
# Group g is stored at uint16 word _WORD[g], so that the 8 words of a row read as (hi, lo) uint64 little-endian.
_WORD = [3, 2, 1, 0, 7, 6, 5, 4]


def _shape_key(nsep: int, dotted: int, empty_mask: int) -> int:
    return ((nsep * 2 + dotted) << 11) | empty_mask


def _shape_tables() -> tuple[np.ndarray, np.ndarray]:
    """Family (4, 6, 0) and group sources of every valid row shape.

    ``sources[key, _WORD[g]]`` is the rank of the field holding group g; a zero
    group from '::' points at the empty field of the '::', whose value is 0.
    The groups a dotted quad stands for are filled in from the octets later.
    """
    size = _shape_key(_MAX_SEPS + 1, 0, 0)
    family = np.zeros(size, np.uint8)
    sources = np.zeros((size, 8), np.int8)
    family[_shape_key(3, 1, 0)] = 4  # a.b.c.d
    for dotted in (0, 1):
        want = 6 if dotted else 8  # RFC 4291 2.2 (3): the dotted quad stands for the last two groups
        layouts: list[tuple[int, int] | None] = [None] + [(b, a) for b in range(want) for a in range(want - b)]
        for layout in layouts:
            if layout is None:
                parts = ["F"] * want
            else:  # RFC 4291 2.2 (2): '::' for one or more zero groups, b fields before and a after
                before, after = layout
                parts = ["E"] * (before == 0) + ["F"] * before + ["E"] + ["F"] * after + ["E"] * (after == 0 and not dotted)
            nsep = len(parts) + 3 if dotted else len(parts) - 1
            key = _shape_key(nsep, dotted, sum(1 << k for k, p in enumerate(parts) if p == "E"))
            filled = [k for k, p in enumerate(parts) if p == "F"]
            before = want if layout is None else layout[0]
            zero = parts.index("E", 1) if "E" in parts else 0  # the empty field between the colons of '::'
            groups = filled[:before] + [zero] * (want - len(filled)) + filled[before:] + [0] * (8 - want)
            family[key] = 6
            sources[key, _WORD] = groups
    return family, sources


_SHAPE_FAMILY, _SHAPE_SOURCES = _shape_tables()
_SHAPE_SOURCES_PACKED = _SHAPE_SOURCES.view(np.uint64).ravel()  # one gather of 8 bytes per row
# The dot bits a dotted row must have: its last three separators, and only those.
_DOTS_LAST = np.array([0, 0, 0, *[0b111 << (n - 3) for n in range(3, _MAX_SEPS + 1)]], np.int64)


def _octet_table() -> np.ndarray:
    """Decimal octet value by (length, digits read as hex nibbles), or -1.

    RFC 4291 2.2 (3) / RFC 791 dotted decimal, 0-255, and no leading zero
    (refused as in parse.parse_ipv4: '010' is 8 to inet_aton, RFC 6943 3.1.1).
    """
    table = np.full(5 << 12, -1, np.int16)
    for octet in range(256):
        text = str(octet)
        table[(len(text) << 12) | int(text, 16)] = octet
    return table


_OCTET = _octet_table()


def parse_text_buffer(
    offsets: np.ndarray, data: np.ndarray, parallel: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(family, hi, lo) for the rows of an Arrow string array given as its offsets and data bytes.

    ``family`` is 4, 6 or 0 (not an address); IPv4 values are in ``lo`` with ``hi`` 0.
    """
    offsets = np.asarray(offsets, np.int64)
    n = len(offsets) - 1
    start, stop = int(offsets[0]), int(offsets[-1])
    buf = np.zeros(stop - start + _FRONT_PAD + _BACK_PAD, np.uint8)
    buf[_FRONT_PAD : _FRONT_PAD + stop - start] = data[start:stop]
    rel = offsets - start
    family = np.zeros(n, np.uint8)
    hi = np.zeros(n, np.uint64)
    lo = np.zeros(n, np.uint64)

    def parse(first: int, stop: int) -> None:
        family[first:stop], hi[first:stop], lo[first:stop] = _parse_block(buf, rel[first : stop + 1])

    for_each_block(n, _BLOCK_ROWS, parse, parallel)
    return family, hi, lo


def _parse_block(buf: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(offsets) - 1
    base = int(offsets[0])
    text = buf[_FRONT_PAD + base : _FRONT_PAD + offsets[-1]].tobytes()
    seps = np.flatnonzero(np.frombuffer(text.translate(_SEPARATORS), bool)) + base
    bad = np.zeros(n, bool)
    if text.translate(None, _ADDRESS_BYTES):  # rare: find the rows holding other bytes
        bad_at = np.flatnonzero(_IS_BAD[np.frombuffer(text, np.uint8)]) + base
        bad[np.searchsorted(offsets, bad_at, "right") - 1] = True
    first_sep = np.searchsorted(seps, offsets)
    nsep = np.diff(first_sep)

    # One flat array of fields: row r owns fields first_field[r] .. last_field[r].
    nfields = len(seps) + n
    first_field = first_sep[:-1] + np.arange(n)
    last_field = first_field + nsep
    is_last = np.zeros(nfields, bool)
    is_last[last_field] = True
    end = np.insert(seps, first_sep[1:], offsets[1:])  # just after each field: its separator, or the row end
    begin = np.empty(nfields, np.int64)
    begin[1:] = end[:-1] + 1
    begin[first_field] = offsets[:-1]
    length = end - begin

    raw = _windows_before(buf, end) & _FIELD_MASK.take(np.minimum(length, 4))
    nibbles = (raw & _U32(0x0F0F0F0F)) + _U32(9) * ((raw >> _U32(6)) & _U32(0x01010101))
    pairs = ((nibbles & _U32(0x00FF00FF)) << _U32(4)) | ((nibbles >> _U32(8)) & _U32(0x00FF00FF))
    value = (((pairs & _U32(0xFFFF)) << _U32(8)) | (pairs >> _U32(16))).astype(np.uint16)

    # Per row, in one OR-reduction: empty-field bits, dot-separator bits, and "a field is too long".
    rank = np.minimum(np.arange(nfields) - np.repeat(first_field, nsep + 1), _RANK_CAP).astype(np.uint32)
    dot = (buf.take(end + _FRONT_PAD) == ord(".")) & ~is_last
    bits = ((length == 0).astype(np.uint32) | (dot.astype(np.uint32) << _U32(_DOT_BIT))) << rank
    bits |= (length > 4).astype(np.uint32) << _U32(_LONG_BIT)
    shape = np.bitwise_or.reduceat(bits, first_field) if n else np.zeros(0, np.uint32)
    dots = (shape >> _U32(_DOT_BIT)) & _U32(0x1FFF)
    nsep_capped = np.minimum(nsep, _MAX_SEPS)
    dotted = dots != 0
    key = ((nsep_capped * 2 + dotted) << 11) | (shape & _U32(0x7FF))
    family = _SHAPE_FAMILY.take(key)
    ok = ~bad & (nsep <= _MAX_SEPS) & (shape >> _U32(_LONG_BIT) == 0) & (~dotted | (dots == _DOTS_LAST.take(nsep_capped)))

    # The dotted quad (IPv4, or the tail of IPv6): the last four fields of dotted rows.
    quad = np.zeros(n, np.uint64)
    quad_rows = np.flatnonzero(dotted & ok & (family != 0))
    if len(quad_rows):
        octet = last_field[quad_rows, None] - np.arange(3, -1, -1)
        octets = _OCTET.take((length.take(octet) << 12) | (value.take(octet) & np.uint16(0xFFF)))
        ok[quad_rows] &= (octets >= 0).all(1)
        quad[quad_rows] = octets.astype(np.uint8).view(">u4").ravel()  # a.b.c.d read as one big-endian word

    family = np.where(ok, family, np.uint8(0))
    v6 = family == 6
    sources = _SHAPE_SOURCES_PACKED.take(key).view(np.int8).reshape(n, 8)
    words = value.take(first_field[:, None] + sources).view(np.uint64)
    hi = np.where(v6, words[:, 0], _U64(0))
    lo = np.where(v6, words[:, 1], _U64(0))
    lo = np.where(dotted & (family != 0), (lo & _U64(0xFFFFFFFF00000000)) | quad, lo)
    return family, hi, lo


def _windows_before(buf: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The 4 text bytes before each position in ``end``, as one little-endian uint32 each.

    Text position p is at buf[p + _FRONT_PAD], so the window ending there starts at buf[p].
    """
    return np.ndarray((len(buf) - 3,), "<u4", buf, 0, (1,))[end]
