"""The JSON Lines file sink: one event per line, appended; the format every other tool can read."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from v6ops.events.model import EventValueError, SecurityEvent


class JsonLinesSink:
    """Appends events to a file (created 0600). ``fsync`` makes ``flush`` durable across a power loss."""

    def __init__(self, path: str | Path, *, fsync: bool = False, buffer_bytes: int = 1 << 16) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.lock = threading.Lock()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise EventValueError(f"event file {str(path)!r} cannot be opened: {exc.strerror}") from exc
        self.fh = os.fdopen(fd, "ab", buffering=buffer_bytes)
        self.written = 0

    def emit(self, event: SecurityEvent) -> None:
        line = event.to_json().encode() + b"\n"
        with self.lock:
            self.fh.write(line)
            self.written += 1

    def flush(self) -> None:
        with self.lock:
            self.fh.flush()
            if self.fsync:
                os.fsync(self.fh.fileno())

    def close(self) -> None:
        with self.lock:
            if not self.fh.closed:
                self.fh.flush()
                if self.fsync:
                    os.fsync(self.fh.fileno())
                self.fh.close()
