"""FreeRADIUS: the ``users`` file and rlm_sql's ``radcheck``/``radreply`` rows of each subscriber.

Attributes and their text forms are those of FreeRADIUS's dictionaries: Framed-IP-Address (RFC 2865
s5.8), Framed-IPv6-Prefix (RFC 3162 s2.3: the prefix of the subscriber's WAN link), Delegated-IPv6-Prefix
(RFC 4818 s3: the prefix the CPE delegates on its LAN side), Framed-IPv6-Address (RFC 6911 s3.1).
Operators follow users(5): ``:=`` in radcheck sets the control item; ``=`` in radreply adds the reply.
"""

from __future__ import annotations

from typing import NamedTuple

from v6ops.ipam.provisioning.inventory import Inventory, ServiceRecord

# rlm_sql reads each user's groups from radusergroup; membership of this group marks the users
# that ``sync radius`` owns, so rows of users the operator manages by hand are never touched.
MANAGED_GROUP = "v6ops"


class RadiusRow(NamedTuple):
    table: str  # radcheck or radreply
    username: str
    attribute: str
    op: str
    value: str


def subscriber_rows(sub: ServiceRecord, inventory: Inventory) -> list[RadiusRow]:
    """The radcheck and radreply rows of one subscriber; none without a RADIUS User-Name or once terminated."""
    user = sub.identities.get("radius-username")
    if user is None or not sub.served:
        return []
    if sub.status != "active":
        # Suspended: Auth-Type Reject makes rlm_sql's user answer Access-Reject (users(5)); no reply items.
        return [RadiusRow("radcheck", user, "Auth-Type", ":=", "Reject")]
    rows = [RadiusRow("radcheck", user, "SSHA2-256-Password", ":=", sub.radius_secret) if sub.radius_auth == "password"
            and sub.radius_secret else RadiusRow("radcheck", user, "Auth-Type", ":=", "Accept")]
    reply: list[tuple[str, str]] = []
    if sub.ipv4 is not None:
        reply.append(("Framed-IP-Address", str(sub.ipv4_host)))
        if sub.ipv4.length < 32:  # a routed block (business /29): RFC 2865 s5.22 "prefix gateway metric"
            reply.append(("Framed-Route", f"{sub.ipv4} 0.0.0.0 1"))
    if sub.ipv6_address is not None:
        reply.append(("Framed-IPv6-Address", str(sub.ipv6_host)))
        link = inventory.ranges.get(sub.ipv6_address_range or -1)
        link_prefix = link.prefix if link is not None and link.prefix.length >= 64 else sub.ipv6_address.supernet(64)
        reply.append(("Framed-IPv6-Prefix", str(link_prefix)))
    if sub.ipv6_prefix is not None:
        reply.append(("Delegated-IPv6-Prefix", str(sub.ipv6_prefix)))
    rows += [RadiusRow("radreply", user, a, "=", v) for a, v in reply]
    return rows


def all_rows(inventory: Inventory) -> list[RadiusRow]:
    return [row for sub in inventory.subscribers for row in subscriber_rows(sub, inventory)]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def users_file(inventory: Inventory, header: str) -> str:
    """users(5) entries: check items on the name line, reply items indented, comma-separated."""
    out = [header]
    for sub in inventory.subscribers:
        rows = subscriber_rows(sub, inventory)
        if not rows:
            continue
        checks = ", ".join(f"{r.attribute} {r.op} {_quote(r.value) if 'Password' in r.attribute else r.value}"
                           for r in rows if r.table == "radcheck")
        replies = [f"\t{r.attribute} {r.op} {_quote(r.value) if ' ' in r.value else r.value}"
                   for r in rows if r.table == "radreply"]
        out.append(f"# subscriber {sub.name} ({sub.status})")
        out.append(f"{_quote(rows[0].username)}\t{checks}")
        if replies:
            out.append(",\n".join(replies))
        out.append("")
    return "\n".join(out)


def sql_rows_file(inventory: Inventory, header: str) -> str:
    """The same rows as tab-separated ``COPY ... FROM STDIN`` data, one block per table (psql-ready)."""
    rows = all_rows(inventory)
    out = [header.replace("#", "--")]
    for table in ("radcheck", "radreply"):
        out.append(f"COPY {table} (username, attribute, op, value) FROM stdin;")
        out += ["\t".join(_copy_escape(v) for v in (r.username, r.attribute, r.op, r.value))
                for r in rows if r.table == table]
        out.append("\\.")
    users = sorted({r.username for r in rows})
    out.append("COPY radusergroup (username, groupname, priority) FROM stdin;")
    out += [f"{_copy_escape(u)}\t{MANAGED_GROUP}\t0" for u in users]
    out.append("\\.")
    return "\n".join(out) + "\n"


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
