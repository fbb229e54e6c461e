"""Counting what could not be read: per reason, with a few sample lines, never silently."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SAMPLES_PER_REASON = 3


class FlowInputError(ValueError):
    """An input that cannot be read at all (unknown format, bad --format string, unreadable file)."""


@dataclass
class Rejections:
    """Lines rejected by reason, a few samples per reason, and whole-file errors."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)
    file_errors: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reject(self, reason: str, line: str, where: str) -> None:
        self.reject_many(reason, 1, [line], where)

    def reject_many(self, reason: str, count: int, lines: list[str], where: str) -> None:
        """``count`` rejected lines for one reason, of which ``lines`` are examples."""
        if count <= 0:
            return
        with self._lock:  # chunks are parsed on several threads
            self.counts[reason] += count
            kept = self.samples.setdefault(reason, [])
            for line in lines[: SAMPLES_PER_REASON - len(kept)]:
                kept.append(f"{where}: {line[:300]}")

    def file_error(self, path: str, reason: str) -> None:
        self.file_errors.append({"path": path, "error": reason})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rejected_lines": self.total,
            "by_reason": [
                {"reason": reason, "count": count, "samples": self.samples.get(reason, [])}
                for reason, count in self.counts.most_common()
            ],
            "file_errors": self.file_errors,
            "notes": self.notes,
        }
