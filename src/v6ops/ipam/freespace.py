"""The free-space index of one range: a buddy system of maximal aligned free blocks.

Every free address of a range lies in exactly one row of ``free_blocks``, and two
free buddies are always merged, so the rows are the canonical decomposition of the
free space. Then the lowest free aligned /L is the first /L of the lowest-addressed
block whose length is <= L: one seek in the blocks by address (``ix_free_blocks_prefix_network``),
whatever the number of allocations, reading past only the free blocks too small for a /L that lie
below it (none in a range allocated in its customer size, whose blocks are all at least that big).
Splitting or merging touches at most one row per length.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from v6ops.addr import Prefix
from v6ops.store.db import dbapi_connection, driver_sql, many_rows
from v6ops.store.types import network_from_key, network_key

WIDTH = {4: 32, 6: 128}


# The lengths that have free blocks, found by walking the primary key (prefix_id, length, network)
# one seek per present length (a loose index scan), so empty length classes cost nothing.
_PRESENT_LENGTHS = """WITH RECURSIVE present(len) AS (
    SELECT min(length) FROM free_blocks WHERE prefix_id = ? AND length <= ?
    UNION ALL
    SELECT (SELECT min(length) FROM free_blocks WHERE prefix_id = ? AND length > present.len AND length <= ?)
    FROM present WHERE present.len IS NOT NULL
)"""

# First fit: the lowest-addressed block that can hold a /L, read in address order. The unary plus keeps
# SQLite from picking the primary key for ``length <= ?`` and sorting every free block of the range.
_LOWEST_BLOCK = "SELECT length, network FROM free_blocks WHERE prefix_id = ? AND +length <= ? ORDER BY network LIMIT 1"

# PostgreSQL: find and delete the block in one statement, saving a round trip under the pool lock.
_TAKE_LOWEST_BLOCK = f"""DELETE FROM free_blocks AS f USING ({_LOWEST_BLOCK}) AS pick
WHERE f.prefix_id = ? AND f.length = pick.length AND f.network = pick.network RETURNING f.length, f.network"""


@cache
def _lowest_blocks_sql(classes: int) -> str:
    # The first k blocks of each given length, merged: one round trip.
    part = (
        "SELECT * FROM (SELECT length, network FROM free_blocks WHERE prefix_id = ? AND length = ? "
        "ORDER BY network LIMIT ?) AS c"
    )
    parts = [f"{part}{i}" for i in range(classes)]
    return "SELECT length, network FROM (" + " UNION ALL ".join(parts) + ") AS u ORDER BY network LIMIT ?"


_INSERT = "INSERT INTO free_blocks (prefix_id, length, network) VALUES (?, ?, ?)"
# Up to one split per bit of an IPv6 range: an allocation's halves always fit one statement.
_ONE_STATEMENT_ROWS = 128
_DELETE = "DELETE FROM free_blocks WHERE prefix_id = ? AND length = ? AND network = ?"


class FreeSpace:
    """Operations on the free blocks of the range ``prefix_id`` (``range_prefix``) inside a transaction.

    ``unit_delta`` accumulates the change in used customer blocks (of ``customer_length``)
    so the caller can keep the range's utilization counter exact in the same transaction.
    Statements go straight to the DB-API cursor of the session's connection: this is the
    hot path of every allocation and SQLAlchemy's per-statement overhead would dominate it.
    """

    def __init__(self, session: Session, prefix_id: int, range_prefix: Prefix, customer_length: int) -> None:
        connection, self.qmark = dbapi_connection(session)
        self.cursor = connection.cursor()
        self.prefix_id = prefix_id
        self.range = range_prefix
        self.width = WIDTH[range_prefix.version]
        self.customer_length = customer_length
        self.unit_delta = 0
        self._taken: Any = None

    def _sql(self, statement: str) -> str:
        return driver_sql(statement, self.qmark)

    def run(self, statement: str, params: Sequence[Any]) -> Any:
        self.cursor.execute(self._sql(statement), params)
        return self.cursor

    def _units(self, length: int) -> int:
        return 1 << (self.customer_length - length) if length <= self.customer_length else 0

    def _key(self, network: int) -> bytes:
        return network_key(self.range.version, network)

    def _insert(self, blocks: Iterable[tuple[int, int]]) -> None:
        rows = [(self.prefix_id, ln, self._key(net)) for ln, net in blocks]
        if len(rows) > _ONE_STATEMENT_ROWS:  # seeding a range
            self.cursor.executemany(self._sql(_INSERT), rows)
        elif rows:  # the halves an allocation splits off: one statement (in a pipeline, executemany costs more)
            self.run(many_rows(_INSERT, len(rows)), [v for row in rows for v in row])
        self.unit_delta -= sum(self._units(ln) for _, ln, _ in rows)

    def _delete(self, length: int, network: int) -> None:
        self.run(_DELETE, (self.prefix_id, length, self._key(network)))
        self.unit_delta += self._units(length)

    def seed(self, blocks: Iterable[Prefix]) -> None:
        """Start a new range with these free blocks (already aligned and disjoint)."""
        self._insert((b.length, b.network) for b in blocks)

    def lowest_free(self, length: int, count: int) -> list[tuple[int, int]]:
        """(block length, block network) of the ``count`` lowest-addressed free blocks that can hold a /length."""
        lengths = [
            int(r[0]) for r in self.run(_PRESENT_LENGTHS + " SELECT len FROM present WHERE len IS NOT NULL",
                                         (self.prefix_id, length, self.prefix_id, length)).fetchall()
        ]
        if not lengths:
            return []
        params: list[int] = []
        for ln in lengths:
            params += (self.prefix_id, ln, count)
        rows = self.run(_lowest_blocks_sql(len(lengths)), [*params, count]).fetchall()
        return [(int(ln), network_from_key(bytes(n))) for ln, n in rows]

    def available(self, length: int, limit: int) -> list[Prefix]:
        """The first ``limit`` free /length prefixes in address order (never bigger blocks, cf. NetBox 9395)."""
        out: list[Prefix] = []
        for block_length, network in self.lowest_free(length, limit):
            step = 1 << (self.width - length)
            for i in range(min(1 << (length - block_length), limit - len(out))):
                out.append(Prefix(self.range.version, network + i * step, length))
            if len(out) >= limit:
                break
        return out

    def take_first(self, length: int) -> int | None:
        """Allocate the lowest free /length (first fit); None when no block is big enough."""
        self.start_take_first(length)
        return self.end_take_first(length)

    def start_take_first(self, length: int) -> None:
        """The first half of ``take_first``: on PostgreSQL the find-and-delete is sent and not waited
        for, so several ranges' first fits share one round trip in a pipeline (``end_take_first``)."""
        params = (self.prefix_id, length)
        if self.qmark:  # SQLite: no round trips to save, and two plain statements plan better
            row = self.run(_LOWEST_BLOCK, params).fetchone()
            if row is not None:
                self._delete(int(row[0]), network_from_key(bytes(row[1])))
            self._taken = row
        else:
            self.run(_TAKE_LOWEST_BLOCK, (*params, self.prefix_id))

    def end_take_first(self, length: int) -> int | None:
        """The lowest free /length that ``start_take_first`` took, its split-off halves left free."""
        if self.qmark:
            row, self._taken = self._taken, None
        else:
            row = self.cursor.fetchone()
            if row is not None:
                self.unit_delta += self._units(int(row[0]))
        if row is None:
            return None
        block_length, network = int(row[0]), network_from_key(bytes(row[1]))
        # The upper halves split off on the way down to /length stay free.
        self._insert((k, network + (1 << (self.width - k))) for k in range(block_length + 1, length + 1))
        return network

    def take_exact(self, prefix: Prefix) -> bool:
        """Allocate exactly ``prefix``; False when any part of it is not free."""
        candidates = {
            k: prefix.network & ~((1 << (self.width - k)) - 1) for k in range(self.range.length, prefix.length + 1)
        }
        clauses = " OR ".join("(length = ? AND network = ?)" for _ in candidates)
        params: list[Any] = [self.prefix_id]
        for k, net in candidates.items():
            params += (k, self._key(net))
        row = self.run(f"SELECT length FROM free_blocks WHERE prefix_id = ? AND ({clauses})", params).fetchone()
        if row is None:
            return False
        block_length = int(row[0])
        self._delete(block_length, candidates[block_length])
        # Keep the sibling of every ancestor between the found block and the prefix.
        self._insert(
            (k, candidates[k] ^ (1 << (self.width - k))) for k in range(block_length + 1, prefix.length + 1)
        )
        return True

    def give_back(self, prefix: Prefix) -> None:
        """Free ``prefix``, merging with free buddies up to the range boundary."""
        length, network = prefix.length, prefix.network
        while length > self.range.length:
            buddy = network ^ (1 << (self.width - length))
            if not self.run(_DELETE, (self.prefix_id, length, self._key(buddy))).rowcount:
                break
            self.unit_delta += self._units(length)
            network &= buddy
            length -= 1
        self._insert([(length, network)])

    def blocks(self) -> list[Prefix]:
        """Every free block in address order (for views and tests; not used when allocating)."""
        rows = self.run("SELECT length, network FROM free_blocks WHERE prefix_id = ? ORDER BY network",
                         (self.prefix_id,)).fetchall()
        return [Prefix(self.range.version, network_from_key(bytes(n)), int(ln)) for ln, n in rows]
