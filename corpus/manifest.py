"""Source: an unpacked corpus folder described by a manifest, one JSON line per file.

A manifest line names a file and where it came from::

    {"repo": "owner/name", "commit": "<sha>", "path": "src/Main.elm", "licence": "MIT",
     "sha256": "<hex>", "lines": 120, "compiler_parses": true, "elm_project": "0.19"}

and the folder holds one folder per repository, ``owner__name/<path>`` (the layout of a
corpus archive; ``owner/name/<path>`` is read too). Each listed file becomes a record
of ``files.jsonl`` with the manifest's repo, commit and licence, after its bytes are
checked against the manifest's sha256. A file that is missing, unreadable or whose
bytes differ is not taken: it is counted and named in :class:`ManifestReport`, and the
rest goes on. ``.elm`` files in the folder that the manifest does not list are counted
too, never taken. ``compiler_parses`` and ``elm_project``, when given, ride along in
the record (the filter keeps them in ``kept.jsonl``).

A manifest line that is not JSON, lacks ``repo``, ``path`` or ``sha256``, or has a path
that leaves its repository's folder is an error naming the manifest's line.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from .errors import CorpusError
from .jsonl import AtomicJsonl, count_lines
from .local import elm_paths
from .progress import progress
from .records import FILES_NAME, file_record, tally, write_ingest_report
from .stats import StepClock

REQUIRED = ("repo", "path", "sha256")
CARRIED = ("compiler_parses", "elm_project")
"""Manifest keys copied into the file record when present."""

_EXAMPLES = 10


class ManifestError(CorpusError):
    """A manifest line that cannot be used (names the file and line)."""


@dataclass
class ManifestReport:
    """What the manifest listed, what was taken, and each file that was not (and why)."""

    listed: int = 0
    taken: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unlisted: int = 0
    unlisted_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report (every missing, mismatched or unreadable file is listed)."""
        return {"listed": self.listed, "taken": self.taken,
                "missing": self.missing, "mismatched": self.mismatched, "unreadable": self.unreadable,
                "unlisted": self.unlisted, "unlisted_examples": self.unlisted_examples}

    def format(self) -> str:
        """A readable summary; problems first, a few examples of each."""
        rows = [f"{self.taken:,} of {self.listed:,} listed files taken"]
        for name, items in (("missing", self.missing), ("sha256 mismatch", self.mismatched),
                            ("unreadable", self.unreadable)):
            if items:
                rows.append(f"{len(items)} {name}, not taken:")
                rows.extend(f"  {x}" for x in items[:_EXAMPLES])
        if self.unlisted:
            rows.append(f"{self.unlisted} .elm files in the folder are not in the manifest, not taken: "
                        + ", ".join(self.unlisted_examples))
        return "\n".join(rows)


def repo_folder(root: Path, repo: str) -> Path:
    """The folder of ``owner/name`` under ``root``: ``owner__name``, else ``owner/name``."""
    flat = root / repo.replace("/", "__")
    nested = root / repo
    return nested if not flat.is_dir() and nested.is_dir() else flat


def _entry(raw: dict, where: str) -> dict:
    """A checked manifest line."""
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: not a JSON object")
    for key in REQUIRED:
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ManifestError(f"{where}: no {key!r} (each line needs repo, path and sha256)")
    parts = PurePosixPath(raw["path"]).parts
    if raw["path"].startswith("/") or ".." in parts or "\\" in raw["path"]:
        raise ManifestError(f"{where}: path {raw['path']!r} leaves its repository's folder")
    if ".." in PurePosixPath(raw["repo"]).parts or raw["repo"].startswith("/"):
        raise ManifestError(f"{where}: repo {raw['repo']!r} is not a name like owner/name")
    return raw


def _lines(manifest: Path) -> Iterator[tuple[str, Any]]:
    """``("FILE:LINE", value)`` for each non-blank line of the manifest."""
    with open(manifest, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{manifest}:{number}"
            try:
                yield where, json.loads(line)
            except ValueError as e:
                raise ManifestError(f"{where}: not a JSON line ({getattr(e, 'msg', e)})") from None


def manifest_records(root: str | Path, manifest: str | Path, report: ManifestReport) -> Iterator[dict]:
    """File records of the files ``manifest`` lists under ``root`` whose sha256 matches;
    fills ``report`` (see the module docstring)."""
    root, manifest = Path(root), Path(manifest)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no such manifest")
    listed: set[tuple[str, str]] = set()
    for where, raw in _lines(manifest):
        entry = _entry(raw, where)
        repo, path = entry["repo"], entry["path"]
        report.listed += 1
        folder = repo_folder(root, repo)
        listed.add((str(folder), path))
        name = f"{repo}/{path}"
        try:
            data = (folder / path).read_bytes()
        except FileNotFoundError:
            report.missing.append(f"{name}: not in {folder}")
            continue
        except OSError as e:
            report.unreadable.append(f"{name}: {e.strerror}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"].lower():
            report.mismatched.append(f"{name}: sha256 {digest[:12]}, the manifest says {entry['sha256'][:12]}")
            continue
        record = file_record("local", repo, path, entry.get("commit"), entry.get("licence"), data)
        record.update({k: entry[k] for k in CARRIED if k in entry})
        report.taken += 1
        yield record
    for path in elm_paths(root):
        rel = path.relative_to(root).parts
        if not any((str(root.joinpath(*rel[:n])), "/".join(rel[n:])) in listed for n in (1, 2)):
            report.unlisted += 1
            if len(report.unlisted_examples) < 3:
                report.unlisted_examples.append("/".join(rel))


def run_manifest(root: str | Path, manifest: str | Path, out_dir: str | Path,
                 show_progress: bool = True) -> tuple[int, ManifestReport]:
    """Write the records of the files ``manifest`` lists under ``root`` to
    ``out_dir/files.jsonl`` and the report (with the files not taken) to
    ``ingest-report.json``; return the number of files written and the report."""
    clock, counts, report = StepClock(), Counter(), ManifestReport()
    total = count_lines(manifest) if Path(manifest).is_file() else None
    with AtomicJsonl(Path(out_dir) / FILES_NAME) as out:
        records = tally(manifest_records(root, manifest, report), counts)
        out.write_all(progress(records, total=total, desc="manifest", unit="file", enabled=show_progress))
    write_ingest_report(out_dir, counts, clock.stop(), manifest=report.as_dict())
    return counts["files"], report
