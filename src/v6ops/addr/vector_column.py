"""``AddressColumn``: many addresses as numpy arrays, the unit the vector ops work on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from v6ops.addr.address import Address
from v6ops.addr.errors import AddressValueError


@dataclass(frozen=True, eq=False)
class AddressColumn:
    """Row ``i`` is the address ``(hi[i] << 64) | lo[i]`` of family ``family[i]``.

    IPv4 addresses keep their 32-bit value in ``lo`` with ``hi`` = 0, so one
    (family, hi, lo) triple is a grouping key for both families. ``family`` is 0
    and ``valid`` False where the input was null (``null`` True) or not an
    address; ``source`` keeps the input text so ``errors()`` can say why.
    """

    family: np.ndarray  # uint8: 4, 6, or 0
    hi: np.ndarray  # uint64
    lo: np.ndarray  # uint64
    valid: np.ndarray  # bool
    null: np.ndarray  # bool: the input row was null (missing), not wrong
    source: pa.Array | pa.ChunkedArray | None = None

    def __len__(self) -> int:
        return len(self.family)

    @property
    def invalid(self) -> np.ndarray:
        """Rows that had text which is not an address (nulls excluded)."""
        return ~self.valid & ~self.null

    def errors(self) -> pa.StringArray:
        """Per row: why its text is not an address, or null (valid or missing rows).

        Computed on demand with the scalar parser, once per distinct bad text,
        so the reasons are word for word those of ``Address.parse``.
        """
        bad = self.invalid
        if not bad.any():
            return pa.nulls(len(self), pa.string())
        reasons, which = self._bad_texts(bad)
        per_bad_row = pa.array(reasons, pa.string()).take(pa.array(which))
        return pc.replace_with_mask(pa.nulls(len(self), pa.string()), pa.array(bad), per_bad_row)

    def error_counts(self) -> Counter[str]:
        """How many rows were rejected for each reason."""
        bad = self.invalid
        if not bad.any():
            return Counter()
        reasons, which = self._bad_texts(bad)
        counts: Counter[str] = Counter()
        for reason, count in zip(reasons, np.bincount(which, minlength=len(reasons)).tolist(), strict=True):
            counts[reason] += count
        return counts

    def _bad_texts(self, bad: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The reason for each distinct bad text, and per bad row the index of its text."""
        if self.source is None:
            return ["not a valid IPv4 or IPv6 address"], np.zeros(int(bad.sum()), np.intp)
        texts = pc.dictionary_encode(self.source.filter(pa.array(bad)))
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.unify_dictionaries().combine_chunks()
        reasons = [_reason(text) for text in texts.dictionary.to_pylist()]
        return reasons, texts.indices.to_numpy(zero_copy_only=False).astype(np.intp)

    def to_arrow(self) -> pa.Table:
        """family/hi/lo columns, null where the row is not a valid address."""
        mask = ~self.valid
        return pa.table({
            "family": pa.array(self.family, mask=mask),
            "hi": pa.array(self.hi, mask=mask),
            "lo": pa.array(self.lo, mask=mask),
        })


def _reason(text: str) -> str:
    try:
        Address.parse(text)
    except AddressValueError as exc:
        return exc.reason
    raise AssertionError(f"the vector parser rejected {text!r}, which Address.parse accepts")
