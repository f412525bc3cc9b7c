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
from .lalr import LalrLoop
from .layout import ENDERS, Layout
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
    "STRING": "a string", "GLSL": "a GLSL block", "OP": "an operator", "DOTOP": "an operator", "CONS": "`::`",
    "NEG": "`-`", "DOTFIELD": "a field access", "ACCESSOR": "a field accessor",
    "UNDERSCORE": "`_`", "LPAR": "`(`", "RPAR": "`)`", "LONE_RPAR": "`)`", "LBRACK": "`[`", "RBRACK": "`]`",
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
        return layout_tokens(text, expression=context.expression, recent=context.recent)


def layout_tokens(text: str, expression: bool = False, lexer: Lexer | None = None,
                  recent: list[Token] | None = None) -> Iterator[Token]:
    """The token stream the grammar sees: real tokens and virtual layout tokens.

    ``recent``, if given, holds the real token being given out (last) and the one
    before it, for placing errors (:func:`place_error`)."""
    lexer = lexer or Lexer()
    layout = Layout(expression=expression)
    recent = [] if recent is None else recent
    last = None
    for tok in _real_tokens(text, lexer):
        if len(layout.stack) > MAX_NESTING:
            raise ElmLimitError(tok.line, tok.column, too_deep_message(), limit="nesting")
        nothing_open = len(layout.stack) == 1 and layout.pending is None
        try:
            out = layout.process(tok)
        except ElmSyntaxError as e:
            # Too far left: inside brackets or a block (or before a `let`'s first
            # definition), the construct above is left unfinished; a `}`, or a
            # keyword with nothing open, is itself the problem (as the compiler
            # reports them).
            if tok.type == "RBRACE" or nothing_open:
                raise
            raise place_error(e, tok, last) from None
        recent[:] = [last, tok] if last is not None else [tok]
        yield from out
        last = tok
    if last is None:
        raise ElmSyntaxError(1, 1, "empty input: nothing but spaces and comments", ["a declaration"])
    end = Token("$END", "", last.end_pos, last.end_line, last.end_column, last.end_line, last.end_column, last.end_pos)
    recent[:] = [last, end]
    yield from layout.finish(end)


_CHUNK = 1 << 16
"""Characters lexed per call (up to the end of a line): a file at once, but the
tokens held in memory stay bounded for a huge input."""


def _real_tokens(text: str, lexer: Lexer) -> Iterator[Token]:
    """The lexer's tokens. A lexical error further on must not be reported before a
    syntax error that the parser finds earlier: a chunk of text that holds one is
    lexed again a line at a time, and its tokens are given out up to the error."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + _CHUNK) + 1 or len(text)
        before = lexer.copy()
        try:
            tokens = lexer.feed(text[start:end])
        except ElmSyntaxError:
            yield from _tokens_by_line(text, start, end, before)
            raise  # pragma: no cover - the lines hold the same error
        yield from tokens
        start = end
    yield from lexer.finish()


def _tokens_by_line(text: str, start: int, stop: int, lexer: Lexer) -> Iterator[Token]:
    """The tokens of ``text[start:stop]``, fed a line at a time to ``lexer`` (in its
    state at ``start``), up to the line with a lexical error, which is raised."""
    while start < stop:
        end = text.find("\n", start) + 1 or len(text)
        try:
            tokens = lexer.feed(text[start:end])
        except ElmSyntaxError:
            # the tokens of this line before the error come first (rare: lex again)
            again = Lexer()
            again.feed(text[:start])
            try:
                for c in text[start:end]:
                    yield from again.feed(c)
            except ElmSyntaxError:
                pass
            raise
        yield from tokens
        start = end


def place_error(error: ElmSyntaxError, tok: Token, previous: Token | None) -> ElmSyntaxError:
    """Where the compiler puts an error found at ``tok``: when ``tok`` starts a later
    line than the end of the real token before it (``previous``), the construct left
    unfinished there is the problem, and the error goes to its end."""
    if previous is None or tok.line <= previous.end_line:
        return error
    return ElmSyntaxError(previous.end_line, previous.end_column, f"{error.message} on line {tok.line}",
                          error.expected)


@lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The LALR(1) parser over ``elm.lark`` (built once per process)."""
    grammar = files("elmgrammar").joinpath("elm.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer=_Tokens, start=["module", "declarations", "expr"],
                transformer=AstBuilder(), maybe_placeholders=False)


