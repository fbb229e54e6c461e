"""Our own copy of the IANA Special-Purpose Address Registries (RFC 6890 and updates).

Python 3.11's ``ipaddress.is_private``/``is_global`` use outdated tables (no
3fff::/20, 5f00::/16, 64:ff9b:1::/48 ...), so classification never relies on them.
Rows come from iana-ipv4-special-registry and iana-ipv6-special-registry (as of
2025); rows marked ``registry="address-space"`` come from the IPv4/IPv6 address
space registries (multicast, global unicast, site-local, reserved 240/4) so that
every address gets a kind. Flags: True/False, or None where IANA says N/A.
"""

from __future__ import annotations

from dataclasses import dataclass

from v6ops.addr.address import Address, Prefix

SPECIAL = "iana-special-purpose"
SPACE = "address-space"


@dataclass(frozen=True)
class RegistryRow:
    name: str
    prefix: Prefix
    rfc: str
    kind: str  # short label used in reports: ula, link-local, nat64, documentation, ...
    source: bool | None
    destination: bool | None
    forwardable: bool | None
    globally_reachable: bool | None
    reserved_by_protocol: bool | None
    registry: str = SPECIAL

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "prefix": str(self.prefix),
            "rfc": self.rfc,
            "kind": self.kind,
            "registry": self.registry,
            "source": self.source,
            "destination": self.destination,
            "forwardable": self.forwardable,
            "globally_reachable": self.globally_reachable,
            "reserved_by_protocol": self.reserved_by_protocol,
        }


T, F, NA = True, False, None


def _row(prefix: str, name: str, rfc: str, kind: str, src: bool | None, dst: bool | None,
         fwd: bool | None, glob: bool | None, rbp: bool | None, registry: str = SPECIAL) -> RegistryRow:
    return RegistryRow(name, Prefix.parse(prefix), rfc, kind, src, dst, fwd, glob, rbp, registry)


IPV4_ROWS: tuple[RegistryRow, ...] = (
    _row("0.0.0.0/8", '"This network"', "RFC 791 section 3.2", "this-network", T, F, F, F, T),
    _row("0.0.0.0/32", '"This host on this network"', "RFC 1122 section 3.2.1.3", "unspecified", T, F, F, F, T),
    _row("10.0.0.0/8", "Private-Use", "RFC 1918", "private", T, T, T, F, F),
    _row("100.64.0.0/10", "Shared Address Space", "RFC 6598", "shared", T, T, T, F, F),
    _row("127.0.0.0/8", "Loopback", "RFC 1122 section 3.2.1.3", "loopback", F, F, F, F, T),
    _row("169.254.0.0/16", "Link Local", "RFC 3927", "link-local", T, T, F, F, T),
    _row("172.16.0.0/12", "Private-Use", "RFC 1918", "private", T, T, T, F, F),
    _row("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 section 2.1", "protocol-assignment", F, F, F, F, F),
    _row("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", "protocol-assignment", T, T, T, F, F),
    _row("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", "protocol-assignment", T, F, F, F, F),
    _row("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", "anycast", T, T, T, T, F),
    _row("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", "anycast", T, T, T, T, F),
    _row("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 section 2.2", "protocol-assignment", F, F, F, F, T),
    _row("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 section 2.2", "protocol-assignment", F, F, F, F, T),
    _row("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", "documentation", F, F, F, F, F),
    _row("192.31.196.0/24", "AS112-v4", "RFC 7535", "anycast", T, T, T, T, F),
    _row("192.52.193.0/24", "AMT", "RFC 7450", "anycast", T, T, T, T, F),
    _row("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", "deprecated", NA, NA, NA, NA, NA),
    _row("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", "anycast", T, T, T, F, F),
    _row("192.168.0.0/16", "Private-Use", "RFC 1918", "private", T, T, T, F, F),
    _row("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", "anycast", T, T, T, T, F),
    _row("198.18.0.0/15", "Benchmarking", "RFC 2544", "benchmarking", T, T, T, F, F),
    _row("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", "documentation", F, F, F, F, F),
    _row("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", "documentation", F, F, F, F, F),
    _row("240.0.0.0/4", "Reserved", "RFC 1112 section 4", "reserved", F, F, F, F, T),
    _row("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 section 7", "broadcast", F, T, F, F, T),
    _row("224.0.0.0/4", "Multicast", "RFC 5771", "multicast", F, T, T, NA, F, SPACE),
)

