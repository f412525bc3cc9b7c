"""Seconds per completion judged, per judge: the cost of each column of the report.

The completions are made from real Elm code (the corpus of ``elmgrammar setup``, or
given files): each function or value's annotation and head is a prompt, and its real
body (valid), the body cut in half (a cut-off prefix) and a mutant of it (mostly
invalid) are three completions. Or ``--generations FILE`` judges given completions.

Every judge sees the same completions in one run; the compiler runs batched without
its verdict cache, elm-format a process per completion, and "project" is the compile
check inside a dependency-free Elm project.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from elmgrammar import ast as A
from elmgrammar.errors import ElmSyntaxError
from elmgrammar.files import read_source
from elmgrammar.parser import parse_module
from elmgrammar.mutants import mutants
from elmgrammar.oracles import ElmCompiler, ElmFormat, TreeSitterElm

from .generations import Generation
from .heldout import heldout_from_units
from .judges import ours
from .metrics import length, reference_scores, repetition
from .project import ElmProjectCompiler, core_project

BENCH_JUDGES = ("ours", "compiler", "tree-sitter", "elm-format", "project", "measures")
DESCRIPTIONS = {
    "ours": "our grammar: parse + viable-prefix check, in process",
    "compiler": "elm make, batched, no verdict cache",
    "tree-sitter": "tree-sitter-elm, in process",
    "elm-format": "elm-format --stdin, a process per completion",
    "project": "elm make inside an Elm project (naming and types too)",
    "measures": "repetition, length, exact match and edit similarity",
}


def completions_from_files(paths: Sequence[Path], count: int = 150) -> list[Generation]:
    """Up to ``count`` completions (valid, cut off, mutated in turn) from the value
    declarations of Elm files, in file order."""
    out: list[Generation] = []
    for path in paths:
        source = read_source(path)
        if source.error is not None:
            continue
        try:
            module = parse_module(source.text)
        except (ElmSyntaxError, RecursionError):
            continue
        # each value declaration's source slice, as the corpus's units would hold it
        units = [{"text": source.text[d.span.offset:d.span.end_offset], "kind": "function", "name": d.name}
                 for d in module.declarations if isinstance(d, A.ValueDeclaration)]
        for item in heldout_from_units(units, max_reference_chars=2000):
            body = item.reference
            cut = body[: max(1, len(body) // 2)]
            mutated = next((m.text[len(item.prompt):] for m in mutants(item.prompt + body, per_kind=1)
                            if m.text.startswith(item.prompt)), body + ")")
            for sample, completion in enumerate((body, cut, mutated)):
                out.append(Generation(item.prompt, completion, "bench", len(out) // 3, sample, reference=body))
                if len(out) >= count:
                    return out
    return out


def _runner(judge: str, tmp: Path):
    """A function judging a list of programs with ``judge`` (set up and warmed up)."""
    if judge == "ours":
        ours("x = 1\n")
        return lambda gens: [ours(g.program) for g in gens]
    if judge == "compiler":
        compiler = ElmCompiler(cache=False)
        compiler.check("x = 1\n")
        return lambda gens: compiler.check_many([g.program for g in gens])
    if judge == "tree-sitter":
        ts = TreeSitterElm()
        return lambda gens: ts.check_many([g.program for g in gens])
    if judge == "elm-format":
        fmt = ElmFormat()
        fmt.check("x = 1\n")
        return lambda gens: fmt.check_many([g.program for g in gens])
    if judge == "project":
        project, home = core_project(tmp)
        compiler = ElmProjectCompiler(project, elm_home=home)
        compiler.check_many(["x = 1\n"])
        return lambda gens: compiler.check_many([g.program for g in gens])
    if judge == "measures":
        def measure(gens):
            for g in gens:
                repetition(g.completion), length(g.completion)
                if g.reference is not None:
                    reference_scores(g.completion, g.reference)
        return measure
    raise ValueError(f"unknown judge {judge!r}; choose from {', '.join(BENCH_JUDGES)}")


def bench_evaluate(generations: Sequence[Generation], judges: Sequence[str] = BENCH_JUDGES) -> list[dict]:
    """Time each judge on all ``generations``; a row per judge:
    ``{"judge", "description", "completions", "seconds", "ms_per_completion", "vs_ours"}``
    (``vs_ours``: the judge's time per completion over ours)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="elmgrammar-bench-") as tmp:
        runners = {j: _runner(j, Path(tmp) / j) for j in judges}  # ToolMissing before any timing
        for judge, run in runners.items():
            start = time.perf_counter()
            run(list(generations))
            seconds = time.perf_counter() - start
            rows.append({"judge": judge, "description": DESCRIPTIONS[judge], "completions": len(generations),
                         "seconds": seconds, "ms_per_completion": 1000 * seconds / max(1, len(generations))})
    mine = next((r["ms_per_completion"] for r in rows if r["judge"] == "ours"), None)
    for r in rows:
        r["vs_ours"] = r["ms_per_completion"] / mine if mine else None
    return rows


def format_evaluate(rows: list[dict]) -> str:
    """The rows as a table."""
    out = [f"{'judge':<13}{'completions':>12}{'seconds':>10}{'ms each':>10}{'vs ours':>9}  how"]
    for r in rows:
        vs = "" if r["vs_ours"] is None else f"{r['vs_ours']:.2f}x"
        out.append(f"{r['judge']:<13}{r['completions']:>12}{r['seconds']:>10.3f}{r['ms_per_completion']:>10.2f}"
                   f"{vs:>9}  {r['description']}")
    return "\n".join(out)
