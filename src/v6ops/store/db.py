"""Engine and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout so readers never block the single
writer, and write transactions start with ``BEGIN IMMEDIATE`` so two writers
cannot both read the free-space index and then collide at commit time.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from v6ops.store.migrate import upgrade

SQLITE_BUSY_TIMEOUT_MS = 30_000
# 64 MiB page cache: bulk imports touch index pages all over the devices table.
SQLITE_CACHE_KIB = 65_536
# SQLite's default: a commit that leaves the WAL over this many pages checkpoints it (copy + fsync).
SQLITE_AUTOCHECKPOINT_PAGES = 1000


# Database connections per process; the server lowers it when it runs several worker processes.
_pool = {"size": 20, "overflow": 20}


def configure_pool(size: int) -> None:
    """Connections each Store of this process may hold on PostgreSQL (half kept open, half overflow)."""
    _pool["size"] = max(1, size // 2)
    _pool["overflow"] = max(0, size - _pool["size"])


class StoreError(RuntimeError):
    """A database URL or store v6ops cannot use; the message names it."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory, WAL and the BEGIN recipe."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        on_disk = parsed.database not in (None, "", ":memory:")
        if on_disk:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        # The pool keeps as many connections as the threadpool may use at once: a connection past
        # pool_size is closed when returned, and the next request pays connect + PRAGMAs again
        # (a tenth of a worker's CPU on benchmarks/api_load.py's reads at SQLAlchemy's default 5).
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               **({"pool_size": _pool["size"], "max_overflow": _pool["overflow"]} if on_disk else {}))
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=_pool["size"], max_overflow=_pool["overflow"], pool_pre_ping=True)
    raise StoreError(f"database URL {url!r}: only sqlite:/// and postgresql:// are supported")


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling cannot issue BEGIN IMMEDIATE, so it is switched
    # off and SQLAlchemy's "begin" event issues the BEGIN (SQLAlchemy pysqlite docs recipe).
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        # Bulk loads switch the automatic checkpoint off for their transactions (a checkpoint per
        # batch costs an fsync each) and checkpoint once at the end; the setting is per connection,
        # so it is (re)applied whenever a transaction wants a different one than the connection has.
        pages = options.get("sqlite_autocheckpoint", SQLITE_AUTOCHECKPOINT_PAGES)
        info = conn.connection.info
        if info.get("wal_autocheckpoint", SQLITE_AUTOCHECKPOINT_PAGES) != pages:
            conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(pages)}")
            info["wal_autocheckpoint"] = pages
        conn.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def pipelined(session: Session) -> AbstractContextManager[object]:
    """PostgreSQL: psycopg pipeline mode, so statements whose results are not read at once (free-block
    splits, counter updates) travel with the next one that is, saving a round trip each while the
    pool's rows are locked. Errors still surface before the commit. Elsewhere nothing."""
    if not is_postgres(session):
        return nullcontext()
    driver = dbapi_connection(session)[0].driver_connection
    assert driver is not None
    if driver.pgconn.pipeline_status:  # inside one already (a group commit's batch shares one): no sync here
        return nullcontext()
    return driver.pipeline()


@cache
def many_rows(statement: str, count: int) -> str:
    """``statement``, an INSERT ending in one ``VALUES (...)`` row, for ``count`` rows in one statement."""
    row = statement[statement.rindex("("):]
    return statement + f", {row}" * (count - 1)


def run_driver(session: Session, statement: str, params: Sequence[Any]) -> Any:
    """Run ``statement`` (``?`` placeholders) on the DB-API cursor of the session's connection, in its
    transaction, and return the cursor: for the statements of every provisioning, where SQLAlchemy's
    compiling and result objects cost more CPU than the database spends on them. Parameters must be in
    the driver's form already (``types.db_time`` for times)."""
    connection, qmark = dbapi_connection(session)
    cursor = connection.cursor()
    cursor.execute(driver_sql(statement, qmark), params)
    return cursor


def driver_sql(statement: str, qmark: bool) -> str:
    """``statement``, written with ``?`` placeholders, in the driver's paramstyle (``%s`` for psycopg)."""
    return statement if qmark else statement.replace("?", "%s")


