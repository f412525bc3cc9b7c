"""JSON Lines files that survive crashes: atomic replacement and append-only logs.

Two ways to write, for two kinds of step:

- :class:`AtomicJsonl` for steps that are cheap to redo (npm, local, filter, units):
  lines go to ``NAME.tmp`` and the file appears under its real name only when complete,
  so a reader never sees half a corpus.
- :class:`AppendLog` for the scraper, whose work is expensive: each record is one line,
  flushed and fsynced as it is written. A crash can leave at most one torn last line,
  which :func:`repair_tail` cuts off before the log is appended to again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """The records of a JSON Lines file, one at a time (constant memory).

    A torn last line (no newline, invalid JSON) is what a crash leaves in an append
    log: it is skipped, as the writer will redo that record. A bad line elsewhere is
    corruption and raises ``ValueError`` naming the file and line.
    """
    with open(path, "rb") as f:
        number = 0
        for raw in f:
            number += 1
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except json.JSONDecodeError as e:
                if not raw.endswith(b"\n") and not f.read(1):
                    return  # torn tail
                raise ValueError(f"{path}:{number}: not a JSON line ({e.msg})") from None


def count_lines(path: str | os.PathLike) -> int:
    """Number of complete lines in a file (for progress-bar totals; reads in blocks)."""
    total = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            total += block.count(b"\n")
    return total


def dumps(record: dict[str, Any]) -> str:
    """One record as a JSON line (UTF-8 kept readable, no trailing newline)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class AtomicJsonl:
    """Write records to ``path`` atomically: all of them, or (after an error) none.

    >>> with AtomicJsonl("out.jsonl") as out:      # doctest: +SKIP
    ...     out.write({"text": "x = 1"})
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.count = 0
        self._file = None

    def __enter__(self) -> "AtomicJsonl":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp, "w", encoding="utf-8", newline="\n")
        return self

    def write(self, record: dict[str, Any]) -> None:
        """Add one record."""
        self._file.write(dumps(record) + "\n")
        self.count += 1

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        """Add every record of an iterable."""
        for record in records:
            self.write(record)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace a small file (state, report) in one step: a crash leaves old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def repair_tail(path: str | os.PathLike) -> None:
    """Cut a torn last line (one without its newline) off an append log, if any."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # find the last newline, reading backwards in blocks
        pos = size
        keep = 0
        while pos > 0:
            step = min(1 << 16, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            i = block.rfind(b"\n")
            if i >= 0:
                keep = pos + i + 1
                break
        f.truncate(keep)


class AppendLog:
    """An append-only JSON Lines log: each :meth:`write` is durable when it returns.

    Opening repairs a torn tail left by a crash, so records are whole lines or absent.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(self.path)
        self._file = open(self.path, "a", encoding="utf-8", newline="\n")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable (flush + fsync): the scraper's work is
        costly to redo, and the rerun relies on what this log says is done."""
        self._file.write(dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> "AppendLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
