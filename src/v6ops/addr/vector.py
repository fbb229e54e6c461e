"""Vector address operations: whole columns of addresses without a Python loop per row.

``parse_addresses`` turns a column of text (Arrow or numpy) into an
``AddressColumn`` (family, two uint64 halves, validity) with the rules of
``Address.parse``; ``format_addresses``, ``address_kinds``, ``truncate``,
``unmap_ipv4`` and ``PrefixTable.lookup`` work on that column. Flow columns
repeat the same addresses heavily, so text is dictionary-encoded first when a
sample says that pays, and only the distinct values are parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from v6ops.addr.lpm import PrefixTable
from v6ops.addr.registry import ROWS, UNMATCHED_KIND
from v6ops.addr.vector_blocks import THREADS, for_each_block
from v6ops.addr.vector_column import AddressColumn
from v6ops.addr.vector_format import format_columns
from v6ops.addr.vector_parse import parse_text_buffer

__all__ = [
    "AddressColumn",
    "PrefixTable",
    "address_kinds",
    "format_addresses",
    "from_parts",
    "parse_addresses",
    "truncate",
    "unmap_ipv4",
]

_U64 = np.uint64
_ALL_ONES = 0xFFFFFFFFFFFFFFFF
# Dictionary-encode when a sample of this many rows has at most this share of distinct values.
_SAMPLE_ROWS = 1 << 16
_SAMPLE_PIECES = 16
_DEDUP_BELOW = 0.5

_Parts: TypeAlias = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
TextColumn: TypeAlias = pa.Array | pa.ChunkedArray | np.ndarray | Sequence[str | None]


def parse_addresses(column: TextColumn) -> AddressColumn:
    """Parse every row; a row that is not an address gets family 0 (see ``AddressColumn.errors``)."""
    text = _as_arrow_text(column)
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    dedup = _worth_deduplicating(text)
    parts = [_parse_chunk(chunk, dedup) for chunk in chunks]
    if not parts:
        parts = [_parse_plain(pa.array([], pa.string()), False)]
    family, hi, lo, null = (np.concatenate(arrays) if len(arrays) > 1 else arrays[0] for arrays in zip(*parts, strict=True))
    return AddressColumn(family, hi, lo, family != 0, null, text)


def from_parts(family: pa.Array | np.ndarray, hi: pa.Array | np.ndarray, lo: pa.Array | np.ndarray) -> AddressColumn:
    """An ``AddressColumn`` from stored family/hi/lo columns (nulls in ``family`` mean no address)."""
    wide_family = _numeric(family, np.int64)
    high = _numeric(hi, np.uint64)
    low = _numeric(lo, np.uint64)
    if not len(wide_family) == len(high) == len(low):
        raise ValueError(f"family, hi and lo differ in length: {len(wide_family)}, {len(high)}, {len(low)}")
    bad_family = ~np.isin(wide_family, (0, 4, 6))
    if bad_family.any():
        row = int(np.argmax(bad_family))
        raise ValueError(f"family must be 4, 6 or 0 (none); row {row} has {wide_family[row]}")
    fam = wide_family.astype(np.uint8)
    v4 = fam == 4
    too_wide = v4 & ((high != 0) | (low > _U64(0xFFFFFFFF)))
    if too_wide.any():
        raise ValueError(f"row {int(np.argmax(too_wide))} is IPv4 but its value does not fit in 32 bits of lo")
    none = fam == 0
    return AddressColumn(fam, np.where(none, _U64(0), high), np.where(none, _U64(0), low), ~none, none)


def format_addresses(column: AddressColumn) -> pa.StringArray:
    """Canonical text per row (RFC 5952 for IPv6), null where the row is not a valid address."""
    return format_columns(column.family, column.hi, column.lo)


def address_kinds(column: AddressColumn) -> pa.DictionaryArray:
    """Per row the label of ``v6ops.addr.address_kind`` (global, ula, nat64, ...), null if invalid."""
    table, codes, labels = _kind_table()
    index = table.lookup(column)
    kind = codes[index + 1]  # codes[0] is for "no row matched"
    for family, label in UNMATCHED_KIND.items():
        kind = np.where((index < 0) & (column.family == family), labels.index(label), kind)
    indices = pa.array(kind.astype(np.int32), mask=~column.valid)
    return pa.DictionaryArray.from_arrays(indices, pa.array(labels, pa.string()))


def truncate(column: AddressColumn, v4_length: int, v6_length: int) -> AddressColumn:
    """Each address replaced by the network of its /v4_length (IPv4) or /v6_length (IPv6) prefix."""
    if not 0 <= v4_length <= 32:
        raise ValueError(f"v4_length must be 0..32, not {v4_length}")
    if not 0 <= v6_length <= 128:
        raise ValueError(f"v6_length must be 0..128, not {v6_length}")
    v4_mask = _U64((0xFFFFFFFF << (32 - v4_length)) & 0xFFFFFFFF)
    hi_mask = _U64((_ALL_ONES << (64 - min(v6_length, 64))) & _ALL_ONES)
    lo_mask = _U64((_ALL_ONES << (128 - max(v6_length, 64))) & _ALL_ONES)
    v6 = column.family == 6
    hi = np.where(v6, column.hi & hi_mask, column.hi)
    lo = np.where(v6, column.lo & lo_mask, column.lo & v4_mask)
    return AddressColumn(column.family, hi, lo, column.valid, column.null, column.source)


def unmap_ipv4(column: AddressColumn) -> AddressColumn:
    """IPv4-mapped ``::ffff:a.b.c.d`` (RFC 4291 2.5.5.2) as the IPv4 address a.b.c.d.

    The flows counting rule: a peer written in mapped form is an IPv4 peer.
    """
    mapped = (column.family == 6) & (column.hi == 0) & ((column.lo >> _U64(32)) == _U64(0xFFFF))
    if not mapped.any():
        return column
    family = np.where(mapped, np.uint8(4), column.family)
    lo = np.where(mapped, column.lo & _U64(0xFFFFFFFF), column.lo)
    return AddressColumn(family, column.hi, lo, column.valid, column.null, column.source)


@cache
def _kind_table() -> tuple[PrefixTable, np.ndarray, list[str]]:
    """The registry rows as a prefix table, and each row's label as a code into ``labels``."""
    rows = [row for family in (4, 6) for row in ROWS[family]]
    labels = sorted({row.kind for row in rows} | set(UNMATCHED_KIND.values()))
    codes = np.array([-1] + [labels.index(row.kind) for row in rows], np.int32)
    return PrefixTable([row.prefix for row in rows], [row.kind for row in rows]), codes, labels


