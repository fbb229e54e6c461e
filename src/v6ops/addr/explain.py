"""One answer to "what is this address?": the object `v6ops addr explain` and
`GET /api/v1/addresses/{text}` both return."""

from __future__ import annotations

from typing import Any

from v6ops.addr.address import Address, Prefix, parse
from v6ops.addr.embedded import embedded_ipv4
from v6ops.addr.registry import address_kind, classify, multicast_scope, overlapping


def explain(text: str) -> dict[str, Any]:
    """Raise AddressValueError/PrefixValueError for bad text; zone IDs are allowed."""
    item = parse(text, allow_zone=True)
    prefix = item if isinstance(item, Prefix) else item.as_prefix()
    address = item.first if isinstance(item, Prefix) else item
    embedded = embedded_ipv4(address) if isinstance(item, Address) else None
    return {
        "input": text,
        "canonical": str(item),
        "type": "prefix" if isinstance(item, Prefix) else "address",
        "family": item.version,
        "prefix_length": prefix.length,
        "zone": item.zone if isinstance(item, Address) else None,
        "kind": address_kind(item),
        "classes": [row.as_dict() for row in classify(item)],
        "contains_classes": [row.as_dict() for row in overlapping(item)] if isinstance(item, Prefix) else [],
        "multicast_scope": multicast_scope(address),
        "embedded_ipv4": None
        if embedded is None
        else {
            "address": str(embedded.address),
            "mechanism": embedded.mechanism,
            "rfc": embedded.rfc,
            "teredo_server": str(embedded.teredo_server) if embedded.teredo_server else None,
        },
        "reverse_name": prefix.reverse_name if prefix.is_reverse_boundary else None,
        "first": str(prefix.first),
        "last": str(prefix.last),
        "num_addresses": str(prefix.num_addresses),
    }
