"""The file record every source writes and the filter reads.

All the sources (GitHub, npm, a local folder, a folder with its manifest) write the
same JSON line per file to ``files.jsonl``, so the later steps never care where a file
came from::

    {"source": "github", "repo": "owner/name", "path": "src/Main.elm",
     "commit": "<sha>", "licence": "MIT", "size": 1234, "sha256": "<hex>",
     "text": "module Main exposing (..)\\n...", "error": null}

``text`` is the file decoded as UTF-8; a file that is not UTF-8 (or holds NUL bytes)
has ``text: null`` and ``error`` says why, and the filter rejects it as not Elm.
For npm packages ``repo`` is the package name and ``commit`` its version.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

from .jsonl import atomic_write_text, read_jsonl

FILES_NAME = "files.jsonl"
INGEST_REPORT_NAME = "ingest-report.json"
"""What a source step (local, npm) writes beside ``files.jsonl``: files, lines, usage."""
KEPT_NAME = "kept.jsonl"
REJECTED_NAME = "rejected.jsonl"
UNITS_NAME = "units.jsonl"

# Folders never taken from a repository, a package or a local tree: build outputs,
# dependencies and vendored copies of other people's code. `assets` is deliberately
# not here: Phoenix apps keep their real Elm code in assets/elm/src.
SKIPPED_DIRS = frozenset({
    "elm-stuff", "node_modules", "bower_components", ".git",
    "vendor", "vendored", "third_party", "third-party", "dist", "build",
})


def skipped(path: str, skip_dirs: frozenset[str] = SKIPPED_DIRS) -> bool:
    """True when a relative path lies inside a skipped folder.

    >>> skipped("elm-stuff/0.19.1/Main.elm"), skipped("src/Main.elm")
    (True, False)
    """
    return any(part in skip_dirs for part in path.split("/")[:-1])


def file_record(source: str, repo: str, path: str, commit: str | None, licence: str | None,
                data: bytes) -> dict[str, Any]:
    """The record of one file's bytes, with its hash and decoded text (or why not)."""
    text: str | None = None
    error: str | None = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        error = f"not UTF-8 text (byte {e.start})"
    if text is not None and "\x00" in text:
        text, error = None, "contains NUL bytes: a binary file"
    return {
        "source": source,
        "repo": repo,
        "path": path,
        "commit": commit,
        "licence": licence,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "text": text,
        "error": error,
    }


def resolve_input(path: str | Path, default_name: str) -> Path:
    """A JSON Lines file given directly, or ``default_name`` inside a work folder.

    Raises ``FileNotFoundError`` with a message that names what was looked for.
    """
    p = Path(path)
    if p.is_dir():
        candidate = p / default_name
        if not candidate.is_file():
            raise FileNotFoundError(f"{candidate}: not found (is {p} the output folder of the previous step?)")
        return candidate
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file or directory")
    return p


def iter_records(paths: list[Path]):
    """The records of several JSON Lines files, in order."""
    for path in paths:
        yield from read_jsonl(path)


def line_count(text: str) -> int:
    """Lines of a text as an editor counts them (a final line without newline counts).

    >>> line_count("a\\nb\\n"), line_count("a\\nb"), line_count("")
    (2, 2, 0)
    """
    return text.count("\n") + (0 if not text or text.endswith("\n") else 1)


def tally(records: Iterable[dict], counts: Counter) -> Iterator[dict]:
    """The records, unchanged, counting ``files`` and ``lines`` into ``counts``."""
    for record in records:
        counts["files"] += 1
        counts["lines"] += line_count(record.get("text") or "")
        yield record


def write_ingest_report(out_dir: str | Path, counts: Counter, usage: dict[str, float], **extra: Any) -> None:
    """Write a source step's report (:data:`INGEST_REPORT_NAME`): files, lines, the
    step's time and memory, and whatever else the source reports."""
    report = {"files": counts["files"], "lines": counts["lines"], **extra, "usage": usage}
    atomic_write_text(Path(out_dir) / INGEST_REPORT_NAME, json.dumps(report, indent=2) + "\n")
