"""Address columns of the flow table, built with the vector address ops of ``v6ops.addr.vector``.

Each distinct text is parsed once (flow logs repeat the same few addresses millions of times), then
expanded back to the rows. IPv4-mapped addresses are unmapped here, before anything is counted, so
an IPv4 peer written as ``::ffff:a.b.c.d`` counts as IPv4 (see docs/flows.md, "Counting rules").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from v6ops.addr import vector
from v6ops.flows.schema import TRAFFIC_IPV4, TRAFFIC_IPV6, TRAFFIC_NAT64

_KIND_TYPE = pa.dictionary(pa.int8(), pa.string())


@dataclass(frozen=True)
class Endpoints:
    """One side (source or destination) of every row: family, 128-bit value halves, kind."""

    family: pa.Array
    hi: pa.Array
    lo: pa.Array
    kind: pa.Array
    invalid: np.ndarray  # text present but not an address

    def columns(self, side: str) -> dict[str, pa.Array]:
        return {
            f"{side}_family": self.family,
            f"{side}_hi": self.hi,
            f"{side}_lo": self.lo,
            f"{side}_kind": self.kind,
        }

    def filter(self, keep: pa.Array) -> Endpoints:
        mask = keep.to_numpy(zero_copy_only=False)
        return Endpoints(
            self.family.filter(keep), self.hi.filter(keep), self.lo.filter(keep), self.kind.filter(keep),
            self.invalid[mask],
        )


def endpoints(text: pa.Array) -> Endpoints:
    """Parse a column of address text (nulls allowed, dictionary-encoded or plain).

    Each distinct text is parsed and classified once, then expanded with ``take``: flow columns
    repeat addresses, and classification (a longest-prefix match) costs more than the encoding.
    """
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if not pa.types.is_dictionary(text.type):
        text = pc.dictionary_encode(text)
    return _columns(vector.unmap_ipv4(vector.parse_addresses(text.dictionary.cast(pa.string()))), text.indices)


def _columns(parsed: vector.AddressColumn, indices: pa.Array) -> Endpoints:
    missing = ~parsed.valid
    columns = [
        pa.array(parsed.family, mask=missing), pa.array(parsed.hi, mask=missing), pa.array(parsed.lo, mask=missing),
        vector.address_kinds(parsed), pa.array(parsed.invalid),
    ]
    columns = [pc.take(c, indices) for c in columns]
    family, hi, lo, kind, invalid = columns
    return Endpoints(
        family=family, hi=hi, lo=lo, kind=kind.cast(_KIND_TYPE),
        invalid=pc.fill_null(invalid, False).to_numpy(zero_copy_only=False),
    )


def traffic_class(family: pa.Array, src: Endpoints, dst: Endpoints) -> pa.Array:
    """ipv4, ipv6, or nat64 (IPv6 on the wire to or from a NAT64 prefix, RFC 6052 / RFC 8215)."""
    return class_of(family, pc.or_(is_nat64(src.kind), is_nat64(dst.kind)))


def is_nat64(kind: pa.Array) -> pa.Array:
    """Kind column -> true where the address is in a NAT64 prefix (never null)."""
    if pa.types.is_dictionary(kind.type):
        return pc.fill_null(pc.take(pc.equal(kind.dictionary, "nat64"), kind.indices), False)
    return pc.fill_null(pc.equal(kind, "nat64"), False)


_CLASSES = pa.array([TRAFFIC_IPV4, TRAFFIC_IPV6, TRAFFIC_NAT64], pa.string())


def class_of(family: pa.Array, nat64: pa.Array) -> pa.Array:
    """The traffic class of rows of a family (4, 6 or null) that do or do not touch a NAT64 prefix."""
    fam = pc.fill_null(family, 0).to_numpy(zero_copy_only=False)
    codes = np.where(fam == 6, np.where(nat64.to_numpy(zero_copy_only=False), 2, 1), 0).astype(np.int8)
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=(fam != 4) & (fam != 6)), _CLASSES)


def prefix_text(family: pa.Array, hi: pa.Array, lo: pa.Array, length4: int, length6: int) -> list[str | None]:
    """Canonical text of addresses (lengths 32/128) or of the prefixes they fall in."""
    column = vector.from_parts(family, hi, lo)
    if (length4, length6) != (32, 128):
        column = vector.truncate(column, length4, length6)
    text = vector.format_addresses(column).to_pylist()
    fam = family.to_pylist()
    return [
        None if t is None else (t if (length4, length6) == (32, 128) else f"{t}/{length4 if f == 4 else length6}")
        for t, f in zip(text, fam, strict=True)
    ]