def dbapi_connection(session: Session) -> tuple[Any, bool]:
    """The DB-API connection (SQLAlchemy's pool proxy) of the session's transaction, and whether it takes
    ``?`` placeholders (SQLite). Asked of SQLAlchemy once per transaction: ``Session.connection`` costs tens
    of microseconds a call, and an allocation's statements, on the DB-API connection, need it several times."""
    transaction = session.get_transaction()
    known = session.info.get(_DBAPI_CONNECTION)
    if known is None or known[0] is not transaction:
        connection = session.connection()
        known = session.info[_DBAPI_CONNECTION] = (session.get_transaction(), connection.connection,  # connection() may begin it
                                                   connection.dialect.paramstyle == "qmark")
    return known[1], known[2]


_DBAPI_CONNECTION = "v6ops.dbapi_connection"


T = TypeVar("T")
P = TypeVar("P")
GROUP_LIMIT = 64
# Work in steps: it yields where it has sent statements (in a pipeline) and waits for their results, so
# the statements of others can travel in the same round trip (``Store.write_grouped``); ``run_steps``
# runs it alone.
Steps = Generator[None, None, T]
# ``lock(session, claims)``: takes the batch's locks, returns a context its finishes can run in together
# (or None when they cannot share one).
Lock = Callable[[Session, list[Any]], AbstractContextManager[object] | None]


def run_steps(steps: Steps[T]) -> T:
    """The result of ``steps`` run to the end on their own."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(T, done.value)


@dataclass(eq=False)
class _Waiter:
    """One caller of ``Store.write_grouped``: its two steps, then its result or error."""

    prepare: Callable[[Session], Any]
    finish: Callable[[Session, Any], Steps[Any]]
    claim: Any
    lock: Lock | None
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    finished: bool = False
    result: Any = None
    error: BaseException | None = None


class _CallerFailedError(Exception):
    """Rolls a group's transaction back so it can run again without ``waiter``."""

    def __init__(self, waiter: _Waiter) -> None:
        super().__init__()
        self.waiter = waiter


@dataclass(eq=False)
class _Group:
    pending: list[_Waiter] = field(default_factory=list)
    running: bool = False


