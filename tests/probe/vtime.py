"""An asyncio loop with virtual time, so Happy Eyeballs timing is tested exactly, not against the wall clock.

When nothing is ready and no socket has an event, the loop jumps its clock to the next timer
instead of sleeping: a 250 ms Connection Attempt Delay takes no real time and lands at
exactly 0.250. A loop that would wait forever (no timer, no ready callback) raises instead
of hanging.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            raise RuntimeError("virtual-time loop would block forever: nothing scheduled")
        self.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._vselector = _VirtualSelector()
        super().__init__(self._vselector)
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._vselector.now


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
