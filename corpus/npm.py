"""Source: npm packages that ship ``.elm`` sources (elm-pages, elm-review, elm-test, ...).

``npm pack SPEC`` fetches each package's tarball into a temporary folder (any spec npm
accepts: ``name``, ``name@version``, a folder, a tarball), with ``--ignore-scripts`` so
packing runs no package code. The tarball is read in memory with :mod:`tarfile` and
never extracted: only regular files ending in ``.elm`` are read, so links, devices and
paths like ``../../etc`` cannot touch the disk. ``repo`` is the package name,
``commit`` its version, ``licence`` the ``license`` field of its ``package.json``.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from .errors import NpmError
from .jsonl import AtomicJsonl
from .progress import progress, say
from .records import FILES_NAME, SKIPPED_DIRS, file_record, skipped, tally, write_ingest_report
from .stats import StepClock

MAX_MEMBER_BYTES = 20_000_000
"""Members larger than this are not read (a tarball could claim anything)."""


def licence_of_manifest(manifest: dict[str, Any]) -> str | None:
    """The licence of a ``package.json`` or ``elm.json``: ``license`` as a string or
    ``{"type": ...}``, or the old ``licenses`` list joined with ``OR``.

    >>> licence_of_manifest({"license": "BSD-3-Clause"}), licence_of_manifest({"licenses": [{"type": "MIT"}]})
    ('BSD-3-Clause', 'MIT')
    """
    value = manifest.get("license")
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, str) and value.strip():
        return value.strip()
    many = manifest.get("licenses")
    if isinstance(many, list):
        names = [x.get("type") if isinstance(x, dict) else x for x in many]
        names = [n for n in names if isinstance(n, str) and n]
        if names:
            return " OR ".join(names)
    return None


def npm_pack(spec: str, dest: Path) -> Path:
    """Run ``npm pack SPEC`` into ``dest``; return the tarball's path."""
    npm = shutil.which("npm")
    if npm is None:
        raise NpmError("npm is not on PATH; install Node.js (with npm) to read npm packages")
    done = subprocess.run([npm, "pack", spec, "--json", "--ignore-scripts", "--pack-destination", str(dest)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise NpmError(f"npm pack {spec} failed (exit {done.returncode}): " + " | ".join(detail[-3:]))
    try:
        filename = json.loads(done.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError):
        raise NpmError(f"npm pack {spec}: unexpected output {done.stdout[:200]!r}") from None
    # npm names scoped tarballs scope-name-1.0.0.tgz; its JSON may keep the @ and /
    tarball = dest / filename.replace("@", "").replace("/", "-")
    if not tarball.is_file():
        found = sorted(dest.glob("*.tgz"))
        if len(found) != 1:
            raise NpmError(f"npm pack {spec}: tarball {filename} not found in {dest}")
        tarball = found[0]
    return tarball


def _member_path(name: str) -> str | None:
    """The path of a tarball member below its top folder (``package/``), or None for a
    path that is absolute or climbs out with ``..``."""
    parts = PurePosixPath(name).parts
    if not parts or parts[0] == "/" or ".." in parts or len(parts) < 2:
        return None
    return "/".join(parts[1:])


def tarball_records(tarball: str | Path, skip_dirs: frozenset[str] = SKIPPED_DIRS) -> Iterator[dict]:
    """File records of the ``.elm`` files inside an npm tarball (read in memory)."""
    with tarfile.open(tarball, "r:*") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        manifest: dict[str, Any] = {}
        for m in members:
            if _member_path(m.name) == "package.json" and m.size < MAX_MEMBER_BYTES:
                try:
                    manifest = json.loads(tar.extractfile(m).read().decode("utf-8"))
                except ValueError:
                    manifest = {}
                break
        name = manifest.get("name") or Path(tarball).name
        version = manifest.get("version")
        licence = licence_of_manifest(manifest)
        for m in sorted(members, key=lambda m: m.name):
            path = _member_path(m.name)
            if path is None or not path.endswith(".elm") or skipped(path, skip_dirs) or m.size > MAX_MEMBER_BYTES:
                continue
            yield file_record("npm", name, path, version, licence, tar.extractfile(m).read())


def npm_records(specs: list[str], show_progress: bool = True) -> Iterator[dict]:
    """File records of the ``.elm`` files of each npm package spec, packed one at a time
    into a temporary folder that is removed afterwards."""
    for spec in progress(specs, desc="npm pack", unit="pkg", enabled=show_progress):
        with tempfile.TemporaryDirectory(prefix="elmgrammar-npm-") as tmp:
            tarball = npm_pack(spec, Path(tmp))
            count = 0
            for record in tarball_records(tarball):
                count += 1
                yield record
            if show_progress:
                say(f"{spec}: {count} .elm files")


def run_npm(specs: list[str], out_dir: str | Path, show_progress: bool = True) -> int:
    """Write the records of the packages' ``.elm`` files to ``out_dir/files.jsonl``;
    return the number of files."""
    clock, counts = StepClock(), Counter()
    with AtomicJsonl(Path(out_dir) / FILES_NAME) as out:
        out.write_all(tally(npm_records(specs, show_progress), counts))
    write_ingest_report(out_dir, counts, clock.stop())
    return counts["files"]
