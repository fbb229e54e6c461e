"""``v6ops ipam sync dns``: RFC 2136 UPDATEs signed with TSIG (RFC 8945) to the primary, by diff.

What is there is read with a TSIG-signed AXFR of each zone. v6ops owns the A, AAAA and PTR records whose
address lies in a subscriber range of the plan; every other record (the nameserver, www, mail, records of
other systems) is never touched. Each zone's changes go in UPDATE messages of at most ``BATCH`` RRs,
each applied atomically by the server (RFC 2136 s3.4); a failure stops the sync with the zones before it
done, and the next run sends what is still missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import dns.xfr
import dns.zone

from v6ops.addr import Address, Prefix
from v6ops.ipam.errors import IpamError
from v6ops.ipam.provisioning.dns import Record, Zone, build_zones
from v6ops.ipam.provisioning.inventory import Inventory
from v6ops.ipam.provisioning.settings import ProvisioningSettings
from v6ops.ipam.provisioning.sync import SyncReport, TargetError
from v6ops.store.db import Store

BATCH = 500  # RRs per UPDATE: well under 64 KiB per TCP message
MANAGED_TYPES = ("A", "AAAA", "PTR")


@dataclass(frozen=True)
class Server:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Server:
        """``host``, ``host:port``, ``[v6]:port`` (never split an IPv6 literal on its first colon)."""
        host, port = text, "53"
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest.removeprefix(":") or "53"
        elif text.count(":") == 1:
            host, port = text.split(":")
        if not port.isdigit() or not 0 < int(port) < 65536 or not host:
            raise IpamError(f"DNS server {text!r} is not host, host:port or [IPv6]:port")
        return cls(host, int(port))


def _owned(address: Address, ranges: list[Prefix]) -> bool:
    return any(address.version == r.version and address.as_prefix() in r for r in ranges)


def _ptr_address(owner: str, zone: Zone) -> Address | None:
    """The address a PTR owner name stands for (RFC 1035 s3.5, RFC 3596 s2.5, RFC 2317 child names)."""
    labels = owner.split(".")
    try:
        if zone.rfc2317 and zone.prefix is not None:
            return Address(4, (zone.prefix.network & ~255) | int(labels[0]))
        if owner.endswith(".in-addr.arpa") and len(labels) == 6:
            return Address(4, int.from_bytes(bytes(int(x) for x in reversed(labels[:4])), "big"))
        if owner.endswith(".ip6.arpa") and len(labels) == 34:
            return Address(6, int("".join(reversed(labels[:32])), 16))
    except ValueError:
        return None
    return None


def zone_records(zone: Zone, server: Server, keyring: dict[dns.name.Name, object],
                 keyname: dns.name.Name | None, timeout: float) -> set[Record]:
    """Every A, AAAA and PTR record of the zone, read by AXFR."""
    origin = dns.name.from_text(zone.name)
    try:
        xfr = dns.zone.Zone(origin, relativize=False)
        query, _ = dns.xfr.make_query(xfr, keyring=keyring, keyname=keyname)
        dns.query.inbound_xfr(server.host, xfr, query, port=server.port, timeout=timeout, lifetime=timeout * 4)
    except (OSError, dns.exception.DNSException) as exc:
        raise TargetError(f"cannot read zone {zone.name!r} from {server.host}:{server.port} by AXFR "
                          f"(needs allow-transfer for the TSIG key): {exc or type(exc).__name__}") from exc
    out: set[Record] = set()
    for name, node in xfr.nodes.items():
        owner = name.to_text(omit_final_dot=True).lower()
        for rdataset in node.rdatasets:
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            if rtype not in MANAGED_TYPES:
                continue
            out.update(Record(zone.name, owner, rtype, rdata.to_text().lower()) for rdata in rdataset)
    return out


def record_address(record: Record, zone: Zone) -> Address | None:
    return _ptr_address(record.name, zone) if record.rtype == "PTR" else Address.parse(record.value)


def current_records(zone: Zone, server: Server, keyring: dict[dns.name.Name, object],
                    keyname: dns.name.Name | None, ranges: list[Prefix], timeout: float) -> set[Record]:
    """The zone's records v6ops owns (address in a subscriber range), read by AXFR."""
    out = set()
    for r in zone_records(zone, server, keyring, keyname, timeout):
        address = record_address(r, zone)
        if address is not None and _owned(address, ranges):
            out.add(r)
    return out