class Store:
    """One engine plus the two kinds of session the IPAM needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )
        # No autoflush: writers flush explicitly when they need ids, so ORM rows go out in one batch.
        self._writer = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False, autoflush=False
        )
        self._bulk_writer = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE", sqlite_autocheckpoint=0),
            expire_on_commit=False, autoflush=False,
        )
        self._groups: dict[object, _Group] = {}
        self._groups_lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        upgrade(self.engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    @contextmanager
    def write(self, bulk: bool = False) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back (DB unchanged) on any error.

        SQLite has one writer at a time anyway; queueing this process's writers on a lock
        avoids SQLite's sleep-and-retry busy handler, which makes waiting writers slow.
        ``bulk`` (one batch of a bulk load) skips SQLite's automatic WAL checkpoint at commit;
        the loader calls ``checkpoint`` when done. A crash in between loses nothing: the WAL
        holds committed transactions and the next ordinary commit checkpoints it.
        """
        with self._write_lock, (self._bulk_writer if bulk else self._writer)() as session, session.begin():
            yield session

    def write_grouped(self, key: object, prepare: Callable[[Session], P], finish: Callable[[Session, P], Steps[T]],
                      claim: object = None, lock: Lock | None = None) -> T:
        """Run ``finish(session, prepare(session))`` in a write transaction shared with the callers of the
        same ``key`` waiting meanwhile (group commit, as databases do with their log): the batch commits
        together, and every caller returns only after that commit. Sharing a transaction saves each caller
        a connection checkout, a commit and its fsync; callers of one pool also queue on the same row locks.

        Every caller's ``prepare`` (rows of its own: a subscriber, its queue entry) runs before the first
        ``finish`` (the allocation, which takes the pool's row locks until the commit), so a batch holds
        the locks only for the part that needs it, while another process's batch prepares. In between,
        ``lock(session, claims)`` (the same function for every caller of ``key``) gets the distinct
        ``claim`` of the batch's callers (the pools they allocate in), to lock them all at once in an order
        of its own: a batch of callers in different pools must take its locks in the order every other
        transaction does, or two batches could deadlock.

        ``finish`` works in ``Steps``. When ``lock`` returns a context (a pipeline), the finishes of callers
        with different claims run in it in lockstep: each one sends its statements up to its next step
        before any reads its results, so one round trip carries the statements of all of them. Callers of
        one claim run one after the other (in one pool each first fit depends on the one before).

        A caller whose steps fail gets its own error and leaves nothing behind: the transaction is
        rolled back and run again without it (failures are rare, so this is cheaper than a savepoint
        per caller, which costs two round trips each under the pool lock). In lockstep an error may
        surface in another caller's step (a statement whose result nobody reads), so on any error there
        the batch first runs again with each finish on its own, where every error is its caller's.

        The first caller leads a batch; callers arriving while it runs wait for the next batch, led by
        the first of them, so nobody waits for more than the batch in progress and its own.
        """
        waiter = _Waiter(prepare, finish, claim, lock)
        with self._groups_lock:
            group = self._groups.setdefault(key, _Group())
            group.pending.append(waiter)
            if not group.running:
                group.running = waiter.lead = True
        if not waiter.lead:
            waiter.done.wait()
        if waiter.lead and not waiter.finished:
            self._run_group(group)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def _run_group(self, group: _Group) -> None:
        with self._groups_lock:
            batch, group.pending = group.pending[:GROUP_LIMIT], group.pending[GROUP_LIMIT:]
        todo = list(batch)
        lockstep = len(todo) > 1  # until an error in lockstep: then each finish runs on its own
        while todo:
            for waiter in todo:
                waiter.error = None
            together: AbstractContextManager[object] | None = None
            try:
                with self.write() as session:
                    prepared = [self._step(waiter, waiter.prepare, session) for waiter in todo]
                    lock = todo[0].lock
                    together = lock(session, list(dict.fromkeys(w.claim for w in todo))) if lock else None
                    if lockstep and together is not None:
                        with together:
                            self._finish_in_lockstep(todo, prepared, session)
                    else:
                        together = None
                        for waiter, value in zip(todo, prepared, strict=True):
                            waiter.result = self._step(waiter, self._finish_alone, waiter, session, value)
            except Exception as exc:
                if together is not None:  # in lockstep the error may be another caller's: again, each on its own
                    lockstep = False
                    continue
                if isinstance(exc, _CallerFailedError):
                    todo.remove(exc.waiter)
                    continue
                for waiter in todo:  # the commit failed: nothing of the batch is stored, every caller hears why
                    waiter.result, waiter.error = None, exc
            break
        following: _Waiter | None = None
        with self._groups_lock:
            for waiter in batch:
                waiter.finished = True
            if group.pending:
                following = group.pending[0]
                following.lead = True
            else:
                group.running = False
        for waiter in batch:
            waiter.done.set()
        if following is not None:
            following.done.set()

    def _finish_in_lockstep(self, todo: list[_Waiter], prepared: list[Any], session: Session) -> None:
        """Run the finishes in waves (the first caller of every claim, then the second, ...); in a wave,
        every finish takes one step before any takes the next."""
        by_claim: dict[Any, list[tuple[_Waiter, Any]]] = {}
        for waiter, value in zip(todo, prepared, strict=True):
            by_claim.setdefault(waiter.claim, []).append((waiter, value))
        for wave in itertools.zip_longest(*by_claim.values()):
            running = [(w, self._step(w, w.finish, session, v)) for w, v in (item for item in wave if item)]
            while running:
                running = [(w, steps) for w, steps in running if not self._step(w, self._advance, w, steps)]

    @staticmethod
    def _finish_alone(waiter: _Waiter, session: Session, prepared: Any) -> Any:
        return run_steps(waiter.finish(session, prepared))

    @staticmethod
    def _advance(waiter: _Waiter, steps: Steps[Any]) -> bool:
        """Take the next step; True when there is none left (the result is then the caller's)."""
        try:
            next(steps)
        except StopIteration as done:
            waiter.result = done.value
            return True
        return False

    @staticmethod
    def _step(waiter: _Waiter, step: Callable[..., Any], *args: Any) -> Any:
        try:
            return step(*args)
        except Exception as exc:  # this caller's failure: it gets the error, the batch runs again without it
            waiter.error = exc
            raise _CallerFailedError(waiter) from exc

    def checkpoint(self) -> None:
        """Copy the WAL into the SQLite database file (PASSIVE: never waits for readers); no-op elsewhere."""
        if self.dialect == "sqlite":
            with self._write_lock, self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self.engine.dispose()


@cache
def open_store(url: str) -> Store:
    """One migrated Store per database URL per process."""
    store = Store(url)
    store.migrate()
    return store
