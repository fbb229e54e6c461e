"""Work on a few chunks at once, results in input order (Arrow and numpy release the GIL while they work)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from v6ops.flows.sources import IN_FLIGHT

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_parallel(work: Callable[[Item], Result], items: Iterator[Item]) -> Iterator[Result]:
    """``map(work, items)`` with up to IN_FLIGHT items in progress; at most that many results wait."""
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        pending: deque[Future[Result]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
