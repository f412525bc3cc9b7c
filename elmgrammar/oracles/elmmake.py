"""One ``elm make`` run over many modules: the call, its retries, its JSON report.

Both the syntax oracle (:class:`elmgrammar.oracles.ElmCompiler`) and the evaluation's
project judge (``elmgrammar.evaluate.project``) compile through :func:`elm_make`, which
gives every problem the compiler reported, grouped by module name.

>>> problems = elm_make(tools.elm_binary(), ["src/A.elm"], cwd=project, elm_home=home)  # doctest: +SKIP
>>> problems.get("A", [])   # [] when module A compiled                                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

ATTEMPTS = 4
# Elm's wrapper for exceptions that escaped its error reporting; only seen for races.
_FLAKY = "bypassed the normal error reporting"


class CompilerError(RuntimeError):
    """The compiler failed in a way that says nothing about the modules it was given."""


class CompilerTimeout(CompilerError):
    """``elm make`` ran past its time limit."""


def elm_make(elm: str | os.PathLike, files: Sequence[str | os.PathLike], *, cwd: str | os.PathLike,
             elm_home: str | os.PathLike, timeout: float, fresh_build: bool = False) -> dict[str, list[dict]]:
    """Run ``elm make --report=json`` on ``files`` in the project at ``cwd`` with
    ``ELM_HOME=elm_home``: the problems the compiler reported, by module name (``{}``
    when everything compiled; a module with no entry compiled).

    ``fresh_build`` removes ``elm-stuff`` before each attempt (Elm trusts file times,
    and a stale build must never stand in for a new text written under the same name).
    A run that hits Elm's known race on its own build files (elm/compiler#2258) is
    tried again. Raises :class:`CompilerTimeout` past ``timeout`` seconds, and
    :class:`CompilerError` when the compiler gave no report on the modules (a bad
    project, a package it cannot find offline, no JSON).
    """
    cwd = Path(cwd)
    cmd = [str(elm), "make", *map(str, files), "--output=/dev/null", "--report=json"]
    env = dict(os.environ, ELM_HOME=str(elm_home))
    for attempt in range(1, ATTEMPTS + 1):
        if fresh_build:
            shutil.rmtree(cwd / "elm-stuff", ignore_errors=True)
        try:
            done = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CompilerTimeout(f"elm make did not finish within {timeout:.0f} s on {len(files)} file(s)") from None
        if done.returncode == 0:
            return {}
        output = (done.stderr or done.stdout).decode("utf-8", "replace")
        if _FLAKY in output and attempt < ATTEMPTS:
            continue
        report = _parse_report(output)
        if report.get("type") != "compile-errors":
            raise CompilerError(f"{report.get('title', 'unknown error')}: {plain_message(report.get('message'))}")
        return {entry.get("name"): entry.get("problems", []) for entry in report.get("errors", [])}
    raise AssertionError("unreachable")


def plain_message(message) -> str:
    """A report's message as plain text (its styled parts joined), at most 500 characters."""
    if isinstance(message, list):
        return "".join(part if isinstance(part, str) else part.get("string", "") for part in message)[:500]
    return str(message)[:500]


def _parse_report(raw: str) -> dict:
    try:
        # The report quotes source lines verbatim, control characters included.
        return json.loads(raw, strict=False)
    except ValueError:
        raise CompilerError(f"elm make gave no JSON report: {raw[:500]!r}") from None
