"""(family, hi, lo) to canonical text for a whole column: RFC 5952 for IPv6, dotted quad for IPv4.

Same output as ``v6ops.addr.text.format_ipv6``/``format_ipv4`` (held equal by
property tests). Each row is laid out in a fixed-width byte matrix with 0 for
"no character here"; dropping the zeros row-major gives the Arrow data buffer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_WIDTH = 40  # 8 groups x (4 hex digits + ':')
_MAPPED_PREFIX = np.frombuffer(b"::ffff:", np.uint8)
_MAPPED_HI, _MAPPED_LO_TOP = 0, 0xFFFF  # ::ffff:0:0/96, RFC 4291 2.5.5.2; printed mixed, RFC 5952 section 5
_U64 = np.uint64


def format_columns(family: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> pa.StringArray:
    """Canonical text per row, null where ``family`` is 0."""
    n = len(family)
    chars = np.zeros((n, _WIDTH), np.uint8)
    mapped = (family == 6) & (hi == _MAPPED_HI) & ((lo >> _U64(32)) == _MAPPED_LO_TOP)
    v6 = (family == 6) & ~mapped
    v4 = family == 4
    if v6.any():
        chars[v6] = _ipv6_chars(hi[v6], lo[v6])
    if v4.any():
        chars[v4, :16] = _dotted_chars(lo[v4])
    if mapped.any():
        chars[mapped, :7] = _MAPPED_PREFIX
        chars[mapped, 7:23] = _dotted_chars(lo[mapped])
    present = chars != 0
    lengths = present.sum(1, dtype=np.int64)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = chars[present]
    valid = family != 0
    null_count = int(n - valid.sum())
    validity = pa.py_buffer(np.packbits(valid, bitorder="little")) if null_count else None
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), validity, null_count)


def _ipv6_chars(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    n = len(hi)
    shifts = np.array([48, 32, 16, 0], np.uint64)
    groups = np.concatenate([(hi[:, None] >> shifts) & _U64(0xFFFF), (lo[:, None] >> shifts) & _U64(0xFFFF)], 1)
    groups = groups.astype(np.uint16)
    # RFC 5952 4.2.2/4.2.3: the longest run of >= 2 zero groups, the leftmost on a tie.
    run = np.zeros(n, np.int8)
    best_len = np.ones(n, np.int8)
    best_start = np.full(n, -1, np.int8)
    for j in range(8):
        run = np.where(groups[:, j] == 0, run + 1, 0).astype(np.int8)
        longer = run > best_len
        best_len = np.where(longer, run, best_len)
        best_start = np.where(longer, j + 1 - run, best_start)
    # RFC 5952 4.1: no leading zeros; 4.3: lower case.
    digits = 1 + (groups > 0xF).astype(np.int8) + (groups > 0xFF) + (groups > 0xFFF)
    out = np.zeros((n, 8, 5), np.uint8)
    for slot in range(4):
        nibble = (groups >> (12 - 4 * slot)) & 0xF
        out[:, :, slot] = np.where(4 - slot <= digits, _HEX_DIGITS[nibble], 0)
    out[:, :7, 4] = ord(":")
    g = np.arange(8)
    in_run = (g >= best_start[:, None]) & (g < (best_start + best_len)[:, None]) & (best_start >= 0)[:, None]
    out[in_run] = 0
    # The run's first group prints the second ':' of '::' (the first is the previous group's
    # separator), or both when the run starts the address.
    shortened = np.flatnonzero(best_start >= 0)
    start = best_start[shortened].astype(np.intp)
    out[shortened, start, 0] = ord(":")
    at_front = shortened[start == 0]
    out[at_front, 0, 1] = ord(":")
    return out.reshape(n, _WIDTH)


def _dotted_chars(lo: np.ndarray) -> np.ndarray:
    octets = ((lo[:, None] >> np.array([24, 16, 8, 0], np.uint64)) & _U64(0xFF)).astype(np.uint16)
    digits = 1 + (octets > 9).astype(np.int8) + (octets > 99)
    out = np.zeros((len(lo), 4, 4), np.uint8)
    for slot, power in enumerate((100, 10, 1)):
        digit = (octets // power) % 10
        out[:, :, slot] = np.where(3 - slot <= digits, ord("0") + digit, 0)
    out[:, :3, 3] = ord(".")
    return out.reshape(len(lo), 16)
