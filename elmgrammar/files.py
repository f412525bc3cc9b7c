"""Finding and reading Elm files for the command-line tools, with clean errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import ElmLimitError, ElmSyntaxError
from .parser import MAX_BYTES, too_large_message

SKIPPED_DIRS = {"elm-stuff", "node_modules", ".git"}


def elm_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The ``.elm`` files named or found under the given paths (recursively, sorted,
    skipping ``elm-stuff``, ``node_modules`` and ``.git``). A path that does not
    exist raises ``FileNotFoundError``."""
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*.elm")):
                if not SKIPPED_DIRS.intersection(f.relative_to(p).parts[:-1]) and f.is_file():
                    yield f
        elif p.exists():
            yield p
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")


def benchmark_files(paths: Iterable[str | Path], corpus: bool = False) -> list[Path]:
    """The ``.elm`` files under ``paths`` (:func:`elm_files`) and, with ``corpus``, the
    real-file corpus that ``elmgrammar setup`` installs (``ToolMissing`` without it)."""
    files = list(elm_files(paths))
    if corpus:
        from .oracles import tools

        files += tools.real_elm_files()
    return files


@dataclass
class Source:
    """A file's text, or the error that stopped it from being read as Elm."""

    path: Path
    text: str | None
    error: ElmSyntaxError | None


def read_source(path: Path) -> Source:
    """Read a file as UTF-8 Elm source; binary, non-UTF-8 or huge files give an error value."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES * 4:
            return Source(path, None, ElmLimitError(1, 1, too_large_message(f"{size:,} bytes"), limit="size"))
        data = path.read_bytes()
    except OSError as e:
        return Source(path, None, ElmSyntaxError(1, 1, f"cannot read: {e.strerror}"))
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        return Source(path, None, ElmSyntaxError(line, nul - (data.rfind(b"\n", 0, nul) + 1) + 1,
                                                 "a NUL byte: this looks like a binary file, not Elm source"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return Source(path, None, ElmSyntaxError(line, column, "not UTF-8 text: Elm files are UTF-8"))
    return Source(path, text, None)
