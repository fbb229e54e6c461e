"""A bounded, optionally persistent queue of encoded events with a delivery thread and a retry policy.

The seed's SIEM settings: ``retry_policy`` (3 retries, 5 s doubling to 60 s) and ``buffer_config``
(10,000 events, flush every 30 s, ``drop_oldest``). Every event ends up delivered, still buffered
(and spooled, when a spool directory is set), or counted in ``dropped``; none disappears silently.

The spool is an append-only file of the encoded records plus a small ``head`` file holding the offset
of the first record not yet delivered or dropped, the dropped count and since when the oldest
undelivered record has waited, and :func:`spool_backlog` reads the backlog from another process
(``/health/ipv6`` does).

Every spool has exactly one owner, even with ``v6ops serve --workers N`` where every worker process
opens an Outbox on the same spool directory: each Outbox writes to a folder of its own inside it
(``<pid>-<random>``) and holds an exclusive ``flock`` on that folder's ``owner.lock`` while it runs.
On start it also adopts every folder whose lock is free (its owner is gone: a crash, a restart, a
worker fewer): it locks it, delivers its records from that folder with the folder's own head (so a
record is never both in two spools: nothing is lost or sent twice) and removes the folder once it is
empty, carrying its dropped count over. A folder whose owner still runs is never touched.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from v6ops.events.model import EventValueError

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A batch could not be delivered; ``retryable`` False means the receiver refused it for good."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    """The seed's ``retry_policy``: delays 5, 10, 20 s (doubling, capped at 60 s) for 3 retries."""

    max_retries: int = 3
    retry_delay: float = 5.0
    backoff_multiplier: float = 2.0
    max_retry_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.retry_delay < 0 or self.backoff_multiplier < 1 or self.max_retry_delay < 0:
            raise EventValueError(f"retry policy {self!r}: retries and delays must be >= 0, the multiplier >= 1")

    def delays(self) -> list[float]:
        out, delay = [], self.retry_delay
        for _ in range(self.max_retries):
            out.append(min(delay, self.max_retry_delay))
            delay *= self.backoff_multiplier
        return out


@dataclass(frozen=True)
class BufferConfig:
    """The seed's ``buffer_config``; ``batch_size`` is the seed's audit routing batch (100)."""

    max_buffer_size: int = 10_000
    flush_interval: float = 30.0
    overflow_policy: str = "drop_oldest"
    batch_size: int = 100

    def __post_init__(self) -> None:
        if self.overflow_policy != "drop_oldest":
            raise EventValueError(f"overflow_policy {self.overflow_policy!r}: only 'drop_oldest' is supported")
        if self.max_buffer_size < 1 or self.batch_size < 1 or self.flush_interval <= 0:
            raise EventValueError(f"buffer config {self!r}: sizes must be >= 1 and the flush interval > 0")


class _Entry:
    __slots__ = ("at", "data", "dropped", "end", "seq")

    def __init__(self, seq: int, data: bytes, end: int, at: float) -> None:
        self.seq = seq
        self.data = data
        self.end = end  # spool offset just after this record (0 without a spool)
        self.at = at  # wall-clock time it was queued
        self.dropped = False


@dataclass(frozen=True)
class SpoolBacklog:
    """What a spool holds undelivered, read from its files: records, how many were dropped, the oldest's wait."""

    directory: Path
    pending: int
    dropped: int
    pending_since: datetime | None  # UTC; None when nothing is pending

    def age_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.pending_since).total_seconds()) if self.pending_since else 0.0


def _read_head(head_path: Path) -> tuple[int, int, int, float | None]:
    """(generation, offset, dropped, pending_since) of a spool head file; EventValueError if unreadable."""
    try:
        state = json.loads(head_path.read_text())
        since = state.get("pending_since")
        return (int(state.get("generation", 0)), int(state["offset"]), int(state["dropped"]),
                float(since) if since is not None else None)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EventValueError(f"spool head {str(head_path)!r} is unreadable: {exc}") from exc


LOCK_FILE = "owner.lock"


