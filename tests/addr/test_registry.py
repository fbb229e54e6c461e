"""One test per registry row, from a table written by hand from the IANA registries."""

from __future__ import annotations

import pytest

from v6ops.addr import Address, Prefix, address_kind, classify, multicast_scope
from v6ops.addr.registry import ROWS

# prefix -> (an address inside, expected kind, expected rfc, (src, dst, fwd, global, reserved))
T, F, N = True, False, None
EXPECTED = {
    "0.0.0.0/8": ("0.1.2.3", "this-network", "RFC 791 section 3.2", (T, F, F, F, T)),
    "0.0.0.0/32": ("0.0.0.0", "unspecified", "RFC 1122 section 3.2.1.3", (T, F, F, F, T)),
    "10.0.0.0/8": ("10.255.0.1", "private", "RFC 1918", (T, T, T, F, F)),
    "100.64.0.0/10": ("100.127.255.255", "shared", "RFC 6598", (T, T, T, F, F)),
    "127.0.0.0/8": ("127.0.0.1", "loopback", "RFC 1122 section 3.2.1.3", (F, F, F, F, T)),
    "169.254.0.0/16": ("169.254.169.254", "link-local", "RFC 3927", (T, T, F, F, T)),
    "172.16.0.0/12": ("172.31.0.1", "private", "RFC 1918", (T, T, T, F, F)),
    "192.0.0.0/24": ("192.0.0.100", "protocol-assignment", "RFC 6890 section 2.1", (F, F, F, F, F)),
    "192.0.0.0/29": ("192.0.0.1", "protocol-assignment", "RFC 7335", (T, T, T, F, F)),
    "192.0.0.8/32": ("192.0.0.8", "protocol-assignment", "RFC 7600", (T, F, F, F, F)),
    "192.0.0.9/32": ("192.0.0.9", "anycast", "RFC 7723", (T, T, T, T, F)),
    "192.0.0.10/32": ("192.0.0.10", "anycast", "RFC 8155", (T, T, T, T, F)),
    "192.0.0.170/32": ("192.0.0.170", "protocol-assignment", "RFC 8880, RFC 7050 section 2.2", (F, F, F, F, T)),
    "192.0.0.171/32": ("192.0.0.171", "protocol-assignment", "RFC 8880, RFC 7050 section 2.2", (F, F, F, F, T)),
    "192.0.2.0/24": ("192.0.2.1", "documentation", "RFC 5737", (F, F, F, F, F)),
    "192.31.196.0/24": ("192.31.196.1", "anycast", "RFC 7535", (T, T, T, T, F)),
    "192.52.193.0/24": ("192.52.193.1", "anycast", "RFC 7450", (T, T, T, T, F)),
    "192.88.99.0/24": ("192.88.99.1", "deprecated", "RFC 7526", (N, N, N, N, N)),
    "192.88.99.2/32": ("192.88.99.2", "anycast", "RFC 6751", (T, T, T, F, F)),
    "192.168.0.0/16": ("192.168.1.1", "private", "RFC 1918", (T, T, T, F, F)),
    "192.175.48.0/24": ("192.175.48.6", "anycast", "RFC 7534", (T, T, T, T, F)),
    "198.18.0.0/15": ("198.19.255.255", "benchmarking", "RFC 2544", (T, T, T, F, F)),
    "198.51.100.0/24": ("198.51.100.7", "documentation", "RFC 5737", (F, F, F, F, F)),
    "203.0.113.0/24": ("203.0.113.9", "documentation", "RFC 5737", (F, F, F, F, F)),
    "240.0.0.0/4": ("250.1.1.1", "reserved", "RFC 1112 section 4", (F, F, F, F, T)),
    "255.255.255.255/32": ("255.255.255.255", "broadcast", "RFC 8190, RFC 919 section 7", (F, T, F, F, T)),
    "224.0.0.0/4": ("239.1.1.1", "multicast", "RFC 5771", (F, T, T, N, F)),
    "::1/128": ("::1", "loopback", "RFC 4291", (F, F, F, F, T)),
    "::/128": ("::", "unspecified", "RFC 4291", (T, F, F, F, T)),
    "::ffff:0.0.0.0/96": ("::ffff:10.0.0.1", "ipv4-mapped", "RFC 4291", (F, F, F, F, T)),
    "64:ff9b::/96": ("64:ff9b::8.8.8.8", "nat64", "RFC 6052", (T, T, T, T, F)),
    "64:ff9b:1::/48": ("64:ff9b:1:ffff::1", "nat64", "RFC 8215", (T, T, T, F, F)),
    "100::/64": ("100::ffff", "discard", "RFC 6666", (T, T, T, F, F)),
    "100:0:0:1::/64": ("100:0:0:1::1", "dummy", "RFC 9780", (T, F, F, F, F)),
    "2001::/23": ("2001:100::1", "protocol-assignment", "RFC 2928", (F, F, F, F, F)),
    "2001::/32": ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo", "RFC 4380, RFC 8190", (T, T, T, N, F)),
    "2001:1::1/128": ("2001:1::1", "anycast", "RFC 7723", (T, T, T, T, F)),
    "2001:1::2/128": ("2001:1::2", "anycast", "RFC 8155", (T, T, T, T, F)),
    "2001:1::3/128": ("2001:1::3", "anycast", "RFC 9665", (T, T, T, T, F)),
    "2001:2::/48": ("2001:2:0:ffff::1", "benchmarking", "RFC 5180, RFC Errata 1752", (T, T, T, F, F)),
    "2001:3::/32": ("2001:3:1::1", "anycast", "RFC 7450", (T, T, T, T, F)),
    "2001:4:112::/48": ("2001:4:112::1", "anycast", "RFC 7535", (T, T, T, T, F)),
    "2001:10::/28": ("2001:10::1", "deprecated", "RFC 4843", (N, N, N, N, N)),
    "2001:20::/28": ("2001:2f::1", "orchid", "RFC 7343", (T, T, T, T, F)),
    "2001:30::/28": ("2001:30::1", "orchid", "RFC 9374", (T, T, T, T, F)),
    "2001:db8::/32": ("2001:db8:ffff::1", "documentation", "RFC 3849", (F, F, F, F, F)),
    "2002::/16": ("2002:c000:204::1", "6to4", "RFC 3056", (T, T, T, N, F)),
    "2620:4f:8000::/48": ("2620:4f:8000::42", "anycast", "RFC 7534", (T, T, T, T, F)),
    "3fff::/20": ("3fff:fff::1", "documentation", "RFC 9637", (F, F, F, F, F)),
    "5f00::/16": ("5f00:1::", "srv6", "RFC 9602", (T, T, T, F, F)),
    "fc00::/7": ("fd12:3456:789a::1", "ula", "RFC 4193, RFC 8190", (T, T, T, F, F)),
    "fe80::/10": ("febf::1", "link-local", "RFC 4291", (T, T, F, F, T)),
    "2000::/3": ("2a00:1450::1", "global", "RFC 4291 section 2.4", (N, N, N, N, F)),
    "fec0::/10": ("fec0::1", "deprecated", "RFC 3879", (N, N, N, N, N)),
    "ff00::/8": ("ff02::1", "multicast", "RFC 4291 section 2.7", (F, T, N, N, F)),
}
ALL_ROWS = [row for rows in ROWS.values() for row in rows]


