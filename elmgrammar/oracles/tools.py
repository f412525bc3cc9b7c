"""The npm-installed tools the oracles run: the Elm compiler, elm-format, and real Elm code.

Everything lives in one folder: ``$ELMGRAMMAR_TOOLS`` if set, else
``~/.cache/elmgrammar/npm``. ``install()`` fills it with ``npm install`` of pinned
packages; the other functions only look, and raise ``ToolMissing`` when the folder
has not been set up.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ENV_VAR = "ELMGRAMMAR_TOOLS"

# Exact versions, so every machine judges with the same compiler and tests the same files.
PACKAGES: dict[str, str] = {
    "@lydell/elm_linux_x64": "0.19.1-1",
    "@avh4/elm-format-linux-x64": "0.8.8-1",
    "elm-pages": "3.1.3",
    "elm-review": "2.13.5",
    "elm-test": "0.19.1",
}

# The packages whose shipped .elm sources are the real-code test corpus.
CORPUS_PACKAGES = ("elm-pages", "elm-review", "elm-test")


class ToolMissing(RuntimeError):
    """A tool (or the whole tools folder) is not installed; run ``elmgrammar setup``."""


def tools_dir() -> Path:
    """The tools folder: ``$ELMGRAMMAR_TOOLS`` if set, else ``~/.cache/elmgrammar/npm``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "elmgrammar" / "npm"


def _folder(folder: str | os.PathLike | None) -> Path:
    return Path(folder).expanduser() if folder is not None else tools_dir()


def install(folder: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Install the pinned npm packages into ``folder`` (default ``tools_dir()``); return it.

    Writes a ``package.json`` listing exactly :data:`PACKAGES` and runs
    ``npm install --no-audit --no-fund --ignore-scripts`` there. Needs ``npm`` and the
    npm registry; the result then works offline.
    """
    where = _folder(folder)
    where.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise ToolMissing("npm is not on PATH; install Node.js (with npm) to set up the Elm tools")
    manifest = {
        "name": "elmgrammar-tools",
        "private": True,
        "description": "Tools and real Elm code for elmgrammar's oracles (written by elmgrammar setup)",
        "dependencies": dict(PACKAGES),
    }
    (where / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    cmd = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts"]
    if progress:
        print(f"elmgrammar: {' '.join(cmd[1:])} in {where}", file=sys.stderr)
    done = subprocess.run(
        cmd,
        cwd=where,
        stdout=None if progress else subprocess.PIPE,
        stderr=None if progress else subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        detail = "" if progress else "\n" + (done.stderr or "")[-2000:]
        raise RuntimeError(f"npm install failed in {where} (exit {done.returncode}){detail}")
    # --ignore-scripts leaves the binaries' execute bits as packed; make sure they run.
    for binary in (elm_binary(where), elm_format_binary(where)):
        binary.chmod(binary.stat().st_mode | 0o111)
    return where


def _binary(folder: str | os.PathLike | None, package: str, name: str) -> Path:
    path = _folder(folder) / "node_modules" / package / name
    if not path.is_file():
        raise ToolMissing(
            f"{name} not found at {path}; run `elmgrammar setup` "
            f"(or elmgrammar.oracles.tools.install()) to install the Elm tools"
        )
    return path


def elm_binary(folder: str | os.PathLike | None = None) -> Path:
    """Path of the Elm 0.19.1 compiler binary, or ``ToolMissing``."""
    return _binary(folder, "@lydell/elm_linux_x64", "elm")


def elm_format_binary(folder: str | os.PathLike | None = None) -> Path:
    """Path of the elm-format 0.8.8 binary, or ``ToolMissing``."""
    return _binary(folder, "@avh4/elm-format-linux-x64", "elm-format")


def cache_dir(judge: str, folder: str | os.PathLike | None = None) -> Path:
    """The on-disk verdict cache of one judge: ``<tools>/verdict-cache/<judge>``."""
    return _folder(folder) / "verdict-cache" / judge


def real_elm_files(folder: str | os.PathLike | None = None) -> list[Path]:
    """Sorted ``.elm`` files shipped by elm-pages, elm-review and elm-test (~150 files).

    Files under a ``node_modules`` nested inside one of those packages are left out
    only when their content duplicates a file already taken; nothing else is skipped.
    Raises ``ToolMissing`` when a package is not installed.
    """
    modules = _folder(folder) / "node_modules"
    files: list[Path] = []
    nested: list[Path] = []
    for package in CORPUS_PACKAGES:
        root = modules / package
        if not (root / "package.json").is_file():
            raise ToolMissing(f"npm package {package} not found in {modules}; run `elmgrammar setup`")
        for path in root.rglob("*.elm"):
            if not path.is_file():
                continue
            inside = path.relative_to(root).parts
            (nested if "node_modules" in inside else files).append(path)
    seen = {hashlib.sha256(p.read_bytes()).digest() for p in files}
    for path in sorted(nested):
        digest = hashlib.sha256(path.read_bytes()).digest()
        if digest not in seen:
            seen.add(digest)
            files.append(path)
    return sorted(files)
