"""The judges of a completion's syntax, side by side, and the verdict that counts.

- ``ours``: the project's grammar, three ways: ``valid`` (the program parses),
  ``prefix`` (cut off, but some continuation would parse: only an incremental parser
  can tell), ``invalid`` (with the line, column and message of the error).
- ``compiler``: the Elm 0.19.1 compiler's parser, the ground truth (valid / invalid).
- ``tree-sitter``: tree-sitter-elm, the editors' grammar (lenient).
- ``elm-format``: optional, a process per text (slow, lenient).

The verdict that counts (:func:`final_verdict`) is the compiler's valid / not valid,
with our parser telling a cut-off prefix from a real error; without the compiler
(``elmgrammar setup`` not run) it is ours alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from elmgrammar.decode.state import ElmParseState
from elmgrammar.errors import ElmSyntaxError
from elmgrammar.oracles import ElmCompiler, ElmFormat, ToolMissing, TreeSitterElm
from elmgrammar.parser import parse_module

JUDGES = ("ours", "compiler", "tree-sitter", "elm-format")
STATUSES = ("valid", "prefix", "invalid")


def ours(program: str, mode: str = "declarations") -> dict:
    """Our parser's verdict: ``{"judge", "valid", "status", "line", "column", "message"}``.

    ``status`` is "valid", "prefix" (a viable prefix that does not parse yet) or
    "invalid"; the place is that of the full parser's error.
    """
    error: ElmSyntaxError | None = None
    try:
        parse_module(program)
    except ElmSyntaxError as e:
        error = e
    except RecursionError:
        error = ElmSyntaxError(1, 1, "nested too deeply")
    if error is None:
        return {"judge": "ours", "valid": True, "status": "valid", "line": None, "column": None, "message": None}
    status = "prefix" if ElmParseState(mode, prompt=program).is_viable() else "invalid"
    return {"judge": "ours", "valid": False, "status": status, "line": error.line, "column": error.column,
            "message": error.message}


class Judges:
    """The judges to run, made once (the compiler's workspace, tree-sitter's parser).

    A judge whose tool is not installed is left out, with the reason in ``missing``;
    ``elm_format`` adds elm-format (off by default: a process per completion).
    """

    def __init__(self, *, compiler: bool = True, tree_sitter: bool = True, elm_format: bool = False,
                 mode: str = "declarations") -> None:
        self.mode = mode
        self.missing: dict[str, str] = {}
        self.compiler = self._make("compiler", ElmCompiler) if compiler else None
        self.tree_sitter = TreeSitterElm() if tree_sitter else None
        self.elm_format = self._make("elm-format", ElmFormat) if elm_format else None

    def _make(self, name: str, make):
        try:
            return make()
        except ToolMissing as e:
            self.missing[name] = str(e)
            print(f"elmgrammar evaluate: the {name} judge is left out: {e}", file=sys.stderr)
            return None

    @property
    def names(self) -> list[str]:
        """The judges that will run, in the order of :data:`JUDGES`."""
        present = {"ours": True, "compiler": self.compiler, "tree-sitter": self.tree_sitter,
                   "elm-format": self.elm_format}
        return [name for name in JUDGES if present[name]]

    def judge(self, programs: Sequence[str], progress: bool = False) -> list[dict[str, dict]]:
        """Per program, ``{judge name: verdict dict}`` for every judge that runs."""
        results: list[dict[str, dict]] = [{"ours": ours(p, self.mode)} for p in programs]
        others = [("compiler", self.compiler), ("tree-sitter", self.tree_sitter), ("elm-format", self.elm_format)]
        for name, judge in others:
            if judge is None:
                continue
            for row, verdict in zip(results, judge.check_many(list(programs), progress=progress)):
                row[name] = verdict.as_dict()
        return results

    def close(self) -> None:
        """Remove the compiler's workspace."""
        if self.compiler is not None:
            self.compiler.close()

    def __enter__(self) -> "Judges":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def final_verdict(verdicts: dict[str, dict]) -> dict:
    """The verdict that counts: ``{"status", "judge", "line", "column", "message"}``.

    With the compiler: valid iff it parsed the program; otherwise "prefix" when our
    parser sees a viable prefix, else "invalid" at the compiler's place. Without it:
    our parser's verdict.
    """
    mine = verdicts["ours"]
    compiler = verdicts.get("compiler")
    if compiler is None:
        return {"status": mine["status"], "judge": "ours", "line": mine["line"], "column": mine["column"],
                "message": mine["message"]}
    if compiler["valid"]:
        status = "valid"
    else:
        status = "prefix" if mine["status"] == "prefix" else "invalid"
    where = compiler if not compiler["valid"] else {"line": None, "column": None, "message": None}
    return {"status": status, "judge": "compiler", "line": where["line"], "column": where["column"],
            "message": where["message"]}


def agree(verdicts: dict[str, dict]) -> bool:
    """Do all judges give the same valid / not valid?"""
    return len({v["valid"] for v in verdicts.values()}) == 1
