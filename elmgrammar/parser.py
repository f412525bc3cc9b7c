"""The parser API: Elm text in, a typed AST out, or an ``ElmSyntaxError``.

>>> module = parse_module("module Main exposing (main)\\n\\nmain = 1 + 2 * 3\\n")
>>> module.declarations[0].body.op
'+'
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Iterator

from lark import Lark, Token
from lark.exceptions import UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import Lexer as LarkLexer

from . import ast as A
from .builder import AstBuilder, ParseContext, context_var
from .errors import ElmLimitError, ElmSyntaxError
from .layout import Layout
from .lexer import Lexer

MAX_BYTES = 5_000_000
"""Larger inputs are refused: no real Elm module comes near (elm/core's largest is ~60 kB)."""

MAX_NESTING = 200
"""Deeper nesting of brackets, ``let`` and ``case`` is refused with a clear error."""



def too_large_message(size: str) -> str:
    """The size limit's message: ``size`` is the input's, in words (``6,000,000 characters``)."""
    return f"too large to check ({size}; the limit is {MAX_BYTES:,} characters)"


def too_deep_message() -> str:
    """The nesting limit's message."""
    return (f"nested too deeply to check (more than {MAX_NESTING} levels of brackets, `let` and `case`; "
            f"the limit is {MAX_NESTING})")


# What each terminal is, in words, for error messages.
DESCRIPTIONS = {
    "_D": "a new declaration at column 1",
    "_SEP": "the next item, aligned with the one above",
    "_CLOSE": "the end of the block",
    "LOWER": "a lower-case name", "UPPER": "an upper-case name",
    "QLOWER": "a qualified name", "QUPPER": "a qualified name",
    "INT": "a number", "HEX": "a number", "FLOAT": "a number", "CHAR": "a character",
    "STRING": "a string", "GLSL": "a GLSL block", "OP": "an operator", "CONS": "`::`",
    "NEG": "`-`", "DOTFIELD": "a field access", "ACCESSOR": "a field accessor",
    "UNDERSCORE": "`_`", "LPAR": "`(`", "RPAR": "`)`", "LBRACK": "`[`", "RBRACK": "`]`",
    "LBRACE": "`{`", "RBRACE": "`}`", "COMMA": "`,`", "BACKSLASH": "`\\`", "EQUALS": "`=`",
    "COLON": "`:`", "PIPE": "`|`", "ARROW": "`->`", "DOTDOT": "`..`",
    "$END": "the end of the input",
}


class _Tokens(LarkLexer):
    """Lark's lexer slot: our lexer followed by the layout post-lexer."""

    __future_interface__ = 0

    def __init__(self, lexer_conf) -> None:  # noqa: D107 - Lark's interface
        pass

    def lex(self, text: str) -> Iterator[Token]:
        context = context_var.get()
        return layout_tokens(text, expression=context.expression)


def layout_tokens(text: str, expression: bool = False, lexer: Lexer | None = None) -> Iterator[Token]:
    """The token stream the grammar sees: real tokens and virtual layout tokens."""
    lexer = lexer or Lexer()
    layout = Layout(expression=expression)
    last = None
    for tok in lexer.tokenize(text):
        if len(layout.stack) > MAX_NESTING:
            raise ElmLimitError(tok.line, tok.column, too_deep_message(), limit="nesting")
        yield from layout.process(tok)
        last = tok
    if last is None:
        raise ElmSyntaxError(1, 1, "empty input: nothing but spaces and comments", ["a declaration"])
    end = Token("$END", "", last.end_pos, last.end_line, last.end_column, last.end_line, last.end_column, last.end_pos)
    yield from layout.finish(end)


@lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The LALR(1) parser over ``elm.lark`` (built once per process)."""
    grammar = files("elmgrammar").joinpath("elm.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer=_Tokens, start=["module", "expr"],
                transformer=AstBuilder(), maybe_placeholders=False)


# Terminals that can start an expression: named as a group in messages.
_TERM_STARTS = frozenset({"LOWER", "UPPER", "QLOWER", "QUPPER", "INT", "HEX", "FLOAT", "CHAR", "STRING",
                          "GLSL", "ACCESSOR", "LPAR", "LBRACK", "LBRACE"})


def _describe(token_types) -> list[str]:
    """What the parser would have accepted, in words, with groups collapsed."""
    types = set(token_types)
    words = []
    if _TERM_STARTS <= types:
        words.append("an expression")
        types -= _TERM_STARTS | {"NEG", "BACKSLASH", "IF", "CASE", "LET"}
    if {"OP", "CONS"} <= types:
        words.append("an operator")
        types -= {"OP", "CONS", "NEG"}
    if "DOTFIELD" in types:
        types.discard("DOTFIELD")
    if {"_D", "_SEP"} <= types:  # LALR lookaheads shared by top level and blocks
        types.discard("_SEP")
    words += sorted({DESCRIPTIONS.get(t, f"`{t.lower()}`") for t in types})
    return words


def _found(tok: Token) -> str:
    if tok.type == "$END":
        return "end of input"
    if tok.type == "_D":
        return f"`{tok.value}` at column 1, which starts a new declaration (is the one above unfinished?)"
    if tok.type == "_SEP":
        return "a new line aligned with the block above (is the item above unfinished?)"
    if tok.type == "_CLOSE":
        return "a line that ends the block above (is the item above unfinished?)"
    return f"`{tok.value}`"


def _run(text: str, start: str) -> A.Module | A.Expr:
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ElmSyntaxError(1, 1, f"not UTF-8 text (byte {e.start}): Elm files are UTF-8") from None
    if len(text) > MAX_BYTES:
        raise ElmLimitError(1, 1, too_large_message(f"{len(text):,} characters"), limit="size")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ElmSyntaxError(line, 1, "a NUL character: this looks like a binary file, not Elm source")
    context = ParseContext(expression=start == "expr")
    token = context_var.set(context)
    try:
        result = lark_parser().parse(text, start=start)
    except UnexpectedToken as e:
        tok = e.token
        message = f"unexpected {_found(tok)}"
        if tok.type == "FLOAT" and "INT" in e.expected and "LOWER" not in e.expected:
            message = "float patterns are not allowed: floats are not exact"
        elif tok.type in ("EQUALS", "ARROW", "COLON"):
            message += " (if it starts a new definition or branch, align it with the one above)"
        raise ElmSyntaxError(tok.line, tok.column, message, _describe(e.expected)) from None
    except UnexpectedInput as e:  # pragma: no cover - our lexer raises its own errors
        raise ElmSyntaxError(e.line, e.column, "unexpected input") from None
    except VisitError as e:
        if isinstance(e.orig_exc, ElmSyntaxError):
            raise e.orig_exc from None
        raise
    finally:
        context_var.reset(token)
    if isinstance(result, A.Module):
        result.problems = context.problems
    return result


def parse_module(text: str) -> A.Module:
    """Parse a whole Elm file. The module header is optional (as for ``Main``).

    Raises ``ElmSyntaxError`` with line, column, message and what was expected.
    """
    return _run(text, "module")


def parse_declarations(text: str) -> list[A.Declaration]:
    """Parse top-level declarations, as a model writes them (a header and imports may
    come first and are ignored).

    >>> [d.name for d in parse_declarations("x = 1\\n\\ny : Int\\ny = 2\\n")]
    ['x', 'y']
    """
    return parse_module(text).declarations


def parse_expression(text: str) -> A.Expr:
    """Parse one expression, e.g. ``parse_expression("f x |> g")``."""
    return _run(text, "expr")
