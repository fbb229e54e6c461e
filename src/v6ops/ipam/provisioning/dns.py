"""DNS: forward zone (A and AAAA under one name), reverse zones cut where DNS can cut them, PTRs.

in-addr.arpa names have one label per octet (RFC 1035 s3.5) and ip6.arpa one per nibble (RFC 3596
s2.5), so a reverse zone can only start on an 8-bit (IPv4) or 4-bit (IPv6) boundary. A range that is not
on one is split into the zones of the next boundary below (an IPv6 /62 becomes four /64 zones, an
IPv4 /20 sixteen /24 zones). An IPv4 range smaller than a /24 gets an RFC 2317 s4 child zone named
``<first>/<len>.<c>.<b>.<a>.in-addr.arpa`` plus the NS and CNAME records its parent must hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from v6ops.addr import Address, Prefix
from v6ops.ipam.errors import IpamError
from v6ops.ipam.provisioning.inventory import Inventory

DEFAULT_TTL = 3600


class ZoneError(IpamError):
    """A zone layout that cannot hold the records (a prefix outside every zone, a name outside the zone)."""

    status = 422


@dataclass(frozen=True)
class DnsLayout:
    forward_zone: str
    nameserver: str  # FQDN of the primary, the SOA MNAME and the NS of every zone
    nameserver_addresses: tuple[str, ...] = ()  # glue, when the nameserver is inside the forward zone
    hostmaster: str = ""
    ttl: int = DEFAULT_TTL
    reverse_zones: tuple[str, ...] = ()  # explicit zones (CIDR); empty: cut from the plan's ranges


@dataclass(frozen=True, order=True)
class Record:
    zone: str
    name: str  # absolute, no trailing dot
    rtype: str
    value: str  # presentation form; names absolute with a trailing dot


@dataclass
class Zone:
    name: str
    prefix: Prefix | None  # None for the forward zone
    records: list[Record] = field(default_factory=list)
    rfc2317: bool = False


def reverse_cuts(prefix: Prefix) -> list[Prefix]:
    """The reverse zones that exactly cover ``prefix``: itself on a boundary, else the next boundary below."""
    if prefix.version == 4 and prefix.length > 24:
        return [prefix]  # RFC 2317 child zone
    unit = 8 if prefix.version == 4 else 4
    length = -(-prefix.length // unit) * unit
    return list(prefix.subnets(length)) if length != prefix.length else [prefix]


def zone_name(prefix: Prefix) -> str:
    if prefix.version == 4 and prefix.length > 24:
        parent = prefix.supernet(24).reverse_name
        return f"{(prefix.network & 255)}/{prefix.length}.{parent}"
    return prefix.reverse_name


def reverse_zone_prefixes(inventory: Inventory, layout: DnsLayout) -> list[Prefix]:
    if layout.reverse_zones:
        try:
            return [Prefix.parse(z) for z in layout.reverse_zones]
        except ValueError as exc:
            raise ZoneError(f"reverse zone: {exc}") from exc
    cuts: set[Prefix] = set()
    for r in inventory.ranges.values():
        cuts.update(reverse_cuts(r.prefix))
    return sorted(cuts)


def _zone_for(zones: list[Zone], prefix: Prefix, what: str = "") -> Zone:
    best = None
    for z in zones:
        if (z.prefix is not None and z.prefix.version == prefix.version and prefix in z.prefix
                and (best is None or best.prefix is None or z.prefix.length > best.prefix.length)):
            best = z
    if best is None:
        given = ", ".join(str(z.prefix) for z in zones if z.prefix is not None) or "none"
        raise ZoneError(f"{what or f'prefix {prefix}'} is not covered by any reverse zone (zones: {given})")
    return best


def _in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def _rfc2317_ptr_name(addr: Address, zone: Zone) -> str:
    return f"{addr.value & 255}.{zone.name}"


def build_zones(inventory: Inventory, layout: DnsLayout) -> list[Zone]:
    """Every zone with its records; raises ZoneError naming the name or prefix that has no zone."""
    fwd = Zone(layout.forward_zone, None)
    zones = [fwd] + [Zone(zone_name(p), p, rfc2317=p.version == 4 and p.length > 24)
                     for p in reverse_zone_prefixes(inventory, layout)]
    reverse = zones[1:]
    # every allocated prefix (and each range) must sit in one reverse zone
    for r in sorted(inventory.ranges.values(), key=lambda r: (r.prefix.version, r.prefix)):
        for cut in reverse_cuts(r.prefix):
            _zone_for(reverse, cut, f"range {r.prefix} (pool {r.pool!r}, {r.purpose})")
    for sub in inventory.subscribers:
        for p in (sub.ipv4, sub.ipv6_address, sub.ipv6_prefix):
            if p is not None:
                _zone_for(reverse, p, f"prefix {p} allocated to subscriber {sub.name!r}")
        if sub.status != "active" or not sub.dns_name:
            continue
        if not _in_zone(sub.dns_name, layout.forward_zone):
            raise ZoneError(f"DNS name {sub.dns_name!r} of subscriber {sub.name!r} is not in the forward zone "
                            f"{layout.forward_zone!r}")
        for addr, rtype in ((sub.ipv4_host, "A"), (sub.ipv6_host, "AAAA")):
            if addr is None:
                continue
            fwd.records.append(Record(fwd.name, sub.dns_name, rtype, str(addr)))
            rz = _zone_for(reverse, addr.as_prefix())
            owner = _rfc2317_ptr_name(addr, rz) if rz.rfc2317 else addr.reverse_name
            rz.records.append(Record(rz.name, owner, "PTR", sub.dns_name + "."))
    if _in_zone(layout.nameserver, layout.forward_zone):
        if not layout.nameserver_addresses:
            raise ZoneError(f"nameserver {layout.nameserver!r} is inside {layout.forward_zone!r}: give its addresses")
        for a in layout.nameserver_addresses:
            addr = Address.parse(a)
            fwd.records.append(Record(fwd.name, layout.nameserver, "A" if addr.version == 4 else "AAAA", str(addr)))
    return zones


def subscriber_records(zones: list[Zone]) -> set[Record]:
    """The records ``sync dns`` manages: A/AAAA/PTR, not SOA/NS/glue of the nameserver."""
    return {r for z in zones for r in z.records if r.rtype in ("A", "AAAA", "PTR")}


def zone_file(zone: Zone, layout: DnsLayout, serial: int, header: str) -> str:
    """An RFC 1035 s5 master file with $ORIGIN, $TTL, SOA and NS."""
    hostmaster = layout.hostmaster or f"hostmaster.{layout.forward_zone}"
    lines = [header.replace("#", ";"), f"$ORIGIN {zone.name}.", f"$TTL {layout.ttl}",
             f"@\tIN\tSOA\t{layout.nameserver}. {hostmaster.replace('@', '.')}. "
             f"( {serial} 3600 900 1209600 300 )",
             f"@\tIN\tNS\t{layout.nameserver}."]
    for r in sorted(zone.records, key=lambda r: (r.name, r.rtype, r.value)):
        lines.append(f"{r.name}.\tIN\t{r.rtype}\t{r.value}")
    return "\n".join(lines) + "\n"


def rfc2317_parent_records(zone: Zone, layout: DnsLayout, header: str) -> str:
    """What the /24's parent zone must hold for an RFC 2317 child: NS for the child, a CNAME per address."""
    assert zone.prefix is not None
    lines = [header.replace("#", ";"), f"; RFC 2317 s4: records for the parent zone {zone.prefix.supernet(24).reverse_name}.",
             f"{zone.name}.\tIN\tNS\t{layout.nameserver}."]
    for addr_index in range(zone.prefix.num_addresses):
        last = (zone.prefix.network + addr_index) & 255
        lines.append(f"{last}.{zone.prefix.supernet(24).reverse_name}.\tIN\tCNAME\t{last}.{zone.name}.")
    return "\n".join(lines) + "\n"
