"""Splitting an Elm file into code units, one per top-level declaration, from the AST.

A unit's text is the source slice of its declaration's span, so the author's formatting
is kept exactly: a value or function with its type annotation, a custom type, a type
alias, a port or an infix declaration, with or without its doc comment. Options:

- ``doc``: keep the ``{-| -}`` doc comment in front of the declaration (default) or not.
- ``comments``: keep ``--`` / ``{- -}`` comments inside the declaration (default) or
  remove them (see :mod:`.comments`).
- ``context``: put the module header and the imports (source slices) before the unit,
  so a model sees what names are in scope. ``start_line`` / ``end_line`` still give the
  declaration's own lines in the file.

Every unit is re-parsed on its own (``verify``): it must be a module with exactly one
declaration, of the same name and kind. A unit that fails is not emitted but counted,
with the reason, in :attr:`FileUnits.dropped`.

>>> [(u.kind, u.name, u.text) for u in split_units("module M exposing (..)\\n\\nx : Int\\nx = 1\\n").units]
[('value', 'x', 'x : Int\\nx = 1')]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from elmgrammar import ast as A
from elmgrammar.errors import ElmSyntaxError
from elmgrammar.lexer import Lexer
from elmgrammar.parser import parse_declarations, parse_module

from .comments import strip_comments

KINDS = ("function", "value", "type", "type_alias", "port", "infix")
"""Unit kinds: a value declaration with arguments is a ``function``, without one a ``value``."""

UNIT_KEYS = ("text", "kind", "name", "repo", "path", "licence", "start_line", "end_line")
"""The keys of a unit record, in order (``elmgrammar units --json`` prints these)."""


@dataclass(frozen=True)
class UnitOptions:
    """How to cut units; the defaults keep doc comments and comments, and add no context."""

    doc: bool = True
    comments: bool = True
    context: bool = False
    verify: bool = True


@dataclass
class Unit:
    """One declaration's text, kind, name and its lines (1-based, inclusive) in the file."""

    text: str
    kind: str
    name: str
    start_line: int
    end_line: int

    def record(self, repo: str | None, path: str | None, licence: str | None) -> dict:
        """The unit as a JSON-ready record with the keys of :data:`UNIT_KEYS`."""
        return {"text": self.text, "kind": self.kind, "name": self.name, "repo": repo, "path": path,
                "licence": licence, "start_line": self.start_line, "end_line": self.end_line}


@dataclass
class FileUnits:
    """The units of one file, and those dropped because they did not verify (with why)."""

    units: list[Unit] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    comment_fallbacks: int = 0  # units whose comments needed the column-exact removal


def declaration_kind(decl: A.Declaration) -> str:
    """The unit kind of a declaration (one of :data:`KINDS`)."""
    if isinstance(decl, A.ValueDeclaration):
        return "function" if decl.args else "value"
    if isinstance(decl, A.CustomType):
        return "type"
    if isinstance(decl, A.TypeAlias):
        return "type_alias"
    if isinstance(decl, A.PortDeclaration):
        return "port"
    if isinstance(decl, A.InfixDeclaration):
        return "infix"
    raise TypeError(f"not a declaration: {type(decl).__name__}")


def declaration_name(decl: A.Declaration) -> str:
    """The declared name; an infix declaration is named by its operator, ``(|>)``."""
    if isinstance(decl, A.InfixDeclaration):
        return f"({decl.operator})"
    return decl.name


def comment_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the ``--`` and ``{- -}`` comments of a text that lexes."""
    lexer = Lexer(keep_comments=True)
    lexer.tokenize(text)
    return lexer.comments or []


def _inside(comments: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The comments within [start, end), shifted to offsets relative to start."""
    return [(s - start, e - start) for s, e in comments if s >= start and e <= end]


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \r\n":
        i += 1
    return i


def _skip_comments(text: str, i: int, comments: list[tuple[int, int]]) -> int:
    """The first offset from i on that is neither space nor one of the comments (when
    comments are removed, a unit starts at its first token, and so does its start_line)."""
    ends = dict(comments)
    i = _skip_spaces(text, i)
    while i in ends:
        i = _skip_spaces(text, ends[i])
    return i


def split_units(text: str, options: UnitOptions = UnitOptions(), module: A.Module | None = None) -> FileUnits:
    """The units of an Elm file's text (raises ``ElmSyntaxError`` if it does not parse).

    ``module`` may be passed when the caller already parsed ``text``.
    """
    module = module or parse_module(text)
    need_comments = not options.comments
    comments = comment_spans(text) if need_comments else []
    context = _context(text, module, comments) if options.context else ""
    result = FileUnits()
    for decl in module.declarations:
        span = decl.span
        start = span.offset
        if decl.doc is not None and not options.doc:
            # the span starts with the doc comment; the declaration proper starts at the
            # first character after it that is not a space
            assert text.startswith(decl.doc, start), "doc comment not at the start of its span"
            start = _skip_spaces(text, start + len(decl.doc))
        if need_comments:
            start = _skip_comments(text, start, comments)
        start_line = span.line + text.count("\n", span.offset, start)
        body = text[start:span.end_offset]
        kind, name = declaration_kind(decl), declaration_name(decl)
        inner = _inside(comments, start, span.end_offset) if need_comments else []
        if inner:
            body = strip_comments(body, inner)
        problem = _check(context + body, kind, name) if options.verify else None
        if problem is not None and inner:
            # the tidy removal moved a token whose column matters: keep every column
            result.comment_fallbacks += 1
            body = strip_comments(text[start:span.end_offset], inner, exact=True)
            problem = _check(context + body, kind, name)
        unit = Unit(context + body, kind, name, start_line, span.end_line)
        if problem is None:
            result.units.append(unit)
        else:
            result.dropped.append(f"{start_line}: {kind} {name}: {problem}")
    return result


def _context(text: str, module: A.Module, comments: list[tuple[int, int]]) -> str:
    """The module header and the imports as source slices (comments removed if asked),
    followed by a blank line; empty when the file has neither."""
    pieces = []
    items = ([module.header] if module.header else []) + list(module.imports)
    for item in items:
        s, e = item.span.offset, item.span.end_offset
        pieces.append(strip_comments(text[s:e], _inside(comments, s, e)) if comments else text[s:e])
    if not pieces:
        return ""
    header = pieces[0] + "\n\n" if module.header else ""
    imports = "\n".join(pieces[1:] if module.header else pieces)
    return header + (imports + "\n\n" if imports else "")


def _check(unit_text: str, kind: str, name: str) -> str | None:
    """None when the unit parses alone as one declaration of this kind and name; else why."""
    try:
        declarations = parse_declarations(unit_text)
    except ElmSyntaxError as e:
        return f"does not parse on its own: {e}"
    except RecursionError:
        return "does not parse on its own: nested too deeply"
    found = [(declaration_kind(d), declaration_name(d)) for d in declarations]
    if found != [(kind, name)]:
        return f"parses as {found} instead of one {kind} {name}"
    return None
