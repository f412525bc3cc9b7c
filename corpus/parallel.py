"""An order-keeping parallel map that holds a bounded number of items in memory.

``multiprocessing.Pool.imap`` reads its whole input ahead of the workers, so a large
corpus would sit in memory at once. :func:`ordered_map` submits batches and keeps at
most ``jobs * ahead`` of them in flight, so memory stays flat however long the stream.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """The number of CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _apply(func: Callable[[T], R], batch: list[T]) -> list[R]:
    return [func(item) for item in batch]


def ordered_map(func: Callable[[T], R], items: Iterable[T], jobs: int = 1,
                batch: int = 8, ahead: int = 4) -> Iterator[R]:
    """``map(func, items)`` on ``jobs`` processes, results in input order.

    ``func`` must be picklable (a module-level function or a ``functools.partial`` of
    one). With ``jobs <= 1`` it runs in this process, with no start-up cost.
    """
    if jobs <= 1:
        yield from map(func, items)
        return
    iterator = iter(items)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending: deque = deque()
        try:
            while True:
                chunk = list(islice(iterator, batch))
                if chunk:
                    pending.append(pool.submit(_apply, func, chunk))
                if pending and (len(pending) >= jobs * ahead or not chunk):
                    yield from pending.popleft().result()
                elif not chunk:
                    break
        finally:
            for future in pending:
                future.cancel()