def test_every_row_has_a_hand_written_expectation() -> None:
    assert sorted(str(r.prefix) for r in ALL_ROWS) == sorted(EXPECTED)


@pytest.mark.parametrize("row", ALL_ROWS, ids=lambda r: str(r.prefix))
def test_registry_row(row) -> None:  # type: ignore[no-untyped-def]
    sample, kind, rfc, flags = EXPECTED[str(row.prefix)]
    address = Address.parse(sample)
    matches = classify(address)
    assert row in matches
    assert row.rfc == rfc and row.kind == kind
    assert (row.source, row.destination, row.forwardable, row.globally_reachable, row.reserved_by_protocol) == flags
    # The row covers its first and last address and nothing just outside.
    assert row in classify(row.prefix.first) and row in classify(row.prefix.last)
    if row.prefix.network > 0:
        assert row not in classify(row.prefix.first - 1)
    if row.prefix.broadcast < (1 << row.prefix.width) - 1:
        assert row not in classify(row.prefix.last + 1)
    assert row in classify(row.prefix)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("fd00::1", "ula"),  # the seed's startswith('fc00:') misses fd00::/8
        ("fdff:ffff::1", "ula"),
        ("3fff::1", "documentation"),  # missing from Python 3.11's tables
        ("5f00::1", "srv6"),
        ("64:ff9b:1::a", "nat64"),
        ("2600::1", "global"),
        ("8.8.8.8", "global"),
        ("4000::1", "reserved"),  # outside 2000::/3: not assigned by IANA
        ("2001:db8::/48", "documentation"),
        ("100.64.0.0/10", "shared"),
        ("192.0.0.9", "anycast"),  # most specific row wins over 192.0.0.0/24
    ],
)
def test_address_kind_uses_the_most_specific_row(text: str, kind: str) -> None:
    item = Prefix.parse(text) if "/" in text else Address.parse(text)
    assert address_kind(item) == kind


@pytest.mark.parametrize(
    ("text", "scope"),
    [("ff01::1", "interface-local"), ("ff02::1", "link-local"), ("ff03::1", "realm-local"),
     ("ff04::1", "admin-local"), ("ff05::2", "site-local"), ("ff08::1", "organization-local"),
     ("ff0e::1", "global"), ("ff1e::1", "global"), ("ff00::1", "reserved"), ("ff06::1", "unassigned"),
     ("2001:db8::1", None), ("224.0.0.1", None)],
)
def test_multicast_scope_rfc7346(text: str, scope: str | None) -> None:
    assert multicast_scope(Address.parse(text)) == scope
