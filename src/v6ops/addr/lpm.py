"""Longest-prefix match of an ``AddressColumn`` against a table of prefixes.

The prefixes are flattened once into disjoint, sorted intervals, each owned by
the most specific prefix covering it; a lookup is then a vectorised binary
search for the interval that holds each address (128-bit keys: search on
``hi``, then settle the rows whose interval starts share their ``hi`` on ``lo``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from v6ops.addr.address import Prefix
from v6ops.addr.errors import AddressValueError, PrefixValueError
from v6ops.addr.vector_blocks import for_each_block
from v6ops.addr.vector_column import AddressColumn

_U64 = np.uint64
_WIDTH = {4: 32, 6: 128}
_BLOCK_ROWS = 1 << 18
_SORTED_SEARCH_FROM = 1 << 12


@dataclass(frozen=True, eq=False)
class _Intervals:
    """Interval starts of one family (as hi/lo halves) and the prefix index owning each (-1: none)."""

    hi: np.ndarray
    lo: np.ndarray
    owner: np.ndarray  # owner[j + 1] owns [start j, start j+1); owner[0] = -1 (below the first start)
    tie_start: np.ndarray  # first j with the same hi as start j
    lo_matters: bool  # IPv4 (all in lo), or IPv6 with some start inside a /64
    hi_matters: bool  # IPv6

    @classmethod
    def build(cls, family: int, prefixes: list[tuple[int, int, int]]) -> _Intervals:
        """``prefixes`` as (network, length, index); nested prefixes split their parent."""
        width = _WIDTH[family]
        starts: list[int] = []
        owners: list[int] = []

        def emit(position: int, owner: int) -> None:
            if starts and starts[-1] == position:
                owners[-1] = owner
            elif position < 1 << width:
                starts.append(position)
                owners.append(owner)

        open_blocks: list[tuple[int, int]] = []  # (last address, owner), innermost last
        for network, length, index in sorted(prefixes):
            while open_blocks and open_blocks[-1][0] < network:
                last, _ = open_blocks.pop()
                emit(last + 1, open_blocks[-1][1] if open_blocks else -1)
            emit(network, index)
            open_blocks.append((network | ((1 << (width - length)) - 1), index))
        while open_blocks:
            last, _ = open_blocks.pop()
            emit(last + 1, open_blocks[-1][1] if open_blocks else -1)
        hi = np.array([s >> 64 for s in starts], np.uint64)
        lo = np.array([s & 0xFFFFFFFFFFFFFFFF for s in starts], np.uint64)
        first_of_hi = np.searchsorted(hi, hi, "left")
        owner = np.array([-1, *owners], np.int64)
        return cls(hi, lo, owner, first_of_hi, family == 4 or bool(lo.any()), family == 6)

    def find(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        if not self.hi_matters:
            count = _count_at_or_below(self.lo, lo)
        elif self.lo_matters:
            count = self._settle_ties(_count_at_or_below(self.hi, hi), hi, lo)
        else:  # every start is on a /64 boundary
            count = _count_at_or_below(self.hi, hi)
        return self.owner[count]

    def _settle_ties(self, count: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Step back over starts that share the key's hi but lie above its lo."""
        candidate = np.maximum(count - 1, 0)
        rows = np.flatnonzero((count > 0) & (self.hi[candidate] == hi) & (self.lo[candidate] > lo))
        if not len(rows):
            return count
        low = self.tie_start[candidate[rows]]
        high = candidate[rows]  # the answer count lies in [low, high]
        key = lo[rows]
        while True:
            open_rows = low < high
            if not open_rows.any():
                break
            mid = (low + high) // 2
            below = self.lo[mid] <= key
            low = np.where(open_rows & below, mid + 1, low)
            high = np.where(open_rows & ~below, mid, high)
        count = count.copy()
        count[rows] = low
        return count


