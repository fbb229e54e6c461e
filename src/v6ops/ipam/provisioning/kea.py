"""ISC Kea: DHCPv4/DHCPv6 configurations and host reservations (inline, or rows of Kea's hosts schema).

Subnet ids are the plan's range ids, so they never renumber (Kea ARM "IPv6 Subnet Identifier"): host
rows in the database carry them. The pools and pd-pools of the plan are served only to KNOWN clients
(those with a reservation): the IPAM, not Kea, decides who gets which address, so an unknown client
must never take an address the IPAM will hand to a subscriber later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from v6ops.addr import Prefix
from v6ops.ipam.provisioning.inventory import Inventory, Range, ServiceRecord

# dhcp_identifier_type of Kea's host_identifier_type table (dhcpdb_create.pgsql)
HW_ADDRESS, DUID, CIRCUIT_ID, CLIENT_ID = 0, 1, 2, 3
IDENTIFIER_NAMES = {HW_ADDRESS: "hw-address", DUID: "duid", CIRCUIT_ID: "circuit-id", CLIENT_ID: "client-id"}
IA_NA, IA_PD = 0, 2  # ipv6_reservations.type
OWNER_KEY = "v6ops-subscriber"  # in hosts.user_context: which rows ``sync kea`` owns


@dataclass(frozen=True, slots=True)
class KeaHost:
    """One row of ``hosts`` with its ``ipv6_reservations``; compared whole by ``sync kea``."""

    subscriber: str
    family: int
    identifier_type: int
    identifier: bytes
    subnet_id: int
    ipv4_address: int | None
    hostname: str | None
    reservations: tuple[tuple[str, int, int], ...]  # (address text as Kea 2.2 stores it, prefix_len, type)

    @property
    def key(self) -> tuple[int, int, bytes, int]:
        return (self.family, self.identifier_type, self.identifier, self.subnet_id)

    @property
    def user_context(self) -> str:
        return json.dumps({OWNER_KEY: self.subscriber}, separators=(",", ":"))


KIND_TYPES = {"duid": DUID, "mac": HW_ADDRESS, "client-id": CLIENT_ID, "circuit-id": CIRCUIT_ID}


def identifier(kind: str, value: str) -> tuple[int, bytes]:
    """A v6ops identity as Kea's (dhcp_identifier_type, dhcp_identifier); circuit-ids are kept as text."""
    return KIND_TYPES[kind], value.encode() if kind == "circuit-id" else bytes.fromhex(value.replace(":", ""))


def _v4_identifier(sub: ServiceRecord) -> tuple[int, bytes] | None:
    for kind in ("mac", "client-id", "circuit-id"):  # the order Kea's host-reservation-identifiers tries
        value = sub.identities.get(kind)
        if value:
            return identifier(kind, value)
    return None


def subscriber_hosts(sub: ServiceRecord, inventory: Inventory) -> list[KeaHost]:
    """Reservations of an active subscriber: a DHCPv6 host by DUID, a DHCPv4 host by MAC/client-id/circuit-id."""
    if sub.status != "active":
        return []
    hosts = []
    duid = sub.identities.get("duid")
    v6_subnet = _v6_subnet_id(inventory, sub.ipv6_address_range or sub.ipv6_prefix_range)
    if duid and v6_subnet is not None and (sub.ipv6_address or sub.ipv6_prefix):
        res = []
        if sub.ipv6_address is not None:
            res.append((str(sub.ipv6_host), 128, IA_NA))
        if sub.ipv6_prefix is not None:
            res.append((str(sub.ipv6_prefix.first), sub.ipv6_prefix.length, IA_PD))
        hosts.append(KeaHost(sub.name, 6, DUID, bytes.fromhex(duid.replace(":", "")), v6_subnet, None,
                             sub.dns_name, tuple(res)))
    ident = _v4_identifier(sub)
    host4 = sub.ipv4_host
    if ident and host4 is not None and sub.ipv4_range in inventory.ranges:
        hosts.append(KeaHost(sub.name, 4, ident[0], ident[1], sub.ipv4_range or 0, int(host4), sub.dns_name, ()))
    return hosts


def all_hosts(inventory: Inventory) -> list[KeaHost]:
    return [h for sub in inventory.subscribers for h in subscriber_hosts(sub, inventory)]


def _pools(inventory: Inventory) -> dict[str, dict[str, Range]]:
    pools: dict[str, dict[str, Range]] = {}
    for r in inventory.ranges.values():
        pools.setdefault(r.pool, {})[r.purpose] = r
    return dict(sorted(pools.items()))