def _folder_backlog(directory: Path) -> tuple[int, int, float | None]:
    """(pending, dropped, pending_since) of one spool folder; a folder removed meanwhile (adopted and
    drained by another process) holds nothing."""
    head_path = directory / "spool.head"
    try:
        generation, offset, dropped, since = _read_head(head_path) if head_path.exists() else (0, 0, 0, None)
    except FileNotFoundError:
        return 0, 0, None
    try:
        with open(directory / f"spool.{generation}.jsonl", "rb") as fh:
            fh.seek(offset)
            pending = fh.read().count(b"\n")
    except FileNotFoundError:
        pending = 0
    return pending, dropped, since if pending else None


def spool_folders(directory: Path) -> list[Path]:
    """The owners' folders of a spool directory (names starting with '.' are still being made)."""
    if not directory.is_dir():
        return []
    return sorted(d for d in directory.iterdir() if d.is_dir() and not d.name.startswith("."))


def spool_backlog(directory: Path) -> SpoolBacklog:
    """The backlog of the spool in ``directory`` as its files say now, summed over every owner's folder
    (and a spool written directly in ``directory`` by an older version). Safe beside live Outboxes: only
    newline-terminated records after a head count, so a record being written is not counted yet."""
    parts = [_folder_backlog(d) for d in [directory, *spool_folders(directory)]]
    pending = sum(p for p, _, _ in parts)
    dropped = sum(d for _, d, _ in parts)
    since = min((t for p, _, t in parts if p and t is not None), default=None)
    at = datetime.fromtimestamp(since, UTC) if pending and since is not None else None
    return SpoolBacklog(directory, pending, dropped, at)