@lru_cache(maxsize=1)
def _loop() -> LalrLoop:
    """Lark's table and callbacks, run by our loop (see ``lalr.py``: same results, faster)."""
    return LalrLoop(lark_parser())


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
        types -= {"OP", "DOTOP", "CONS", "NEG"}
    if "DOTFIELD" in types:
        types.discard("DOTFIELD")
    if {"_D", "_SEP"} <= types:  # LALR lookaheads shared by top level and blocks
        types.discard("_SEP")
    words += sorted({DESCRIPTIONS.get(t, f"`{t.lower()}`") for t in types})
    return words


_LAYOUT = frozenset({"_D", "_SEP", "_CLOSE"})


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
    last_line = text.rfind("\n") + 1
    context = ParseContext(expression=start == "expr",
                           end=(text.count("\n") + 1, len(text) - last_line - text.count("\r", last_line) + 1))
    token = context_var.set(context)
    try:
        result = _loop().parse(layout_tokens(text, expression=context.expression, recent=context.recent), start)
    except UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END" and context.recent:
            # Lark places its own end token at 1:1 when layout tokens came last
            last = context.recent[-1]
            tok = Token("$END", "", last.end_pos, last.end_line, last.end_column)
        message = f"unexpected {_found(tok)}"
        if tok.type == "FLOAT" and "INT" in e.expected and "LOWER" not in e.expected:
            message = "float patterns are not allowed: floats are not exact"
        elif tok.type in ("EQUALS", "ARROW", "COLON"):
            message += " (if it starts a new definition or branch, align it with the one above)"
        error = ElmSyntaxError(tok.line, tok.column, message, _describe(e.expected))
        recent = context.recent
        if tok.type in _LAYOUT and len(recent) == 2 and recent[1].type not in ENDERS:
            # a line's column ended the item above, unfinished (a keyword or bracket
            # that ends it is itself the problem)
            error = place_error(error, tok, recent[0])
        elif tok.type == "$END" and "_D" in e.expected:
            # a declaration was due: the compiler looks for it up to the end of the text
            error = ElmSyntaxError(*context.end, error.message, error.expected)
        raise error from None
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
    """Parse top-level declarations, as a model writes them: a module's body (a
    header and imports may come first and are ignored; unlike a file, it may start
    with a port declaration).

    >>> [d.name for d in parse_declarations("x = 1\\n\\ny : Int\\ny = 2\\n")]
    ['x', 'y']
    """
    return _run(text, "declarations").declarations


def parse_expression(text: str) -> A.Expr:
    """Parse one expression, e.g. ``parse_expression("f x |> g")``."""
    return _run(text, "expr")


MODES = ("module", "declarations", "expression")
"""What a text may be read as: a whole file (the header is optional), top-level
declarations as a model writes them (a header and imports may come first), or one
expression."""

_PARSERS = {"module": parse_module, "declarations": parse_declarations, "expression": parse_expression}


def check(text: str | bytes, mode: str = "module") -> list[ElmSyntaxError]:
    """The syntax errors of ``text`` read as ``mode`` (one of :data:`MODES`): an
    empty list when it parses. Parsing stops at the first error, so the list holds
    one error at most.

    >>> [str(e) for e in check("x = )")]
    ['1:5: unexpected `)` (expected an expression)']
    >>> check("f x |> g", mode="expression")
    []
    """
    try:
        parse = _PARSERS[mode]
    except KeyError:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}") from None
    try:
        parse(text)
    except ElmSyntaxError as e:
        return [e]
    return []
