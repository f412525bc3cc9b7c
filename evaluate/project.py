"""Compile completions inside the user's own Elm project: the judge beyond syntax.

Syntax is a small share of what the compiler rejects; names that do not exist and
types that do not fit are most of it. :class:`ElmProjectCompiler` compiles each
completion as a module of the user's project, with the project's ``elm.json`` and the
package cache of its ``ELM_HOME`` (offline: the packages must already be there, as
after one ``elm make`` of the project), and sorts the compiler's reports by kind.

How a completion becomes a module: one without a ``module`` header gets
``module ElmgrammarEval.M<hash> exposing (..)`` and the ``prelude`` (the imports and
types the prompts assume) in front; one with a header is renamed to that name and
keeps its own imports. Reported lines are those of the program (prompt + completion).

The project is not touched: a workspace in a temporary folder holds a copy of its
``elm.json`` whose source directories point back at the project's (a package's
``src`` entries are linked in), plus the completions' modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from elmgrammar.oracles import CompilerError, CompilerTimeout, elm_make, tools
from elmgrammar.oracles.compiler import ELM_JSON, is_syntax_title
from elmgrammar.oracles.elmmake import plain_message

from .errors import EvaluateError

KINDS = ("syntax", "naming", "type", "other")

# Report titles by the compiler phase that writes them (elm/compiler 0.19.1:
# Reporting/Error/Canonicalize.hs and Import.hs for names, Type.hs and the type
# annotation checks for types). Anything else (missing patterns, cycles, ports) is "other".
NAMING_TITLES = frozenset({
    "NAMING ERROR", "AMBIGUOUS NAME", "AMBIGUOUS IMPORT", "UNKNOWN IMPORT", "UNKNOWN EXPORT",
    "UNKNOWN OPERATOR", "BAD IMPORT", "BAD EXPORT", "REDUNDANT EXPORT", "SHADOWING", "MODULE NOT FOUND",
    "IMPORT CYCLE",
})
TYPE_TITLES = frozenset({
    "TYPE MISMATCH", "INFINITE TYPE", "TOO MANY ARGS", "TOO FEW ARGS", "BAD TYPE ANNOTATION",
    "UNBOUND TYPE VARIABLE", "UNBOUND TYPE VARIABLES", "UNUSED TYPE VARIABLE", "UNUSED TYPE VARIABLES",
    "TYPE VARIABLE PROBLEMS", "ALIAS PROBLEM", "BAD MAIN TYPE",
})

MODULE_PREFIX = "ElmgrammarEval"
_HEADER = re.compile(r"^((?:port\s+|effect\s+)?module\s+)([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)", re.MULTILINE)


def error_kind(title: str) -> str:
    """The kind of an ``elm make`` report title: syntax, naming, type or other."""
    if is_syntax_title(title):
        return "syntax"
    if title in NAMING_TITLES or title.startswith("DUPLICATE"):
        return "naming"
    if title in TYPE_TITLES:
        return "type"
    return "other"


@dataclass
class CompileResult:
    """The compiler's outcome on one program: ``ok``, the ``kind`` of the first problem
    (None when ok) and every problem as ``{"kind", "title", "line", "column", "message"}``."""

    ok: bool
    kind: str | None = None
    problems: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready data."""
        return asdict(self)


def core_project(folder: str | os.PathLike) -> tuple[Path, Path]:
    """A dependency-free Elm project in ``folder``, compiled offline: ``(project, elm_home)``.

    The project is the compiler oracle's: a package named ``elm/core`` with no
    dependencies (so nothing is ever downloaded; it also means no implicit imports, no
    ``Int`` and no ``+``: programs bring their own types), and ``elm_home`` has an empty
    package registry. For tests, benchmarks and code that needs no package.
    """
    root = Path(folder)
    project, home = root / "project", root / "elm-home"
    (project / "src").mkdir(parents=True, exist_ok=True)
    (project / "elm.json").write_text(json.dumps(ELM_JSON, indent=4) + "\n")
    packages = home / "0.19.1" / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    (packages / "registry.dat").write_bytes(bytes(16))
    return project, home


def default_elm_home() -> Path:
    """``$ELM_HOME`` if set, else ``~/.elm`` (where ``elm`` keeps its package cache)."""
    return Path(os.environ.get("ELM_HOME") or Path.home() / ".elm").expanduser()


