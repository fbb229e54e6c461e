"""Address text to (family, hi, lo) for a whole Arrow string buffer at once.

The rules are those of ``v6ops.addr.parse`` (RFC 4291 section 2.2, no zones, no
IPv4 octets with leading zeros); the property tests hold the two parsers equal.
Instead of a loop per row, every row is cut into at most ``_MAX_FIELDS`` fields
at its ':' and '.' separators, and each field's value is read from the four
bytes before its end as one little-endian uint32 (SWAR), so the work is a few
dozen numpy passes over an (rows x fields) matrix.
"""

from __future__ import annotations

import numpy as np

# A valid address has at most 10 separators ('::a:b:c:d:e:1.2.3.4'), so 11 fields.
_MAX_FIELDS = 11
_BLOCK_ROWS = 1 << 15  # rows per pass: keeps the (rows x fields) matrices in cache
_FRONT_PAD = 4  # a field's 4-byte window may start before the first byte
_BACK_PAD = 8

_HEX, _COLON, _DOT, _OTHER = 0, 1, 2, 4
_CHAR_CLASS = np.full(256, _OTHER, np.uint8)
for _c in b"0123456789abcdefABCDEF":
    _CHAR_CLASS[_c] = _HEX
_CHAR_CLASS[ord(":")] = _COLON
_CHAR_CLASS[ord(".")] = _DOT

# Keep the last L bytes of a 4-byte window (the field), as a uint32 mask, by L.
_FIELD_MASK = np.array([0, 0xFF000000, 0xFFFF0000, 0xFFFFFF00, 0xFFFFFFFF], np.uint32)
_U32 = np.uint32


