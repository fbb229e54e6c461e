"""RFC 6724 section 6: the order in which to try a host's destination addresses.

Happy Eyeballs (RFC 8305 section 4) sorts the candidates with these rules before it
interleaves the families. The source address each destination would use comes from the
kernel (a UDP ``connect()`` sends nothing and returns the route's source, as glibc's
``getaddrinfo`` does); tests pass their own ``source_for``.
"""

from __future__ import annotations

import errno
import functools
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from v6ops.addr import Address, Prefix

SourceLookup = Callable[[Address], Address | None]


@dataclass(frozen=True)
class PolicyRow:
    prefix: Prefix
    precedence: int
    label: int


# RFC 6724 section 2.1, the default policy table. IPv4 addresses are looked up as
# IPv4-mapped IPv6 addresses (section 2.1: "::ffff:0:0/96 ... IPv4-mapped").
POLICY_TABLE: tuple[PolicyRow, ...] = tuple(
    PolicyRow(Prefix.parse(p), precedence, label)
    for p, precedence, label in (
        ("::1/128", 50, 0),
        ("::/0", 40, 1),
        ("::ffff:0:0/96", 35, 4),
        ("2002::/16", 30, 2),
        ("2001::/32", 5, 5),
        ("fc00::/7", 3, 13),
        ("::/96", 1, 3),
        ("fec0::/10", 1, 11),
        ("3ffe::/16", 1, 12),
    )
)
# Longest prefix first, so the first containing row is the longest match.
_BY_LENGTH = sorted(POLICY_TABLE, key=lambda row: -row.prefix.length)

_MAPPED_BASE = 0xFFFF << 32
_LINK_LOCAL_V6 = Prefix.parse("fe80::/10")
_SITE_LOCAL_V6 = Prefix.parse("fec0::/10")
_LOOPBACK_V4 = Prefix.parse("127.0.0.0/8")
_LINK_LOCAL_V4 = Prefix.parse("169.254.0.0/16")

# RFC 4007 / RFC 6724 section 3.1 scope values.
SCOPE_LINK = 0x2
SCOPE_SITE = 0x5
SCOPE_GLOBAL = 0xE


def as_v6(address: Address) -> Address:
    """IPv4 addresses as IPv4-mapped IPv6 (RFC 6724 section 2.1), IPv6 unchanged."""
    return Address(6, _MAPPED_BASE | address.value) if address.version == 4 else address


def policy(address: Address) -> PolicyRow:
    mapped = as_v6(address)
    for row in _BY_LENGTH:
        if row.prefix.contains(mapped):
            return row
    raise AssertionError("::/0 matches every address")  # pragma: no cover


def scope(address: Address) -> int:
    """RFC 6724 section 3.1 (IPv6) and 3.2 (IPv4: loopback and 169.254/16 are link-local)."""
    if address.version == 4:
        if _LOOPBACK_V4.contains(address) or _LINK_LOCAL_V4.contains(address):
            return SCOPE_LINK
        return SCOPE_GLOBAL
    if address.value >> 120 == 0xFF:
        return (address.value >> 112) & 0xF  # RFC 4291 section 2.7: the scop field
    if address.value == 1 or _LINK_LOCAL_V6.contains(address):
        return SCOPE_LINK  # section 3.1: the loopback address is treated as link-local
    if _SITE_LOCAL_V6.contains(address):
        return SCOPE_SITE
    return SCOPE_GLOBAL


def common_prefix_length(a: Address, b: Address) -> int:
    """Leading bits in common, up to the 64-bit prefix length (RFC 6724 section 2.2, CommonPrefixLen)."""
    if a.version != b.version:
        return 0
    diff = a.value ^ b.value
    width = 128 if a.version == 6 else 32
    length = width - diff.bit_length()
    return min(length, 64) if a.version == 6 else length


def kernel_source(destination: Address) -> Address | None:
    """The source address the kernel would pick for ``destination``, or None when there is no route."""
    family = socket.AF_INET6 if destination.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            if destination.version == 6:
                scope_id = _scope_id(destination.zone)
                sock.connect((str(Address(6, destination.value)), 9, 0, scope_id))
            else:
                sock.connect((str(destination), 9))
        except OSError as exc:
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EINVAL, errno.EAFNOSUPPORT):
                return None
            raise
        host = sock.getsockname()[0]
    return Address.parse(host.split("%", 1)[0])


def _scope_id(zone: str | None) -> int:
    if not zone:
        return 0
    return int(zone) if zone.isdigit() else socket.if_nametoindex(zone)


@dataclass(frozen=True)
class _Facts:
    address: Address
    source: Address | None
    scope: int
    source_scope: int
    label: int
    source_label: int
    precedence: int


def _facts(address: Address, source_for: SourceLookup) -> _Facts:
    source = source_for(address)
    row = policy(address)
    source_row = policy(source) if source is not None else None
    return _Facts(
        address=address,
        source=source,
        scope=scope(address),
        source_scope=scope(source) if source is not None else -1,
        label=row.label,
        source_label=source_row.label if source_row else -1,
        precedence=row.precedence,
    )


def _compare(a: _Facts, b: _Facts) -> int:
    """Negative when ``a`` is preferred (RFC 6724 section 6, rules 1-10)."""
    # Rule 1: avoid unusable destinations.
    if (a.source is None) != (b.source is None):
        return 1 if a.source is None else -1
    # Rule 2: prefer matching scope.
    a_match, b_match = a.scope == a.source_scope, b.scope == b.source_scope
    if a_match != b_match:
        return -1 if a_match else 1
    # Rules 3 (deprecated source) and 4 (home address) need facts a client does not have;
    # rule 7 (native transport) is covered by the table's 6to4/Teredo labels and precedences.
    # Rule 5: prefer matching label.
    a_label, b_label = a.label == a.source_label, b.label == b.source_label
    if a_label != b_label:
        return -1 if a_label else 1
    # Rule 6: prefer higher precedence.
    if a.precedence != b.precedence:
        return -1 if a.precedence > b.precedence else 1
    # Rule 8: prefer smaller scope.
    if a.scope != b.scope:
        return -1 if a.scope < b.scope else 1
    # Rule 9: longest matching prefix, for IPv6 destinations only (as glibc and the BSDs
    # do since RFC 6724 errata: IPv4 prefix matching defeats DNS round-robin).
    if a.address.version == b.address.version == 6 and a.source is not None and b.source is not None:
        a_len = common_prefix_length(a.address, a.source)
        b_len = common_prefix_length(b.address, b.source)
        if a_len != b_len:
            return -1 if a_len > b_len else 1
    # Rule 10: otherwise leave the order unchanged (the sort is stable).
    return 0


def sort_destinations(addresses: Sequence[Address], source_for: SourceLookup = kernel_source) -> list[Address]:
    """``addresses`` in RFC 6724 section 6 order (duplicates dropped, first kept)."""
    unique = list(dict.fromkeys(addresses))
    facts = [_facts(a, source_for) for a in unique]
    facts.sort(key=functools.cmp_to_key(_compare))
    return [f.address for f in facts]