def _count_at_or_below(starts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.searchsorted(starts, keys, "right")``, searching the keys in nearly ascending order.

    A binary search over random keys is dominated by branch mispredictions;
    sorting the keys by their top bits, packed with their position in the low
    bits so one plain sort suffices, costs less than that saves.
    """
    if len(keys) < _SORTED_SEARCH_FROM:
        return np.searchsorted(starts, keys, "right")
    bits = _U64((len(keys) - 1).bit_length())
    packed = ((keys >> bits) << bits) | np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    order = (packed & ((_U64(1) << bits) - _U64(1))).astype(np.intp)
    count = np.empty(len(keys), np.intp)
    count[order] = np.searchsorted(starts, keys[order], "right")
    return count


class PrefixTable:
    """Many prefixes with one value each, for enrichment (tenant, region, site) of address columns.

    ``lookup`` returns, per row, the index of the longest (most specific)
    matching prefix, or -1; ``values_of`` returns the matching values.
    """

    def __init__(self, prefixes: Sequence[Prefix], values: Sequence[object]) -> None:
        if len(prefixes) != len(values):
            raise ValueError(f"{len(prefixes)} prefixes but {len(values)} values; give one value per prefix")
        seen: dict[Prefix, int] = {}
        per_family: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        for index, prefix in enumerate(prefixes):
            if prefix in seen:
                raise PrefixValueError(str(prefix), f"appears twice (entries {seen[prefix]} and {index})")
            seen[prefix] = index
            per_family[prefix.version].append((prefix.network, prefix.length, index))
        self.prefixes: tuple[Prefix, ...] = tuple(prefixes)
        self.values: np.ndarray = np.empty(len(values), dtype=object)
        self.values[:] = list(values)
        self._tables = {family: _Intervals.build(family, items) for family, items in per_family.items()}

    @classmethod
    def from_prefixes(cls, prefixes: Iterable[Prefix | str], values: Iterable[object]) -> PrefixTable:
        """Prefixes as ``Prefix`` or text (``Prefix.parse``: host bits must be zero)."""
        parsed = []
        for index, item in enumerate(prefixes):
            if isinstance(item, Prefix):
                parsed.append(item)
                continue
            try:
                parsed.append(Prefix.parse(item))
            except (AddressValueError, PrefixValueError) as exc:
                raise ValueError(f"prefix {index} ({item!r}): {exc}") from exc
        return cls(parsed, list(values))

    @classmethod
    def from_csv(cls, path: str | Path) -> PrefixTable:
        """A CSV file with a header and columns ``prefix`` and ``label`` (other columns ignored)."""
        path = Path(path)
        try:
            table = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(column_types={"prefix": pa.string(), "label": pa.string()})
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{path}: cannot read as CSV: {exc}") from exc
        missing = {"prefix", "label"} - set(table.column_names)
        if missing:
            raise ValueError(f"{path}: needs columns 'prefix' and 'label'; missing {sorted(missing)}, found {table.column_names}")
        parsed = []
        for row, text in enumerate(table.column("prefix").to_pylist()):
            line = row + 2  # 1-based, after the header
            if text is None:
                raise ValueError(f"{path} line {line}: the prefix is empty")
            try:
                parsed.append(Prefix.parse(text.strip()))
            except (AddressValueError, PrefixValueError) as exc:
                raise ValueError(f"{path} line {line}: prefix {text!r}: {exc}") from exc
        return cls(parsed, table.column("label").to_pylist())

    def __len__(self) -> int:
        return len(self.prefixes)

    def lookup(self, column: AddressColumn) -> np.ndarray:
        """Per row, the index into ``prefixes`` of the longest matching prefix; -1 if none or invalid."""
        out = np.empty(len(column), np.int64)

        def find(first: int, stop: int) -> None:
            out[first:stop] = self._find(column.family[first:stop], column.hi[first:stop], column.lo[first:stop])

        for_each_block(len(column), _BLOCK_ROWS, find)
        return out

    def _find(self, family: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        out = np.full(len(family), -1, np.int64)
        for version, table in self._tables.items():
            if not len(table.hi):
                continue
            rows = np.flatnonzero(family == version)
            if len(rows) == len(family):
                return table.find(hi, lo)
            if len(rows):
                out[rows] = table.find(hi.take(rows), lo.take(rows))
        return out

    def values_of(self, column: AddressColumn) -> pa.Array:
        """Per row, the value of the longest matching prefix, or null."""
        index = self.lookup(column)
        found = index >= 0
        out = np.full(len(index), None, dtype=object)
        out[found] = self.values[index[found]]
        return pa.array(out)
