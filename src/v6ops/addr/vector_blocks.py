"""Run a vectorised kernel over row blocks, on every core.

numpy and Arrow let go of the GIL inside each pass, so threads over disjoint
row blocks use both cores of a small machine without copying data to processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

THREADS = min(os.cpu_count() or 1, 4)


def for_each_block(rows: int, block_rows: int, kernel: Callable[[int, int], None], parallel: bool = True) -> None:
    """Call ``kernel(first, stop)`` for consecutive blocks covering ``rows``; blocks may run concurrently.

    ``parallel=False`` from code already running in one of these threads.
    """
    blocks = [(first, min(first + block_rows, rows)) for first in range(0, rows, max(block_rows, 1))]
    if parallel and len(blocks) > 1 and THREADS > 1:
        with ThreadPoolExecutor(THREADS) as pool:
            # list() drains the map so a worker's exception is raised here.
            list(pool.map(lambda block: kernel(*block), blocks))
    else:
        for first, stop in blocks:
            kernel(first, stop)