def _claim(folder: Path) -> int | None:
    """An exclusive lock on ``folder`` (the fd holding it), or None when its owner runs or it is gone.

    After the lock, the lock file must still be the one at the path: an adopter removes a drained
    folder while holding its lock, and a lock taken on the removed file would own nothing."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd


def _new_folder(root: Path) -> tuple[Path, int]:
    """A folder of this process's own, locked before others can see it (made under a '.' name, then renamed)."""
    name = f"{os.getpid()}-{secrets.token_hex(4)}"
    making = root / f".new-{name}"
    making.mkdir(mode=0o700)
    fd = os.open(making / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else knows the folder yet: never blocks
    os.rename(making, root / name)  # the lock is on the file, which keeps it through the rename
    return root / name, fd


def _orphans(root: Path) -> list[tuple[Path, int]]:
    """Every folder of ``root`` whose owner is gone, locked; a spool an older version wrote in ``root``
    itself is one too."""
    legacy = [root] if (root / "spool.head").exists() or any(root.glob("spool.*.jsonl")) else []
    out = []
    for folder in [*legacy, *spool_folders(root)]:
        fd = _claim(folder)
        if fd is not None:
            out.append((folder, fd))
    return out


class _Spool:
    """Append-only record file and its head pointer; records are newline-terminated, never contain one.

    The head file names the current spool file (``spool.<generation>.jsonl``) and the offset of the
    first record not yet delivered or dropped. Once the delivered part passes ``compact_bytes`` the rest
    is copied to the next generation and the head switched to it in one atomic rename, so a crash at
    any point leaves a head that names a complete file; a long outage-free run cannot fill the disk.
    """

    def __init__(self, directory: Path, lock_fd: int, compact_bytes: int = 64 << 20) -> None:
        self.dir, self.compact_bytes, self.lock_fd = directory, compact_bytes, lock_fd
        self.head_path = directory / "spool.head"
        self.generation, self.head, self.dropped = 0, 0, 0
        self.pending_since: float | None = None
        if self.head_path.exists():
            self.generation, self.head, self.dropped, self.pending_since = _read_head(self.head_path)
        for stale in directory.glob("spool.*.jsonl"):  # left by a crash during a compaction
            if stale != self.path:
                stale.unlink()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self.fd).st_size

    @property
    def path(self) -> Path:
        return self.dir / f"spool.{self.generation}.jsonl"

    def pending(self) -> list[tuple[bytes, int]]:
        """Records after the head, each with its end offset; a torn last line (crash mid-write) is cut off."""
        with open(self.path, "rb") as fh:
            fh.seek(self.head)
            data = fh.read()
        out, pos = [], self.head
        for line in data.split(b"\n")[:-1]:
            pos += len(line) + 1
            out.append((line, pos))
        if pos != self.size:
            os.ftruncate(self.fd, pos)
            self.size = pos
        return out

    def append(self, data: bytes) -> int:
        os.write(self.fd, data + b"\n")
        self.size += len(data) + 1
        return self.size

    def _write_head(self) -> None:
        tmp = self.head_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"generation": self.generation, "offset": self.head, "dropped": self.dropped,
                                   "pending_since": self.pending_since}))
        os.replace(tmp, self.head_path)

    def waiting_since(self, at: float) -> None:
        """The first record after an empty spool: the backlog's age counts from ``at`` (one small write)."""
        self.pending_since = at
        self._write_head()

    def advance(self, offset: int, dropped: int, next_at: float | None) -> int:
        """Move the head (``next_at``: when the oldest record still pending was queued); returns how far
        offsets shifted (after a compaction), else 0."""
        if offset < self.head and dropped == self.dropped:
            return 0
        self.head, self.dropped, self.pending_since = max(self.head, offset), dropped, next_at
        if self.head == self.size:  # everything delivered: start the file again
            os.ftruncate(self.fd, 0)
            self.head = self.size = 0
            self.pending_since = None
        elif self.head >= self.compact_bytes:
            return self._compact()
        self._write_head()
        return 0

    def _compact(self) -> int:
        shift = self.head
        with open(self.path, "rb") as fh:
            fh.seek(shift)
            rest = fh.read()
        old = self.path
        self.generation += 1
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.write(fd, rest)
        os.fsync(fd)
        self.head, self.size = 0, len(rest)
        self._write_head()  # the switch: from here the new generation is the spool
        os.close(self.fd)
        self.fd = fd
        old.unlink()
        return shift

    def set_dropped(self, dropped: int) -> None:
        self.dropped = dropped
        self._write_head()

    def close(self) -> None:
        """Release the folder (records, if any, stay for the next owner)."""
        os.close(self.fd)
        os.close(self.lock_fd)

    def remove(self, keep_in: Path) -> None:
        """Delete the (drained) folder, its refused records appended to ``keep_in``'s, then release it."""
        os.close(self.fd)
        rejected = self.dir / "rejected.jsonl"
        if rejected.exists() and rejected.parent != keep_in:
            with open(keep_in / "rejected.jsonl", "ab") as fh:
                fh.write(rejected.read_bytes())
            rejected.unlink()
        for path in [self.path, self.head_path, self.head_path.with_suffix(".tmp"), self.dir / LOCK_FILE]:
            path.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError as exc:  # the spool root of an older version, or another process's lock file just made
            log.debug("spool folder %s kept: %s", self.dir, exc.strerror)
        os.close(self.lock_fd)


