"""Progress bars (tqdm on stderr) that a caller can switch off, and messages that do
not break them."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it",
             enabled: bool = True) -> Iterator[T]:
    """``items`` with a tqdm bar on stderr when ``enabled``."""
    if not enabled:
        return iter(items)
    return iter(tqdm(items, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True))


def bar(total: int | None = None, desc: str = "", unit: str = "it", enabled: bool = True) -> tqdm:
    """A bar to update by hand (``disable`` when not ``enabled``)."""
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=not enabled)


def say(message: str) -> None:
    """A line on stderr that does not garble a running bar."""
    tqdm.write(message, file=sys.stderr)