def _send(zone: Zone, server: Server, keyring: dict[dns.name.Name, object], keyname: dns.name.Name | None,
          deletes: list[Record], adds: list[Record], ttl: int, timeout: float) -> None:
    ops = [("delete", r) for r in deletes] + [("add", r) for r in adds]
    for start in range(0, len(ops), BATCH):
        update = dns.update.UpdateMessage(zone.name, keyring=keyring, keyname=keyname)
        for action, r in ops[start:start + BATCH]:
            name = dns.name.from_text(r.name)
            if action == "delete":  # RFC 2136 s2.5.4: class NONE deletes this one RR
                update.delete(name, r.rtype, r.value)
            else:
                update.add(name, ttl, r.rtype, r.value)
        try:
            response = dns.query.tcp(update, server.host, port=server.port, timeout=timeout)
        except (OSError, dns.exception.DNSException) as exc:
            raise TargetError(f"UPDATE of zone {zone.name!r} at {server.host}:{server.port} failed: "
                              f"{exc or type(exc).__name__}") from exc
        if response.rcode() != dns.rcode.NOERROR:
            raise TargetError(f"{server.host}:{server.port} refused the UPDATE of zone {zone.name!r}: "
                              f"{dns.rcode.to_text(response.rcode())} (RFC 2136 s2.2; check update-policy/allow-update "
                              f"for key {str(keyname)!r})")


def _owner_names(inventory: Inventory) -> dict[str, str]:
    """Record name or address text -> subscriber, to say whose record a change is."""
    names: dict[str, str] = {}
    for sub in inventory.subscribers:
        if sub.dns_name:
            names[sub.dns_name] = sub.name
        for a in (sub.ipv4_host, sub.ipv6_host):
            if a is not None:
                names[str(a)] = sub.name
                names[a.reverse_name] = sub.name
    return names


def tsig(settings: ProvisioningSettings) -> tuple[dict[dns.name.Name, object], dns.name.Name | None]:
    if not settings.tsig_key_name:
        return {}, None
    keyring = dns.tsigkeyring.from_text(
        {settings.tsig_key_name: (settings.tsig_algorithm, settings.tsig_secret.get_secret_value())})
    return keyring, dns.name.from_text(settings.tsig_key_name)


def sync_dns(store: Store, inventory: Inventory, settings: ProvisioningSettings, dry_run: bool = False) -> SyncReport:
    del store  # the zones and the server hold all the state this sync needs
    layout = settings.dns_layout()
    zones = build_zones(inventory, layout)
    server = Server.parse(settings.dns_server)
    keyring, keyname = tsig(settings)
    ranges = [r.prefix for r in inventory.ranges.values()]
    report = SyncReport("dns", dry_run)
    owners = _owner_names(inventory)
    for zone in zones:
        want = {r for r in zone.records if r.rtype in MANAGED_TYPES and not (
            zone.prefix is None and r.name == layout.nameserver)}
        have = current_records(zone, server, keyring, keyname, ranges, settings.dns_timeout_seconds)
        deletes, adds = sorted(have - want), sorted(want - have)
        for action, records in (("delete", deletes), ("add", adds)):
            for r in records:
                # a record of no current subscriber (deleted, renamed away) is named by its DNS name
                who = (owners.get(r.name) or owners.get(r.value.rstrip(".")) or owners.get(r.value)
                       or (r.value.rstrip(".") if r.rtype == "PTR" else r.name))
                report.note(action, who, f"{r.name} {r.rtype} {r.value}")
        if (deletes or adds) and not dry_run:
            _send(zone, server, keyring, keyname, deletes, adds, layout.ttl, settings.dns_timeout_seconds)
    return report


def resolve(server: Server, name: str, rtype: str, timeout: float = 3.0) -> list[str]:
    """Ask the server directly (no recursion): the check and the tests read records this way."""
    import dns.message

    query = dns.message.make_query(name, rtype)
    query.flags &= ~0x0100  # RD off: an authoritative answer or nothing
    try:
        response = dns.query.udp(query, server.host, port=server.port, timeout=timeout)
    except (TimeoutError, OSError, dns.exception.DNSException) as exc:
        raise TargetError(f"DNS server {server.host}:{server.port} did not answer: {exc}") from exc
    return sorted(rd.to_text().lower() for rrset in response.answer for rd in rrset
                  if dns.rdatatype.to_text(rrset.rdtype) == rtype)