class ElmProjectCompiler:
    """Compile programs as modules of the Elm project at ``project``.

    >>> with ElmProjectCompiler("my-app") as judge:                           # doctest: +SKIP
    ...     judge.check_many(["f : Int -> Int\\nf x = x ++ 1\\n"])[0].kind
    'type'

    Raises :class:`EvaluateError` when the project has no readable ``elm.json``, or
    when ``elm make`` fails for the project as a whole (typically a package that is
    not in ``ELM_HOME`` and cannot be downloaded).
    """

    def __init__(self, project: str | os.PathLike, *, elm_home: str | os.PathLike | None = None, prelude: str = "",
                 tools_folder: str | os.PathLike | None = None, timeout: float = 120.0, batch_size: int = 64) -> None:
        self.project = Path(project).expanduser().resolve()
        self.elm_home = Path(elm_home).expanduser().resolve() if elm_home else default_elm_home()
        self.prelude = prelude.strip("\n")
        self.timeout = timeout
        self.batch_size = max(1, batch_size)
        manifest = self.project / "elm.json"
        try:
            self.elm_json = json.loads(manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EvaluateError(f"{self.project}: not an Elm project (no elm.json)") from None
        except json.JSONDecodeError as e:
            raise EvaluateError(f"{manifest}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
        if self.elm_json.get("type") not in ("application", "package"):
            raise EvaluateError(f"{manifest}: \"type\" must be \"application\" or \"package\"")
        self.elm = tools.elm_binary(tools_folder)
        self._tmp: tempfile.TemporaryDirectory | None = None

    # -- public API -------------------------------------------------------------------

    def module_text(self, program: str, name: str) -> tuple[str, int]:
        """The module compiled for ``program`` under module ``name``, and how many lines
        were put in front of the program."""
        if _HEADER.search(program[:_header_window(program)]):
            return _HEADER.sub(lambda m: m.group(1) + name, program, count=1), 0
        front = f"module {name} exposing (..)\n\n" + (self.prelude + "\n\n" if self.prelude else "")
        return front + program, front.count("\n")

    def check_many(self, programs: Sequence[str], progress: bool = False) -> list[CompileResult]:
        """Compile each program; results in order (identical programs compile once)."""
        unique = list(dict.fromkeys(programs))
        results: dict[str, CompileResult] = {}
        bar = None
        if progress and unique:
            from tqdm import tqdm

            bar = tqdm(total=len(unique), desc="elm make (project)", unit="program")
        try:
            for start in range(0, len(unique), self.batch_size):
                chunk = unique[start:start + self.batch_size]
                results.update(zip(chunk, self._compile(chunk)))
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return [results[p] for p in programs]

    def close(self) -> None:
        """Remove the workspace."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "ElmProjectCompiler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the workspace ------------------------------------------------------------------

    def _workspace(self) -> tuple[Path, Path]:
        """The workspace root and the folder the completions' modules go in."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="elmgrammar-project-")
        root = Path(self._tmp.name)
        manifest = dict(self.elm_json)
        if manifest["type"] == "application":
            dirs = manifest.get("source-directories") or ["src"]
            ours = root / "eval-src"
            manifest["source-directories"] = [str((self.project / d).resolve()) for d in dirs] + [str(ours)]
        else:
            # A package compiles `src` only: link the project's modules into ours.
            ours = root / "src"
            if not ours.exists():
                ours.mkdir()
                project_src = self.project / "src"
                if project_src.is_dir():
                    for entry in project_src.iterdir():
                        if entry.name != MODULE_PREFIX:
                            (ours / entry.name).symlink_to(entry.resolve())
        (root / "elm.json").write_text(json.dumps(manifest, indent=4) + "\n")
        return root, ours

    def _compile(self, programs: list[str]) -> list[CompileResult]:
        root, src = self._workspace()
        folder = src / MODULE_PREFIX
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        names, offsets = [], []
        for program in programs:
            # Named by content: the build cache in elm-stuff (kept, so the project's own
            # modules compile once) can never stand in for a different text.
            name = f"{MODULE_PREFIX}.M{hashlib.sha256(program.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
            text, offset = self.module_text(program, name)
            (folder / f"{name.split('.')[-1]}.elm").write_text(text, encoding="utf-8", errors="surrogatepass")
            names.append(name)
            offsets.append(offset)
        paths = [str(folder / f"{n.split('.')[-1]}.elm") for n in names]
        limit = self.timeout + 0.5 * len(programs)
        try:
            # the build cache is kept: the project's own modules compile once
            problems = elm_make(self.elm, paths, cwd=root, elm_home=self.elm_home, timeout=limit)
        except CompilerTimeout:
            raise EvaluateError(f"elm make did not finish within {limit:.0f} s in {self.project}") from None
        except CompilerError as e:
            raise EvaluateError(f"elm make cannot compile in {self.project} (ELM_HOME={self.elm_home}): {e}") from None
        return [_result(problems.get(n, []), off) for n, off in zip(names, offsets)]


def _header_window(program: str) -> int:
    """How far into a program its module header may start: before the first
    declaration-looking line (a header is the first thing, after comments)."""
    match = re.search(r"^(?!module|port|effect|--|\{-|\s|$)", program, re.MULTILINE)
    return match.start() if match else len(program)


def _result(problems: list[dict], offset: int) -> CompileResult:
    if not problems:
        return CompileResult(True)
    out = []
    for problem in problems:
        title = problem.get("title", "?")
        start = problem.get("region", {}).get("start", {})
        line = start.get("line")
        out.append({"kind": error_kind(title), "title": title,
                    "line": line - offset if isinstance(line, int) else None, "column": start.get("column"),
                    "message": plain_message(problem.get("message"))[:300]})
    return CompileResult(False, out[0]["kind"], out)