class Outbox:
    """Holds encoded records until ``send`` takes a batch; thread-safe; a daemon thread flushes on an interval."""

    def __init__(self, send: Callable[[list[bytes]], None], *, buffer: BufferConfig | None = None,
                 retry: RetryPolicy | None = None, spool_dir: str | Path | None = None, name: str = "outbox",
                 compact_bytes: int = 64 << 20) -> None:
        """``spool_dir``: the sink's spool directory, shared by every process of the sink (see the module)."""
        spool = None
        orphans: list[tuple[Path, int]] = []
        if spool_dir is not None:
            root = Path(spool_dir)
            root.mkdir(parents=True, exist_ok=True)
            spool = _Spool(*_new_folder(root), compact_bytes)
            orphans = _orphans(root)
        self._setup(send, buffer, retry, name, spool)
        for folder, fd in orphans:
            self._adopt(_Spool(folder, fd, compact_bytes))
        self.thread.start()

    def _setup(self, send: Callable[[list[bytes]], None], buffer: BufferConfig | None, retry: RetryPolicy | None,
               name: str, spool: _Spool | None) -> None:
        self.send = send
        self.buffer = buffer or BufferConfig()
        self.retry = retry or RetryPolicy()
        self.name = name
        self.lock = threading.Lock()
        self.deliver_lock = threading.Lock()
        self.queue: deque[_Entry] = deque()
        self.seq = 0
        self.delivered = 0
        self.rejected = 0
        self.failures = 0
        self.last_error = ""
        self.spool = spool
        self._dropped = self.spool.dropped if self.spool else 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.adopted: list[Outbox] = []  # draining the folders of owners that are gone
        self._retired = {"delivered": 0, "rejected": 0, "failed_attempts": 0}  # counts of drained adopted folders
        self._parent: Outbox | None = None
        if self.spool:
            # Spooled records keep the wait of the oldest (their own queue times died with the last process).
            resumed_at = self.spool.pending_since or time.time()
            for data, end in self.spool.pending():
                self._add(data, end, resumed_at)
            self._trim()
        self.thread = threading.Thread(target=self._run, name=f"v6ops-{name}", daemon=True)

    def _adopt(self, spool: _Spool) -> None:
        """Deliver an orphaned folder's records from that folder (its head moves as they go), then remove it."""
        child = Outbox.__new__(Outbox)
        child._setup(self.send, self.buffer, self.retry, f"{self.name} (adopted {spool.dir.name})", spool)
        child._parent = self
        if not child.queue:
            child._retire()
            return
        log.info("%s: adopted %d undelivered events from %s", self.name, len(child.queue), spool.dir)
        with self.lock:
            self.adopted.append(child)
        child.thread.start()
        child._wake.set()  # they waited long enough: delivered now, not after a flush interval

    def _retire(self) -> None:
        """A drained adopted folder: its counts pass to the parent (in one step, so the parent's totals
        never count them twice or not at all), then the folder goes."""
        parent = self._parent
        with self.lock:
            spool, self.spool = self.spool, None
            if spool is None or parent is None or self.queue:
                self.spool = spool
                return
        with parent.lock:
            parent._dropped += self._dropped
            for key, value in (("delivered", self.delivered), ("rejected", self.rejected),
                               ("failed_attempts", self.failures)):
                parent._retired[key] += value
            self._dropped = self.delivered = self.rejected = self.failures = 0
            if self in parent.adopted:
                parent.adopted.remove(self)
            if parent.spool is not None:
                parent.spool.set_dropped(parent._dropped)  # written before the folder goes: never lost
                spool.remove(keep_in=parent.spool.dir)
        self._stop.set()
        self._wake.set()

    # ------------------------------------------------------------------ producer side

    @property
    def dropped(self) -> int:
        """Events that will never be delivered: pushed out of a full buffer, or unsent at close without a spool."""
        with self.lock:
            return self._dropped + sum(c._dropped for c in self.adopted)

    @property
    def pending(self) -> int:
        with self.lock:
            return len(self.queue) + sum(len(c.queue) for c in self.adopted)

    def _add(self, data: bytes, end: int, at: float) -> None:
        self.seq += 1
        self.queue.append(_Entry(self.seq, data, end, at))

    def _oldest_at(self) -> float | None:
        return self.queue[0].at if self.queue else None

    def _trim(self) -> None:
        """drop_oldest: called with the lock held (or before the thread starts)."""
        over = len(self.queue) - self.buffer.max_buffer_size
        if over <= 0:
            return
        last_end = 0
        for _ in range(over):
            entry = self.queue.popleft()
            entry.dropped = True
            last_end = entry.end
        self._dropped += over
        if self.spool:
            self._shift(self.spool.advance(last_end, self._dropped, self._oldest_at()))

    def _shift(self, shift: int) -> None:
        """After a spool compaction: the queued records' end offsets move down by ``shift``."""
        if shift:
            for entry in self.queue:
                entry.end -= shift

    def put(self, data: bytes) -> None:
        if b"\n" in data:
            raise EventValueError(f"{self.name}: an encoded record may not contain a newline")
        now = time.time()
        with self.lock:
            end = self.spool.append(data) if self.spool else 0
            if self.spool and not self.queue:
                self.spool.waiting_since(now)
            self._add(data, end, now)
            self._trim()
            full = len(self.queue) >= self.buffer.batch_size
        if full:
            self._wake.set()

    # ------------------------------------------------------------------ delivery

    def _head(self) -> list[_Entry]:
        with self.lock:
            return [self.queue[i] for i in range(min(self.buffer.batch_size, len(self.queue)))]

    def _send_head(self) -> list[_Entry] | None:
        """Send the oldest batch with the retry policy. Each attempt takes the head afresh, so a retry never
        resends records that drop_oldest pushed out meanwhile. Returns the batch sent (refused ones are
        counted and kept), or None when every attempt failed."""
        delays = self.retry.delays()
        for attempt in range(len(delays) + 1):
            if attempt and self._stop.wait(delays[attempt - 1]):
                return None  # closing: the records stay buffered (spooled)
            batch = self._head()
            if not batch:
                return []
            payload = [e.data for e in batch]
            try:
                self.send(payload)
            except DeliveryError as exc:
                self.last_error = str(exc)
                if exc.retryable:
                    continue
                log.error("%s: receiver refused %d events: %s", self.name, len(batch), exc)
                self.rejected += len(batch)
                self._keep_rejected(payload)
                return batch
            self.delivered += len(batch)
            return batch
        self.failures += 1
        log.warning("%s: delivery failed after %d retries: %s", self.name, len(delays), self.last_error)
        return None

    def _keep_rejected(self, payload: list[bytes]) -> None:
        """Refused records go to ``rejected.jsonl`` beside the spool (kept for a person to look at)."""
        if self.spool is None:
            return
        with open(self.spool.path.with_name("rejected.jsonl"), "ab") as fh:
            fh.write(b"".join(d + b"\n" for d in payload))

    def deliver(self) -> bool:
        """Send everything buffered now, batch by batch; False when a batch failed after its retries."""
        with self.deliver_lock:
            while True:
                batch = self._send_head()
                if batch is None:
                    return False
                if not batch:
                    if self._parent is not None:
                        self._retire()
                    return True
                with self.lock:
                    # Records dropped while their request was in flight were delivered after all.
                    self._dropped -= sum(e.dropped for e in batch)
                    last = batch[-1].seq
                    while self.queue and self.queue[0].seq <= last:
                        self.queue.popleft()
                    # A dropped last record means the spool head has already moved past the whole batch.
                    if self.spool and not batch[-1].dropped:
                        self._shift(self.spool.advance(batch[-1].end, self._dropped, self._oldest_at()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.buffer.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.deliver()
            except Exception as exc:  # a bug in send must not kill the thread; the records stay queued
                self.last_error = repr(exc)
                log.exception("%s: delivery thread error", self.name)
                time.sleep(min(self.buffer.flush_interval, 1.0))

    def flush(self) -> bool:
        """Deliver now in the caller's thread (adopted records first: they are older); False when something
        is still buffered (receiver down)."""
        adopted = [child.deliver() for child in list(self.adopted)]
        return self.deliver() and all(adopted)

    def close(self, deliver: bool = True) -> None:
        """Stop the thread, then make one last attempt without retries; without a spool what is still
        unsent counts as dropped (with one, it waits in the spool for the next start, and an empty
        folder of this process is removed)."""
        for child in list(self.adopted):
            child.close(deliver)
        self._stop.set()
        self._wake.set()
        if self.thread.is_alive():
            self.thread.join()
        if deliver:
            self.deliver()
        with self.lock:
            if self.spool:
                if self._parent is None and not self.queue and self.spool.size == 0 and self.spool.dropped == 0:
                    self.spool.remove(keep_in=self.spool.dir)
                else:
                    self.spool.close()
            else:
                self._dropped += len(self.queue)
                self.queue.clear()

    def stats(self) -> dict[str, int | str]:
        with self.lock:
            adopted = list(self.adopted)
            delivered = self.delivered + self._retired["delivered"] + sum(c.delivered for c in adopted)
            rejected = self.rejected + self._retired["rejected"] + sum(c.rejected for c in adopted)
            failures = self.failures + self._retired["failed_attempts"] + sum(c.failures for c in adopted)
        return {"pending": self.pending, "delivered": delivered, "dropped": self.dropped, "rejected": rejected,
                "failed_attempts": failures,
                "last_error": self.last_error or next((c.last_error for c in adopted if c.last_error), "")}