def _as_arrow_text(column: TextColumn) -> pa.Array | pa.ChunkedArray:
    if isinstance(column, pa.ChunkedArray | pa.Array):
        text = column
    elif isinstance(column, np.ndarray):
        if column.dtype.kind not in "UO":
            raise TypeError(f"expected a column of address text, got a numpy array of {column.dtype}")
        text = pa.array(column, pa.string(), from_pandas=True)
    else:
        text = pa.array(list(column), pa.string())
    value_type = text.type.value_type if pa.types.is_dictionary(text.type) else text.type
    if pa.types.is_string_view(value_type):
        text = text.cast(pa.dictionary(text.type.index_type, pa.string()) if pa.types.is_dictionary(text.type) else pa.string())
    elif not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        raise TypeError(f"expected a column of address text, got an Arrow column of {text.type}")
    return text


def _worth_deduplicating(text: pa.Array | pa.ChunkedArray) -> bool:
    """Whether a sample, spread over the column (logs are often sorted by time), repeats enough."""
    if pa.types.is_dictionary(text.type) or len(text) < _SAMPLE_ROWS:
        return False
    piece = _SAMPLE_ROWS // _SAMPLE_PIECES
    starts = np.linspace(0, len(text) - piece, _SAMPLE_PIECES).astype(int)
    pieces = [text.slice(int(start), piece) for start in starts]
    sample = pa.chunked_array([c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])], text.type)
    return pc.count_distinct(sample).as_py() <= _DEDUP_BELOW * len(sample)


def _parse_chunk(chunk: pa.Array, dedup: bool) -> _Parts:
    """(family, hi, lo, null) of one Arrow chunk."""
    if pa.types.is_dictionary(chunk.type):
        return _expand(chunk.dictionary, chunk.indices, parallel=True)
    if not dedup:
        return _parse_plain(chunk, parallel=True)
    n = len(chunk)
    out: _Parts = (np.empty(n, np.uint8), np.empty(n, np.uint64), np.empty(n, np.uint64), np.empty(n, bool))

    def encode_and_parse(first: int, stop: int) -> None:
        encoded = pc.dictionary_encode(chunk.slice(first, stop - first))
        for whole, part in zip(out, _expand(encoded.dictionary, encoded.indices, parallel=False), strict=True):
            whole[first:stop] = part

    for_each_block(n, -(-n // THREADS), encode_and_parse)  # one slice per core, each with its own dictionary
    return out


def _expand(dictionary: pa.Array, indices: pa.Array, parallel: bool) -> _Parts:
    """Parse the distinct values once, then give every row the value of its index."""
    parsed = _parse_plain(dictionary, parallel)[:3]
    # One extra all-zero entry after the distinct values stands for null rows.
    family, hi, lo = (np.concatenate([part, np.zeros(1, part.dtype)]) for part in parsed)
    rows = (pc.fill_null(indices, len(dictionary)) if indices.null_count else indices).to_numpy().astype(np.intp)
    return family.take(rows), hi.take(rows), lo.take(rows), _null_mask(indices)


def _parse_plain(chunk: pa.Array, parallel: bool) -> _Parts:
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    _, offsets_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, width, len(chunk) + 1, chunk.offset * np.dtype(width).itemsize)
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    family, hi, lo = parse_text_buffer(offsets, data, parallel)
    null = _null_mask(chunk)
    if null.any():
        family[null] = 0
        hi[null] = 0
        lo[null] = 0
    return family, hi, lo, null


def _null_mask(array: pa.Array) -> np.ndarray:
    if not array.null_count:
        return np.zeros(len(array), bool)
    return pc.is_null(array).to_numpy(zero_copy_only=False)


def _numeric(values: pa.Array | pa.ChunkedArray | np.ndarray, dtype: type[np.generic]) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        values = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
    return np.asarray(values).astype(dtype, copy=False)