IPV6_ROWS: tuple[RegistryRow, ...] = (
    _row("::1/128", "Loopback Address", "RFC 4291", "loopback", F, F, F, F, T),
    _row("::/128", "Unspecified Address", "RFC 4291", "unspecified", T, F, F, F, T),
    _row("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", "ipv4-mapped", F, F, F, F, T),
    _row("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", "nat64", T, T, T, T, F),
    _row("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", "nat64", T, T, T, F, F),
    _row("100::/64", "Discard-Only Address Block", "RFC 6666", "discard", T, T, T, F, F),
    _row("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", "dummy", T, F, F, F, F),
    _row("2001::/23", "IETF Protocol Assignments", "RFC 2928", "protocol-assignment", F, F, F, F, F),
    _row("2001::/32", "TEREDO", "RFC 4380, RFC 8190", "teredo", T, T, T, NA, F),
    _row("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", "anycast", T, T, T, T, F),
    _row("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", "anycast", T, T, T, T, F),
    _row("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", "anycast", T, T, T, T, F),
    _row("2001:2::/48", "Benchmarking", "RFC 5180, RFC Errata 1752", "benchmarking", T, T, T, F, F),
    _row("2001:3::/32", "AMT", "RFC 7450", "anycast", T, T, T, T, F),
    _row("2001:4:112::/48", "AS112-v6", "RFC 7535", "anycast", T, T, T, T, F),
    _row("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", "deprecated", NA, NA, NA, NA, NA),
    _row("2001:20::/28", "ORCHIDv2", "RFC 7343", "orchid", T, T, T, T, F),
    _row("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", "orchid", T, T, T, T, F),
    _row("2001:db8::/32", "Documentation", "RFC 3849", "documentation", F, F, F, F, F),
    _row("2002::/16", "6to4", "RFC 3056", "6to4", T, T, T, NA, F),
    _row("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", "anycast", T, T, T, T, F),
    _row("3fff::/20", "Documentation", "RFC 9637", "documentation", F, F, F, F, F),
    _row("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", "srv6", T, T, T, F, F),
    _row("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", "ula", T, T, T, F, F),
    _row("fe80::/10", "Link-Local Unicast", "RFC 4291", "link-local", T, T, F, F, T),
    _row("2000::/3", "Global Unicast", "RFC 4291 section 2.4", "global", NA, NA, NA, NA, F, SPACE),
    _row("fec0::/10", "Site-Local (deprecated)", "RFC 3879", "deprecated", NA, NA, NA, NA, NA, SPACE),
    _row("ff00::/8", "Multicast", "RFC 4291 section 2.7", "multicast", F, T, NA, NA, F, SPACE),
)

ROWS: dict[int, tuple[RegistryRow, ...]] = {4: IPV4_ROWS, 6: IPV6_ROWS}

# RFC 4291 2.7 and RFC 7346 section 2: the scope nibble of a multicast address.
MULTICAST_SCOPES = {
    0x0: "reserved", 0x1: "interface-local", 0x2: "link-local", 0x3: "realm-local",
    0x4: "admin-local", 0x5: "site-local", 0x8: "organization-local", 0xE: "global", 0xF: "reserved",
}

# The kind of an address no row matches (see address_kind).
UNMATCHED_KIND = {4: "global", 6: "reserved"}


def classify(item: Address | Prefix) -> list[RegistryRow]:
    """Every registry row that contains ``item``, least specific first."""
    target = item if isinstance(item, Prefix) else item.as_prefix()
    rows = [r for r in ROWS[target.version] if r.prefix.contains(target)]
    return sorted(rows, key=lambda r: r.prefix.length)


def overlapping(prefix: Prefix) -> list[RegistryRow]:
    """Rows strictly inside ``prefix`` (a /16 that covers Teredo, say)."""
    return [r for r in ROWS[prefix.version] if prefix.contains(r.prefix) and r.prefix != prefix]


def address_kind(item: Address | Prefix) -> str:
    """One label for reports: the kind of the most specific matching row.

    IPv4 outside every special row is globally routed unicast; IPv6 outside
    2000::/3 and every special row is still unassigned by IANA (RFC 4291 2.4).
    """
    rows = classify(item)
    return rows[-1].kind if rows else UNMATCHED_KIND[item.version]


def multicast_scope(address: Address) -> str | None:
    if address.version == 6 and address.value >> 120 == 0xFF:
        return MULTICAST_SCOPES.get((address.value >> 112) & 0xF, "unassigned")
    return None
