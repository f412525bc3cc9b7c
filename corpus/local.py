"""Source: a local folder of ``.elm`` files (a checkout, or an earlier download).

Each file becomes a record of ``files.jsonl``. The repository of a file is the folder's
name, or, with ``repo_depth=N``, the first N folders of its path below the root: a
folder laid out as ``owner/name/...`` (as the user's old download was) gives
``repo_depth=2``. The licence is ``licence`` if given, else the ``"license"`` field of
the ``elm.json`` or ``package.json`` at the repository's root, else unknown (null).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterator

from .jsonl import AtomicJsonl
from .progress import progress
from .npm import licence_of_manifest
from .records import FILES_NAME, SKIPPED_DIRS, file_record, tally, write_ingest_report
from .stats import StepClock


def elm_paths(root: Path, skip_dirs: frozenset[str] = SKIPPED_DIRS) -> Iterator[Path]:
    """The ``.elm`` files under root, sorted, never entering skipped folders or following
    links out of the tree."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        for name in sorted(files):
            if name.endswith(".elm"):
                path = Path(folder) / name
                if path.is_file() and not path.is_symlink():  # a link may point out of the tree
                    yield path


def _licence_at(folder: Path, cache: dict[Path, str | None]) -> str | None:
    if folder not in cache:
        found = None
        for manifest in ("elm.json", "package.json"):
            try:
                found = licence_of_manifest(json.loads((folder / manifest).read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
            if found:
                break
        cache[folder] = found
    return cache[folder]


def local_records(root: str | Path, repo: str | None = None, repo_depth: int = 0, licence: str | None = None,
                  skip_dirs: frozenset[str] = SKIPPED_DIRS) -> Iterator[dict]:
    """File records for the ``.elm`` files under ``root`` (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    licences: dict[Path, str | None] = {}
    for path in elm_paths(root, skip_dirs):
        rel = path.relative_to(root).parts
        if repo_depth and len(rel) > repo_depth:
            name = "/".join(rel[:repo_depth])
            inner = "/".join(rel[repo_depth:])
            repo_root = root.joinpath(*rel[:repo_depth])
        else:
            name = repo or root.resolve().name
            inner = "/".join(rel)
            repo_root = root
        found = licence or _licence_at(repo_root, licences)
        try:
            record = file_record("local", name, inner, None, found, path.read_bytes())
        except OSError as e:
            record = file_record("local", name, inner, None, found, b"")
            record.update(text=None, error=f"cannot read: {e.strerror}")
        yield record


def run_local(roots: list[str | Path], out_dir: str | Path, repo: str | None = None, repo_depth: int = 0,
              licence: str | None = None, show_progress: bool = True) -> int:
    """Write the records of every ``.elm`` file under ``roots`` to ``out_dir/files.jsonl``;
    return the number of files."""
    clock, counts = StepClock(), Counter()
    with AtomicJsonl(Path(out_dir) / FILES_NAME) as out:
        for root in roots:
            records = local_records(root, repo=repo, repo_depth=repo_depth, licence=licence)
            out.write_all(progress(tally(records, counts), desc=f"local {root}", unit="file", enabled=show_progress))
    write_ingest_report(out_dir, counts, clock.stop())
    return counts["files"]
