"""What the access servers need to know, read from the IPAM in a few set-based queries.

Every export and every sync starts from this one view, so RADIUS, Kea, DNS, WireGuard and the
customer notice can never disagree about a subscriber's addresses.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from v6ops.addr import Address, Prefix
from v6ops.ipam.engine import range_prefix
from v6ops.store.models import Allocation, PlanPrefix, Pool, Subscriber
from v6ops.store.provisioning_models import SubscriberIdentity
from v6ops.store.types import network_from_key

SUBSCRIBER_ROLES = ("residential", "business")


@dataclass(frozen=True, slots=True)
class Range:
    """A pool range as the servers see it: Kea's subnet id is the range's id in the plan (stable)."""

    id: int
    pool: str
    purpose: str
    prefix: Prefix
    customer_length: int


@dataclass(slots=True)
class ServiceRecord:
    """One subscriber with its active allocations and identities."""

    id: int
    name: str
    status: str
    dns_name: str | None
    ipv4: Prefix | None = None
    ipv4_range: int | None = None
    ipv6_address: Prefix | None = None
    ipv6_address_range: int | None = None
    ipv6_prefix: Prefix | None = None
    ipv6_prefix_range: int | None = None
    identities: dict[str, str] = field(default_factory=dict)
    radius_auth: str | None = None
    radius_secret: str | None = None

    @property
    def ipv4_host(self) -> Address | None:
        """The address a CPE is given: the /32 itself, or the first host of a larger block (RFC 950 network = .0)."""
        if self.ipv4 is None:
            return None
        return self.ipv4.first if self.ipv4.length >= 31 else self.ipv4.first + 1

    @property
    def ipv6_host(self) -> Address | None:
        if self.ipv6_address is None:
            return None
        return self.ipv6_address.first if self.ipv6_address.length == 128 else self.ipv6_address.first + 1

    @property
    def served(self) -> bool:
        """Terminated subscribers have no records anywhere; suspended ones keep RADIUS's reject."""
        return self.status != "terminated"


@dataclass
class Inventory:
    ranges: dict[int, Range]
    subscribers: list[ServiceRecord]

    def by_name(self) -> dict[str, ServiceRecord]:
        return {s.name: s for s in self.subscribers}


def load_ranges(session: Session) -> dict[int, Range]:
    rows = session.execute(select(PlanPrefix, Pool.name).join(Pool, Pool.id == PlanPrefix.pool_id)
                           .where(Pool.role.in_(SUBSCRIBER_ROLES)).order_by(PlanPrefix.id))
    return {p.id: Range(p.id, pool, p.purpose or "", range_prefix(p), p.customer_length or 0) for p, pool in rows}


# Above this many subscribers one pass over all rows is cheaper than an IN list (and SQLite caps its parameters).
_MAX_IN = 5000


def load_inventory(session: Session, ids: Collection[int] | None = None) -> Inventory:
    """Every subscriber (or those with the given ids), in id order, with allocations and identities."""
    ranges = load_ranges(session)
    if ids is not None and len(ids) > _MAX_IN:
        wanted = set(ids)
        full = load_inventory(session)
        return Inventory(full.ranges, [s for s in full.subscribers if s.id in wanted])
    stmt = select(Subscriber.id, Subscriber.name, Subscriber.status, Subscriber.dns_name).order_by(Subscriber.id)
    if ids is not None:
        stmt = stmt.where(Subscriber.id.in_(list(ids)))
    subs = {r.id: ServiceRecord(r.id, r.name, r.status, r.dns_name) for r in session.execute(stmt)}
    alloc = select(Allocation.subscriber_id, Allocation.prefix_id, Allocation.family, Allocation.network,
                   Allocation.length, Allocation.kind, Allocation.dns_name).where(
        Allocation.subscriber_id.is_not(None), Allocation.status == "active")
    ident = select(SubscriberIdentity.subscriber_id, SubscriberIdentity.kind, SubscriberIdentity.value,
                   SubscriberIdentity.auth, SubscriberIdentity.secret)
    if ids is not None:
        alloc = alloc.where(Allocation.subscriber_id.in_(list(subs)))
        ident = ident.where(SubscriberIdentity.subscriber_id.in_(list(subs)))
    for sid, range_id, family, network, length, kind, dns_name in session.execute(alloc):
        sub = subs.get(sid)
        if sub is None:
            continue
        prefix = Prefix(family, network_from_key(network), length)
        if family == 4:
            sub.ipv4, sub.ipv4_range = prefix, range_id
        elif kind == "delegated-prefix":
            sub.ipv6_prefix, sub.ipv6_prefix_range = prefix, range_id
        else:
            sub.ipv6_address, sub.ipv6_address_range = prefix, range_id
        sub.dns_name = sub.dns_name or dns_name
    for sid, kind, value, auth, secret in session.execute(ident):
        sub = subs[sid]
        sub.identities[kind] = value
        if kind == "radius-username":
            sub.radius_auth, sub.radius_secret = auth, secret
    return Inventory(ranges, list(subs.values()))
