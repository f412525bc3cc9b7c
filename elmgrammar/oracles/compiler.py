"""The Elm 0.19.1 compiler's parser as the ground truth for "is this Elm syntax?".

The official binary runs offline in a throw-away workspace: ``ELM_HOME`` holds a
``registry.dat`` of 16 zero bytes (an empty package registry) and ``elm.json`` describes
a package named ``elm/core`` with no dependencies, so nothing is downloaded and the
core-only syntax (``infix`` declarations, effect modules, kernel imports) parses.

``elm make --report=json`` stops a module at its first syntax error and reports it with
one of the titles in :data:`SYNTAX_TITLES` (taken from elm/compiler's
``Reporting/Error/Syntax.hs``, 0.19.1 and master) and the place where the parser got
stuck. Every other outcome -- success, a naming or type error, a module name that does
not match the file, ports in a package, missing imports -- happens after the whole file
parsed, so the verdict is valid.

Each text is written to a file named by the workspace (not by its own ``module``
header), so a header naming any module, or no header at all, is judged on syntax alone
("MODULE NAME MISMATCH" / "MODULE NAME MISSING" count as parsed). Many texts are
judged in one ``elm make`` call (one module per text; the compiler reports each
module's problems separately), and verdicts are cached on disk by sha256 of the text.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import tools
from .elmmake import CompilerError, CompilerTimeout, elm_make
from .verdict import Verdict, VerdictCache, encode_source

JUDGE = "compiler"
# Bump when the classification below changes, so cached verdicts are judged again.
CACHE_VERSION = 1

# Report titles of parse errors in Elm 0.19.1 (compiler/src/Reporting/Error/Syntax.hs,
# toParseErrorReport and everything below it). "UNEXPECTED <term>" and "STRAY <term>"
# are built from the bracket the parser ran into; "PROBLEM IN <thing>" and
# "UNFINISHED <thing>" from the kind of type being parsed.
SYNTAX_TITLES: frozenset[str] = frozenset(
    line.strip()
    for line in """
    BAD INFIX
    BAD MODULE DECLARATION
    BAD UNICODE ESCAPE
    ENDLESS COMMENT
    ENDLESS SHADER
    ENDLESS STRING
    EXPECTING DECLARATION
    EXPECTING DEFINITION
    EXPECTING IMPORT ALIAS
    EXPECTING IMPORT NAME
    EXPECTING MODULE NAME
    EXPECTING RECORD ACCESSOR
    EXPECTING TYPE ALIAS NAME
    EXPECTING TYPE NAME
    EXTRA COMMA
    LEADING ZEROS
    LET PROBLEM
    MISSING ARGUMENT
    MISSING ARROW
    MISSING COLON?
    MISSING EXPRESSION
    MISSING SINGLE QUOTE
    NAME MISMATCH
    NEED MORE INDENTATION
    NEEDS DOUBLE QUOTES
    NO TABS
    PORT PROBLEM
    PROBLEM EXPOSING CUSTOM TYPE VARIANTS
    PROBLEM IN CUSTOM TYPE
    PROBLEM IN DEFINITION
    PROBLEM IN EXPOSING
    PROBLEM IN PATTERN
    PROBLEM IN PORT
    PROBLEM IN RECORD
    PROBLEM IN RECORD TYPE
    PROBLEM IN TYPE ALIAS
    PROBLEM IN TYPE ANNOTATION
    RESERVED SYMBOL
    RESERVED WORD
    SHADER PROBLEM
    STRAY CURLY BRACE
    STRAY PARENTHESIS
    STRAY SQUARE BRACKET
    SYNTAX PROBLEM
    TOO MUCH INDENTATION
    UNEXPECTED ARROW
    UNEXPECTED CAPITAL LETTER
    UNEXPECTED CHARACTER
    UNEXPECTED COMMA
    UNEXPECTED CURLY BRACE
    UNEXPECTED EQUALS
    UNEXPECTED NAME
    UNEXPECTED OPERATOR
    UNEXPECTED PARENTHESIS
    UNEXPECTED PATTERN
    UNEXPECTED SEMICOLON
    UNEXPECTED SQUARE BRACKET
    UNEXPECTED SYMBOL
    UNFINISHED ANONYMOUS FUNCTION
    UNFINISHED CASE
    UNFINISHED CUSTOM TYPE
    UNFINISHED DEFINITION
    UNFINISHED EXPOSING
    UNFINISHED IF
    UNFINISHED IMPORT
    UNFINISHED LET
    UNFINISHED LIST
    UNFINISHED LIST PATTERN
    UNFINISHED MODULE DECLARATION
    UNFINISHED OPERATOR FUNCTION
    UNFINISHED PARENTHESES
    UNFINISHED PATTERN
    UNFINISHED PORT
    UNFINISHED PORT MODULE DECLARATION
    UNFINISHED RECORD
    UNFINISHED RECORD PATTERN
    UNFINISHED RECORD TYPE
    UNFINISHED TUPLE
    UNFINISHED TUPLE PATTERN
    UNFINISHED TUPLE TYPE
    UNFINISHED TYPE ALIAS
    UNFINISHED TYPE ANNOTATION
    UNKNOWN ESCAPE
    WEIRD DECLARATION
    WEIRD ELSE BRANCH
    WEIRD HEXIDECIMAL
    WEIRD NUMBER
    """.strip().splitlines()
)

# Reports of Syntax.hs that come after a complete parse (checkModule, the crawler).
PARSED_SYNTAX_HS_TITLES = frozenset(
    {
        "MODULE NAME MISSING",
        "MODULE NAME MISMATCH",
        "UNEXPECTED PORTS",
        "NO PORTS",
        "PACKAGES CANNOT HAVE PORTS",
        "INVALID EFFECT MODULE",
    }
)

ELM_JSON = {
    "type": "package",
    "name": "elm/core",
    "summary": "elmgrammar's syntax oracle workspace",
    "license": "BSD-3-Clause",
    "version": "1.0.0",
    "exposed-modules": [],
    "elm-version": "0.19.0 <= v < 0.20.0",
    "dependencies": {},
    "test-dependencies": {},
}


def is_syntax_title(title: str) -> bool:
    """True iff an ``elm make`` report title means the module did not parse."""
    return title in SYNTAX_TITLES


class ElmCompiler:
    """Judge Elm source texts with the Elm 0.19.1 compiler's parser.

    >>> judge = ElmCompiler()                                   # doctest: +SKIP
    >>> judge.check("module Main exposing (..)\\nx = (1,\\n")    # doctest: +SKIP
    Verdict(judge='compiler', valid=False, line=2, column=8, message='UNFINISHED TUPLE')

    Up to ``batch_size`` texts go to one ``elm make`` call (about 1-2 ms a file batched,
    against ~45 ms for a call per file). ``timeout`` (seconds) bounds a call for one
    text; a batch gets 0.25 s more per extra file, and a batch that fails or times out
    as a whole is judged again one text at a time, so the culprit raises
    :class:`CompilerTimeout` / :class:`CompilerError`. ``cache`` is True for the
    default cache folder (``<tools>/verdict-cache/compiler``), a folder, or False.
    """

    def __init__(
        self,
        tools_folder: str | os.PathLike | None = None,
        *,
        cache: bool | str | os.PathLike = True,
        timeout: float = 30.0,
        batch_size: int = 256,
    ):
        self.elm = tools.elm_binary(tools_folder)
        self.timeout = timeout
        self.batch_size = max(1, batch_size)
        if cache is True:
            cache = tools.cache_dir(JUDGE, tools_folder)
        self.cache = VerdictCache(cache, CACHE_VERSION) if cache else None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._token = secrets.token_hex(4)

    # -- public API ---------------------------------------------------------------

    def check(self, text: str) -> Verdict:
        """The compiler's verdict on one source text (cached)."""
        return self.check_many([text])[0]

    def check_many(self, texts: Sequence[str], progress: bool = False) -> list[Verdict]:
        """Verdicts for many texts, in order; batched, deduplicated and cached.

        ``progress`` shows a tqdm bar over the texts that were not in the cache.
        """
        verdicts: list[Verdict | None] = [None] * len(texts)
        todo: dict[str, list[int]] = {}
        keys = [VerdictCache.key(t) for t in texts]
        for i, key in enumerate(keys):
            cached = self.cache.get(key) if self.cache else None
            if cached is not None:
                verdicts[i] = cached
            else:
                todo.setdefault(key, []).append(i)
        pending = list(todo.items())
        bar = _progress(len(pending), progress)
        try:
            for start in range(0, len(pending), self.batch_size):
                chunk = pending[start : start + self.batch_size]
                results = self._judge([texts[idx[0]] for _, idx in chunk])
                for (key, idx), verdict in zip(chunk, results):
                    if self.cache:
                        self.cache.put(key, verdict)
                    for i in idx:
                        verdicts[i] = verdict
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return verdicts  # type: ignore[return-value]

    def close(self) -> None:
        """Remove the temporary workspace (a later call makes a new one)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "ElmCompiler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the workspace ------------------------------------------------------------

    def _workspace(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="elmgrammar-elm-")
            root = Path(self._tmp.name)
            packages = root / "home" / "0.19.1" / "packages"
            packages.mkdir(parents=True)
            (packages / "registry.dat").write_bytes(bytes(16))
            project = root / "project"
            (project / "src").mkdir(parents=True)
            (project / "elm.json").write_text(json.dumps(ELM_JSON, indent=4) + "\n")
        return Path(self._tmp.name)

    def _judge(self, texts: list[str]) -> list[Verdict]:
        try:
            return self._run(texts)
        except CompilerError:
            if len(texts) == 1:
                raise
        # A batch that failed as a whole: find the culprit by judging one at a time.
        return [self._run([t])[0] for t in texts]

    def _run(self, texts: list[str]) -> list[Verdict]:
        root = self._workspace()
        project = root / "project"
        src = project / "src"
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir()
        names = [f"Oracle{self._token}N{i}" for i in range(len(texts))]
        for name, text in zip(names, texts):
            (src / f"{name}.elm").write_bytes(encode_source(text))
        limit = self.timeout + 0.25 * (len(texts) - 1)
        try:
            # No build cache: a stale .elmi must never stand in for a new text written
            # under the same name.
            problems = elm_make(self.elm, [f"src/{n}.elm" for n in names], cwd=project, elm_home=root / "home",
                                timeout=limit, fresh_build=True)
        except CompilerTimeout:
            raise
        except CompilerError as e:
            raise CompilerError(f"elm make failed without judging the files: {e}") from None
        return [_verdict(problems.get(name, [])) for name in names]


def _verdict(problems: list[dict]) -> Verdict:
    """The verdict on one module from its reported problems."""
    for problem in problems:
        title = problem.get("title", "")
        if is_syntax_title(title):
            start = problem.get("region", {}).get("start", {})
            return Verdict(JUDGE, False, start.get("line"), start.get("column"), title)
    if not problems:
        return Verdict(JUDGE, True)
    return Verdict(JUDGE, True, message=", ".join(sorted({p.get("title", "?") for p in problems})))


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="elm make", unit="file")