def parse_text_buffer(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    for first in range(0, n, _BLOCK_ROWS):
        last = min(first + _BLOCK_ROWS, n)
        f, h, low = _parse_block(buf, rel[first : last + 1])
        family[first:last], hi[first:last], lo[first:last] = f, h, low
    return family, hi, lo


def _parse_block(buf: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(offsets) - 1
    text = buf[_FRONT_PAD + offsets[0] : _FRONT_PAD + offsets[-1]]
    base = int(offsets[0])
    cls = _CHAR_CLASS[text]
    sep_pos = np.flatnonzero((cls - np.uint8(1)) <= 1) + base  # ':' or '.'
    bad_pos = np.flatnonzero(cls == _OTHER) + base
    first_sep = np.searchsorted(sep_pos, offsets)
    nsep = np.diff(first_sep)
    bad = np.zeros(n, bool)
    bad[np.searchsorted(offsets, bad_pos, "right") - 1] = True
    bad |= nsep >= _MAX_FIELDS

    width = int(min(max(int(nsep.max(initial=0)) + 1, 4), _MAX_FIELDS))
    k = np.arange(width)
    has_sep = k < nsep[:, None]
    sep_ext = np.concatenate([sep_pos, np.zeros(width, np.int64)])
    row_end = offsets[1:, None]
    # end[r, k]: the position just after field k of row r (its separator, or the row end).
    end = np.where(has_sep, sep_ext[first_sep[:-1, None] + k], row_end)
    begin = np.empty_like(end)
    begin[:, 0] = offsets[:-1]
    begin[:, 1:] = end[:, :-1] + 1
    length = end - begin  # -1 past the last field
    sep_char = buf[end + _FRONT_PAD]
    colon = has_sep & (sep_char == ord(":"))
    dot = has_sep & (sep_char == ord("."))

    # The 4 bytes before each field end, as uint32 (byte 0 = 4th char from the end).
    windows = np.ndarray((len(buf) - 3,), "<u4", buf, 0, (1,))
    raw = windows[end] & _FIELD_MASK[np.clip(length, 0, 4)]
    nibbles = (raw & _U32(0x0F0F0F0F)) + _U32(9) * ((raw >> _U32(6)) & _U32(0x01010101))
    pairs = ((nibbles & _U32(0x00FF00FF)) << _U32(4)) | ((nibbles >> _U32(8)) & _U32(0x00FF00FF))
    hex_value = ((pairs & _U32(0xFFFF)) << _U32(8)) | (pairs >> _U32(16))
    decimal = (hex_value & _U32(15)) + _U32(10) * ((hex_value >> _U32(4)) & _U32(15)) + _U32(100) * (
        (hex_value >> _U32(8)) & _U32(15)
    )
    first_char_shift = ((4 - np.clip(length, 1, 4)) * 8).astype(np.uint32)
    leading_zero = (length > 1) & (((raw >> first_char_shift) & _U32(0xFF)) == ord("0"))
    # RFC 4291 2.2 (3) dotted quad; leading zeros refused as in parse.parse_ipv4 (RFC 6943 3.1.1).
    octet_ok = (
        (length >= 1) & (length <= 3) & ((raw & _U32(0x40404040)) == 0) & ~leading_zero & (decimal <= 255)
    )

    ncolon = colon.sum(1)
    ndot = dot.sum(1)
    last = width - 1
    octet_index = np.minimum(ncolon[:, None] + np.arange(4), last)
    octets = np.take_along_axis(decimal, octet_index, 1)
    octets_ok = np.take_along_axis(octet_ok, octet_index, 1).all(1)
    quad = (octets[:, 0] << _U32(24)) | (octets[:, 1] << _U32(16)) | (octets[:, 2] << _U32(8)) | octets[:, 3]
    is_v4 = (ncolon == 0) & (ndot == 3) & (nsep == 3) & octets_ok

    # IPv6: colon-separated hex fields, optionally ending in a dotted quad after the last colon.
    tail = ndot > 0
    dots_last = np.take_along_axis(dot, np.clip(nsep[:, None] - np.arange(1, 4), 0, last), 1).all(1)
    tail_ok = (ndot == 3) & dots_last & octets_ok
    hex_fields = ncolon + ~tail  # fields 0 .. hex_fields-1 are hex (or empty for '::')
    is_hex = k < hex_fields[:, None]
    empty = is_hex & (length == 0)
    # An empty field between two colons is the one '::' (RFC 4291 2.2 (2)).
    double = empty & (k >= 1) & (k < ncolon[:, None])
    ndouble = double.sum(1)
    double_at = np.argmax(double, 1)
    rows = np.arange(n)
    # An empty first/last field only as half of a leading/trailing '::'.
    lead_ok = ~empty[:, 0] | double[:, 1]
    trail_field = np.minimum(ncolon, last)
    trail_ok = tail | (length[rows, trail_field] != 0) | double[rows, np.maximum(trail_field - 1, 0)]
    filled = is_hex & (length > 0)
    nfilled = filled.sum(1)
    want = np.where(tail, 6, 8)
    count_ok = np.where(ndouble == 1, nfilled < want, nfilled == want) & (ndouble <= 1)
    short_ok = ~(is_hex & (length > 4)).any(1)
    is_v6 = (ncolon > 0) & (~tail | tail_ok) & lead_ok & trail_ok & count_ok & short_ok

    # Expand '::': group g comes from field g before it, from field double_at+1+... after it.
    before = np.where(ndouble == 1, (filled & (k < double_at[:, None])).sum(1), nfilled)
    after = nfilled - before
    g = np.arange(8)
    after_from = (want - after)[:, None]
    from_after = (g >= after_from) & (ndouble == 1)[:, None]
    source = np.where(g < before[:, None], g, np.where(from_after, double_at[:, None] + 1 + g - after_from, width))
    values = np.concatenate([hex_value, np.zeros((n, 1), np.uint32)], 1)
    groups = np.take_along_axis(values, np.minimum(source, width), 1).astype(np.uint64)
    hi = (groups[:, 0] << np.uint64(48)) | (groups[:, 1] << np.uint64(32)) | (groups[:, 2] << np.uint64(16)) | groups[:, 3]
    low_groups = (groups[:, 4] << np.uint64(48)) | (groups[:, 5] << np.uint64(32))
    lo = np.where(tail, low_groups | quad, low_groups | (groups[:, 6] << np.uint64(16)) | groups[:, 7])

    ok = ~bad
    is_v4 &= ok
    is_v6 &= ok
    family = np.where(is_v4, np.uint8(4), np.where(is_v6, np.uint8(6), np.uint8(0)))
    hi = np.where(is_v6, hi, np.uint64(0))
    lo = np.where(is_v6, lo, np.where(is_v4, quad.astype(np.uint64), np.uint64(0)))
    return family, hi, lo
