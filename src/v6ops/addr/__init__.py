"""The address core: parse, RFC 5952 text, special-purpose registries, prefix math.

Depends on nothing else in v6ops.
"""

from v6ops.addr.address import Address, Prefix, collapse, parse, summarize_range
from v6ops.addr.embedded import EmbeddedIPv4, embedded_ipv4, nat64_extract
from v6ops.addr.errors import AddressValueError, PrefixValueError
from v6ops.addr.explain import explain
from v6ops.addr.registry import RegistryRow, address_kind, classify, multicast_scope
from v6ops.addr.text import format_address, format_ipv4, format_ipv6

__all__ = [
    "Address",
    "AddressValueError",
    "EmbeddedIPv4",
    "Prefix",
    "PrefixValueError",
    "RegistryRow",
    "address_kind",
    "classify",
    "collapse",
    "embedded_ipv4",
    "explain",
    "format_address",
    "format_ipv4",
    "format_ipv6",
    "multicast_scope",
    "nat64_extract",
    "parse",
    "summarize_range",
]
