"""The fast paths of the parser give what the plain ones give.

``parse_module`` runs lark's LALR table in its own loop (``elmgrammar.lalr``) and lexes
a file in large chunks; lark's own ``Lark.parse`` and line-by-line lexing are the
references, on the npm corpus and its mutants.
"""

from __future__ import annotations

import pytest
from lark import Token
from lark.exceptions import UnexpectedToken

from elmgrammar import parser as P
from elmgrammar.builder import ParseContext, context_var
from elmgrammar.errors import ElmSyntaxError
from elmgrammar.lalr import LalrLoop
from elmgrammar.lexer import Lexer, make_token
from elmgrammar.mutants import mutants


def _outcome(run, text: str):
    """The value, or the unexpected token (all its fields) and the expected set."""
    context = ParseContext(expression=False, end=(1, 1))
    reset = context_var.set(context)
    try:
        return "value", run(text)
    except UnexpectedToken as e:
        return "unexpected", [getattr(e.token, f) for f in Token.__slots__], sorted(e.expected)
    except ElmSyntaxError as e:
        return "error", str(e)
    finally:
        context_var.reset(reset)


def _texts(real_files, mutated_files: int, every: int) -> list[str]:
    """Every ``every``-th real file, and the mutants of the first ``mutated_files`` of those."""
    texts = [path.read_text(encoding="utf-8") for path in real_files[::every]]
    out = list(texts)
    for text in texts[:mutated_files]:
        out += [m.text for m in mutants(text, per_kind=1)]
    return out


def test_the_loop_gives_what_lark_gives(real_files):
    loop = LalrLoop(P.lark_parser())
    texts = _texts(real_files, mutated_files=10, every=3)
    unexpected = 0
    for text in texts:
        ours = _outcome(lambda t: loop.parse(P.layout_tokens(t, recent=context_var.get().recent), "module"), text)
        theirs = _outcome(lambda t: P.lark_parser().parse(t, start="module"), text)
        assert ours == theirs, text[:200]
        unexpected += ours[0] == "unexpected"
    assert unexpected > 20  # the mutants reach the error path


@pytest.mark.parametrize("start,text", [("expr", "f x |> g"), ("declarations", "x = 1\n\ny = x\n"),
                                        ("expr", "(1, "), ("module", "x =")])
def test_the_loop_on_each_start_rule(start, text):
    loop = LalrLoop(P.lark_parser())
    expression = start == "expr"

    def ours(t):
        return loop.parse(P.layout_tokens(t, expression=expression), start)

    def theirs(t):
        context_var.get().expression = expression
        return P.lark_parser().parse(t, start=start)

    assert _outcome(ours, text) == _outcome(theirs, text)


def test_chunked_lexing_gives_what_line_by_line_gives(real_files, monkeypatch):
    texts = _texts(real_files, mutated_files=5, every=4)

    def errors():
        return [[(e.line, e.column, e.message, e.expected) for e in P.check(t)] for t in texts]

    whole = errors()
    monkeypatch.setattr(P, "_CHUNK", 37)  # many chunks a file, a chunk a few lines
    assert errors() == whole
    assert sum(map(len, whole)) > 10


def test_a_lexical_error_in_a_later_chunk_waits_for_the_syntax_error(monkeypatch):
    monkeypatch.setattr(P, "_CHUNK", 8)
    text = "a = 1\n\nx = (1,\n\nb = 2\n\nc = 3\n\ny = \"abc\n"
    (error,) = P.check(text)
    assert (error.line, error.column) == (3, 8)
    (error,) = P.check("a = 1\n\nb = 2\n\ny = \"abc\n")
    assert (error.line, error.column) == (5, 5)


def test_make_token_is_a_lark_token():
    made = make_token("LOWER", "foo", 3, 1, 4, 1, 7, 6)
    plain = Token("LOWER", "foo", 3, 1, 4, 1, 7, 6)
    assert type(made) is Token and made == plain
    assert [getattr(made, f) for f in Token.__slots__] == [getattr(plain, f) for f in Token.__slots__]
    assert [t.type for t in Lexer().tokenize("f x = x")] == ["LOWER", "LOWER", "EQUALS", "LOWER"]
