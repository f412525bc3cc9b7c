"""Deterministic mutants of valid Elm files: small edits that usually break the syntax.

Used to judge parsers on invalid code: each mutant is compared with the Elm
compiler's verdict. The edits are the slips people and models make: a token
deleted, inserted or replaced, a line dedented to column 1 or moved a few
columns, two lines swapped, a file cut off in the middle of a declaration.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from .errors import ElmSyntaxError
from .lexer import Lexer

KINDS = ("delete-token", "insert-token", "replace-token", "dedent-line", "shift-line", "swap-lines",
         "truncate")

# Tokens worth inserting: brackets, keywords, operators and names.
INSERTIONS = ["(", ")", "[", "]", "{", "}", ",", "=", "->", "|", ":", "::", "+", "in", "of", "let",
              "case", "if", "then", "else", "x", "Foo", "1", "\"s\"", ".", "\\"]


@dataclass(frozen=True)
class Mutant:
    """One edited copy of a source: ``kind`` of edit and a short description."""

    kind: str
    description: str
    text: str


def _rng(text: str, kind: str, index: int) -> random.Random:
    digest = hashlib.sha256(f"{kind}:{index}:".encode() + text.encode("utf-8", "replace")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _tokens(text: str):
    try:
        return Lexer().tokenize(text)
    except ElmSyntaxError:
        return []


def mutants(text: str, per_kind: int = 2) -> list[Mutant]:
    """``per_kind`` mutants of each kind in ``KINDS`` (fewer when the file is too
    small), the same every time for the same text. Mutants equal to the original
    are dropped."""
    tokens = _tokens(text)
    lines = text.split("\n")
    out: list[Mutant] = []
    for kind in KINDS:
        for i in range(per_kind):
            rng = _rng(text, kind, i)
            m = _mutate(kind, rng, text, tokens, lines)
            if m is not None and m.text != text:
                out.append(m)
    return out


def _mutate(kind: str, rng: random.Random, text: str, tokens, lines: list[str]) -> Mutant | None:
    if kind == "delete-token" and tokens:
        t = rng.choice(tokens)
        return Mutant(kind, f"deleted `{t.value[:20]}` at {t.line}:{t.column}",
                      text[:t.start_pos] + text[t.end_pos:])
    if kind == "insert-token" and tokens:
        t = rng.choice(tokens)
        new = rng.choice(INSERTIONS)
        return Mutant(kind, f"inserted `{new}` before {t.line}:{t.column}",
                      text[:t.start_pos] + new + " " + text[t.start_pos:])
    if kind == "replace-token" and tokens:
        t = rng.choice(tokens)
        new = rng.choice(INSERTIONS)
        return Mutant(kind, f"replaced `{t.value[:20]}` at {t.line}:{t.column} by `{new}`",
                      text[:t.start_pos] + new + text[t.end_pos:])
    if kind == "shift-line":
        code = [i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("--")]
        if code:
            i = rng.choice(code)
            shift = rng.choice([-4, -2, -1, 1, 2, 4])
            indent = len(lines[i]) - len(lines[i].lstrip(" "))
            new_lines = list(lines)
            new_lines[i] = " " * max(0, indent + shift) + lines[i].lstrip(" ")
            return Mutant(kind, f"moved line {i + 1} by {shift} columns", "\n".join(new_lines))
    if kind == "dedent-line":
        indented = [i for i, line in enumerate(lines) if line.startswith(" ") and line.strip()
                    and not line.strip().startswith("--")]
        if indented:
            i = rng.choice(indented)
            new_lines = list(lines)
            new_lines[i] = lines[i].lstrip(" ")
            return Mutant(kind, f"dedented line {i + 1}", "\n".join(new_lines))
    if kind == "swap-lines":
        code = [i for i, line in enumerate(lines[:-1]) if line.strip() and lines[i + 1].strip()
                and lines[i] != lines[i + 1]]
        if code:
            i = rng.choice(code)
            new_lines = list(lines)
            new_lines[i], new_lines[i + 1] = lines[i + 1], lines[i]
            return Mutant(kind, f"swapped lines {i + 1} and {i + 2}", "\n".join(new_lines))
    if kind == "truncate" and len(tokens) > 2:
        t = tokens[rng.randrange(1, len(tokens) - 1)]
        return Mutant(kind, f"cut after `{t.value[:20]}` at {t.line}:{t.column}", text[:t.end_pos] + "\n")
    return None