def _v6_subnet_id(inventory: Inventory, range_id: int | None) -> int | None:
    """A pool's DHCPv6 subnet is its WAN address range, or its delegation range when it has none."""
    r = inventory.ranges.get(range_id or -1)
    if r is None:
        return None
    ranges = _pools(inventory)[r.pool]
    return (ranges.get("ipv6-address") or r).id


def _address_pool(prefix: Prefix) -> str:
    """The range minus the IPv6 subnet-router anycast address (RFC 4291 s2.6.1) or IPv4 network/broadcast."""
    first = prefix.first + 1
    last = prefix.last if prefix.version == 6 else prefix.last - 1
    return f"{first} - {last}"


def _reservation(host: KeaHost) -> dict[str, Any]:
    # Kea ARM "Host Reservations": an identifier is hex, or text in single quotes ('olt7/1/3').
    res: dict[str, Any] = {IDENTIFIER_NAMES[host.identifier_type]: (
        f"'{host.identifier.decode()}'" if host.identifier_type == CIRCUIT_ID else host.identifier.hex(":"))}
    if host.family == 4:
        res["ip-address"] = str(Prefix(4, host.ipv4_address or 0, 32).first)
    else:
        addresses = [a for a, _, t in host.reservations if t == IA_NA]
        prefixes = [f"{a}/{n}" for a, n, t in host.reservations if t == IA_PD]
        if addresses:
            res["ip-addresses"] = addresses
        if prefixes:
            res["prefixes"] = prefixes
    if host.hostname:
        res["hostname"] = host.hostname
    return res


def kea_config(inventory: Inventory, family: int, *, inline_reservations: bool = True,
               hosts_database: dict[str, Any] | None = None, interfaces: list[str] | None = None,
               lease_file: str | None = None) -> dict[str, Any]:
    """A complete kea-dhcp4 / kea-dhcp6 configuration for the plan's subscriber pools."""
    hosts_by_subnet: dict[int, list[KeaHost]] = {}
    if inline_reservations:
        for h in all_hosts(inventory):
            if h.family == family:
                hosts_by_subnet.setdefault(h.subnet_id, []).append(h)
    subnets = []
    for pool, ranges in _pools(inventory).items():
        if family == 4 and "ipv4" in ranges:
            r = ranges["ipv4"]
            subnet: dict[str, Any] = {"id": r.id, "subnet": str(r.prefix), "user-context": {"v6ops-pool": pool},
                                      "pools": [{"pool": _address_pool(r.prefix), "client-class": "KNOWN"}]}
        elif family == 6 and ("ipv6-address" in ranges or "ipv6-delegation" in ranges):
            link = ranges.get("ipv6-address") or ranges["ipv6-delegation"]
            subnet = {"id": link.id, "subnet": str(link.prefix), "user-context": {"v6ops-pool": pool}}
            if "ipv6-address" in ranges:
                subnet["pools"] = [{"pool": _address_pool(link.prefix), "client-class": "KNOWN"}]
            if "ipv6-delegation" in ranges:
                d = ranges["ipv6-delegation"]
                subnet["pd-pools"] = [{"prefix": str(d.prefix.first), "prefix-len": d.prefix.length,
                                       "delegated-len": d.customer_length, "client-class": "KNOWN"}]
        else:
            continue
        if subnet["id"] in hosts_by_subnet:
            subnet["reservations"] = [_reservation(h) for h in hosts_by_subnet[subnet["id"]]]
        subnets.append(subnet)
    body: dict[str, Any] = {
        "interfaces-config": {"interfaces": interfaces or []},
        "lease-database": {"type": "memfile", "persist": lease_file is not None,
                           **({"name": lease_file} if lease_file else {})},
        "host-reservation-identifiers": ["duid"] if family == 6 else ["hw-address", "client-id", "circuit-id"],
        f"subnet{family}": subnets,
    }
    if hosts_database:
        body["hosts-database"] = hosts_database
    return {f"Dhcp{family}": body}


def config_text(config: dict[str, Any], header: str) -> str:
    """JSON with the header as ``//`` comments, which Kea's parser accepts (Kea ARM "JSON Syntax")."""
    comment = "\n".join("//" + line[1:] for line in header.splitlines())
    return comment + "\n" + json.dumps(config, indent=2) + "\n"
