"""``v6ops ipam sync radius|kea``: make FreeRADIUS's and Kea's PostgreSQL rows equal the IPAM, by diff.

Each sync is one transaction on the target, so a failure leaves the target as it was (never half a
subscriber). It reads what is there, computes the difference with what the IPAM says, and writes only
that: a re-run with nothing changed writes nothing. v6ops owns only its own rows (RADIUS users in the
``v6ops`` radusergroup, Kea hosts whose user_context names a v6ops subscriber); a row of the same
user or identifier that the operator made by hand is reported as a conflict, never overwritten.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from v6ops.addr import Prefix
from v6ops.ipam.errors import ConflictError, IpamError
from v6ops.ipam.provisioning import kea, radius
from v6ops.ipam.provisioning.inventory import Inventory

MAX_REPORTED = 1000
# pg_advisory_xact_lock keys: two syncs of one target queue instead of racing on the diff.
_LOCKS = {"radius": 0x76366F7001, "kea": 0x76366F7002}


class TargetError(IpamError):
    """The target server or database cannot be reached or used; nothing was changed there."""

    status = 503


@dataclass
class Change:
    action: str  # add | delete
    subscriber: str
    what: str

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action, "subscriber": self.subscriber, "record": self.what}


@dataclass
class SyncReport:
    target: str
    dry_run: bool
    added: int = 0
    deleted: int = 0
    subscribers_changed: set[str] = field(default_factory=set)
    changes: list[Change] = field(default_factory=list)

    def note(self, action: str, subscriber: str, what: str) -> None:
        if action == "add":
            self.added += 1
        else:
            self.deleted += 1
        self.subscribers_changed.add(subscriber)
        if len(self.changes) < MAX_REPORTED:
            self.changes.append(Change(action, subscriber, what))

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "dry_run": self.dry_run, "added": self.added, "deleted": self.deleted,
                "subscribers_changed": len(self.subscribers_changed),
                "changes": [c.as_dict() for c in sorted(self.changes, key=lambda c: (c.subscriber, c.action, c.what))],
                "changes_truncated": self.added + self.deleted > len(self.changes)}


@contextmanager
def target_transaction(url: str, target: str, dry_run: bool) -> Iterator[Any]:
    """One transaction on the target database, serialized per target; rolled back on error or dry run."""
    import psycopg

    try:
        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5)
    except psycopg.Error as exc:
        raise TargetError(f"cannot connect to the {target} database: {str(exc).splitlines()[0]}") from exc
    try:
        with conn.transaction(force_rollback=dry_run):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCKS[target]])
            yield conn
    except psycopg.errors.UniqueViolation as exc:
        detail = exc.diag.message_detail or ""
        raise ConflictError(f"{target}: {exc.diag.message_primary} ({detail}); nothing was changed") from exc
    except psycopg.errors.UndefinedTable as exc:
        raise TargetError(f"the {target} database lacks its schema ({str(exc).splitlines()[0]})") from exc
    except psycopg.Error as exc:
        raise TargetError(f"{target} database: {str(exc).splitlines()[0]}; nothing was changed") from exc
    finally:
        conn.close()


def _copy(conn: Any, statement: str, rows: Iterable[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


# ---- RADIUS -------------------------------------------------------------------------------------------

def sync_radius(inventory: Inventory, url: str, dry_run: bool = False, usernames: list[str] | None = None
                ) -> SyncReport:
    """Diff and write; ``usernames`` limits the diff to those users (an incremental sync: the users of the
    queued subscribers and the names they had), otherwise every user v6ops owns is compared."""
    report = SyncReport("radius", dry_run)
    owner: dict[str, str] = {}
    want: set[radius.RadiusRow] = set()
    for sub in inventory.subscribers:
        for row in radius.subscriber_rows(sub, inventory):
            want.add(row)
            owner[row.username] = sub.name
    with target_transaction(url, "radius", dry_run) as conn:
        scope, params = ("", []) if usernames is None else (" AND username = ANY(%s)", [usernames])
        managed = {u for (u,) in conn.execute("SELECT username FROM radusergroup WHERE groupname = %s" + scope,
                                              [radius.MANAGED_GROUP, *params])}
        new_users = sorted(set(owner) - managed)
        if new_users:
            taken = conn.execute(
                "SELECT username FROM radcheck WHERE username = ANY(%s) UNION "
                "SELECT username FROM radreply WHERE username = ANY(%s) LIMIT 5", [new_users, new_users]).fetchall()
            if taken:
                names = ", ".join(repr(u) for (u,) in taken)
                raise ConflictError(f"RADIUS user(s) {names} already have radcheck/radreply rows not managed by v6ops "
                                    f"(not in radusergroup {radius.MANAGED_GROUP!r}); nothing was changed")
        have: dict[radius.RadiusRow, list[tuple[str, int]]] = defaultdict(list)
        for table in ("radcheck", "radreply"):
            if usernames is None:
                cur = conn.execute(f"SELECT t.id, t.username, t.attribute, t.op, t.value FROM {table} t JOIN "
                                   "radusergroup g ON g.username = t.username AND g.groupname = %s",
                                   [radius.MANAGED_GROUP])
            else:  # by the username index; rows of users v6ops does not manage are left out below
                cur = conn.execute(f"SELECT id, username, attribute, op, value FROM {table} "
                                   "WHERE username = ANY(%s)", [usernames])
            for rid, user, attribute, op, value in cur:
                if usernames is not None and user not in managed:
                    continue
                have[radius.RadiusRow(table, user, attribute, op, value)].append((table, rid))
        doomed: dict[str, list[int]] = {"radcheck": [], "radreply": []}
        for row, ids in have.items():
            extra = ids if row not in want else ids[1:]  # a duplicated row is one too many
            for table, rid in extra:
                doomed[table].append(rid)
                report.note("delete", owner.get(row.username, row.username), _radius_text(row))
        adds = sorted(want - have.keys())
        for row in adds:
            report.note("add", owner[row.username], _radius_text(row))
        gone_users = sorted(managed - set(owner))
        for table, row_ids in doomed.items():
            if row_ids:
                conn.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [row_ids])
        if gone_users:
            conn.execute("DELETE FROM radusergroup WHERE groupname = %s AND username = ANY(%s)",
                         [radius.MANAGED_GROUP, gone_users])
        for table in ("radcheck", "radreply"):
            _copy(conn, f"COPY {table} (username, attribute, op, value) FROM STDIN",
                  ((r.username, r.attribute, r.op, r.value) for r in adds if r.table == table))
        _copy(conn, "COPY radusergroup (username, groupname, priority) FROM STDIN",
              ((u, radius.MANAGED_GROUP, 0) for u in new_users))
    return report


def _radius_text(row: radius.RadiusRow) -> str:
    value = "<password hash>" if "Password" in row.attribute else row.value
    return f"{row.table} {row.username} {row.attribute} {row.op} {value}"


# ---- Kea ----------------------------------------------------------------------------------------------

_OWNED = "user_context LIKE '{\"" + kea.OWNER_KEY + "\":%%'"  # %% : the statement has parameters


_CONTEXT_HEAD = '{"' + kea.OWNER_KEY + '":"'


def _owner_of(context: str | None) -> str:
    text = context or ""
    if text.startswith(_CONTEXT_HEAD) and text.endswith('"}') and "\\" not in text:
        return text[len(_CONTEXT_HEAD):-2]  # the form KeaHost.user_context writes; parsed without json (hot path)
    try:
        return str(json.loads(text or "{}").get(kea.OWNER_KEY, "?"))
    except ValueError:
        return "?"


def sync_kea(inventory: Inventory, url: str, dry_run: bool = False,
             identifiers: list[tuple[int, bytes]] | None = None) -> SyncReport:
    """Diff and write; ``identifiers`` limits the diff to v6ops hosts with those (type, identifier) pairs
    (an incremental sync: the queued subscribers' identities and those they lost), read by Kea's index."""
    report = SyncReport("kea", dry_run)
    want = set(kea.all_hosts(inventory))
    columns = ("host_id, dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id, dhcp6_subnet_id, ipv4_address, "
               "hostname, user_context")
    with target_transaction(url, "kea", dry_run) as conn:
        if identifiers is None:
            hosts = conn.execute(f"SELECT {columns} FROM hosts WHERE {_OWNED}", []).fetchall()
        else:
            wanted = set(identifiers) | {(h.identifier_type, h.identifier) for h in want}
            # = ANY on the leading column of Kea's key_dhcp_identifier index; the type is checked here
            hosts = [h for h in conn.execute(
                f"SELECT {columns} FROM hosts WHERE dhcp_identifier = ANY(%s) AND " + _OWNED,
                [sorted({i for _, i in wanted})]).fetchall() if (h[2], bytes(h[1])) in wanted]
        reservations: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
        for host_id, address, plen, rtype in conn.execute(
                "SELECT host_id, address, prefix_len, type FROM ipv6_reservations WHERE host_id = ANY(%s)",
                [[h[0] for h in hosts]]):
            reservations[host_id].append((address, plen, rtype))
        have: dict[kea.KeaHost, list[int]] = defaultdict(list)
        for host_id, ident, itype, s4, s6, ipv4, hostname, context in hosts:
            host = kea.KeaHost(_owner_of(context), 6 if s6 is not None else 4, itype, bytes(ident),
                               s6 if s6 is not None else s4, ipv4, hostname,
                               tuple(sorted(reservations.get(host_id, []), key=_reservation_order)))
            have[host].append(host_id)
        want = {_normal(h) for h in want}
        doomed = []
        for host, ids in have.items():
            if host not in want:
                doomed += ids
                report.note("delete", host.subscriber, _kea_text(host))
            elif len(ids) > 1:
                doomed += ids[1:]
        adds = sorted(want - have.keys(), key=lambda h: (h.subscriber, h.family))
        for host in adds:
            report.note("add", host.subscriber, _kea_text(host))
        if doomed:
            conn.execute("DELETE FROM hosts WHERE host_id = ANY(%s)", [doomed])
        if adds:
            ids = [i for (i,) in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('hosts', 'host_id')) FROM generate_series(1, %s)", [len(adds)])]
            _copy(conn, "COPY hosts (host_id, dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id, "
                        "dhcp6_subnet_id, ipv4_address, hostname, user_context) FROM STDIN",
                  ((i, h.identifier, h.identifier_type, h.subnet_id if h.family == 4 else None,
                    h.subnet_id if h.family == 6 else None, h.ipv4_address, h.hostname, h.user_context)
                   for i, h in zip(ids, adds, strict=True)))
            _copy(conn, "COPY ipv6_reservations (address, prefix_len, type, dhcp6_iaid, host_id) FROM STDIN",
                  ((a, n, t, None, i) for i, h in zip(ids, adds, strict=True) for a, n, t in h.reservations))
    return report


def _reservation_order(r: tuple[str, int, int]) -> tuple[int, str, int]:
    return (r[2], r[0], r[1])


def _normal(h: kea.KeaHost) -> kea.KeaHost:
    return kea.KeaHost(h.subscriber, h.family, h.identifier_type, h.identifier, h.subnet_id, h.ipv4_address,
                       h.hostname, tuple(sorted(h.reservations, key=_reservation_order)))


def _kea_text(h: kea.KeaHost) -> str:
    ident = h.identifier.decode() if h.identifier_type == kea.CIRCUIT_ID else h.identifier.hex(":")
    parts = [f"host {kea.IDENTIFIER_NAMES[h.identifier_type]}={ident} subnet{h.family}={h.subnet_id}"]
    if h.ipv4_address is not None:
        parts.append(f"ipv4={Prefix(4, h.ipv4_address, 32).first}")
    parts += [f"{'ia_na' if t == kea.IA_NA else 'ia_pd'}={a}/{n}" for a, n, t in h.reservations]
    if h.hostname:
        parts.append(f"hostname={h.hostname}")
    return " ".join(parts)
