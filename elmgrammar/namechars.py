"""The characters of Elm names, as the compiler reads them.

The compiler (``Parse/Variable.hs``) starts an upper-case name with ``A``-``Z`` or a
character Haskell's ``Char.isUpper`` accepts (Unicode categories Lu and Lt), a
lower-case name with ``a``-``z`` or ``Char.isLower`` (Ll), and continues either
with ASCII letters, digits and ``_`` or ``Char.isAlpha`` (any letter: L*). So
``Été`` and ``café`` are names, ``x²`` and ``x٣`` are not (digits other than ASCII
are no letters), and ``ª`` (a letter of category Lo) starts none.

The classes come from Python's Unicode database (version 14 for Python 3.11). The
compiler's own tables are older (about Unicode 7): a letter assigned since, such as
U+AB63 (Cherokee, Unicode 8) or U+1CAC (Georgian, Unicode 11), is a name character
here and an error to the compiler, the one known difference (16 of 891 texts with a
character of every category past ASCII in a name, all such letters).

They are built once at import (with the lexer's patterns that use them, about a
tenth of a second), as regex patterns that stay as fast as ``\\w`` on ASCII text:
Python's ``re`` looks a character up in one table for a class within the first
65,536 code points, but tries the ranges of a class beyond them one by one, so the
few letters past them sit behind a one-range guard.
"""

from __future__ import annotations

import re
import unicodedata

_BMP_END = 0x10000


def _ranges(runs: list[tuple[int, int]]) -> str:
    """A regex character-class body for runs of code points (first, last)."""
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in runs)


def _runs(codes: list[int]) -> list[tuple[int, int]]:
    """Sorted code points as runs of consecutive ones (first, last)."""
    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    return runs


def _split(ascii_part: str, runs: list[tuple[int, int]]) -> tuple[str, str]:
    """The class of one character (``ascii_part`` plus ``runs``) as a pattern, and
    the same class's part within the first 65,536 code points."""
    low = [(a, min(b, _BMP_END - 1)) for a, b in runs if a < _BMP_END]
    high = [(max(a, _BMP_END), b) for a, b in runs if b >= _BMP_END]
    bmp = f"[{ascii_part}{_ranges(low)}]"
    if not high:
        return bmp, bmp
    return f"(?:{bmp}|(?=[\\U00010000-\\U0010ffff])[{_ranges(high)}])", bmp


def _letters() -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """The letters past ASCII (categories L*) as runs, and the code points of those
    in Lu or Lt, and in Ll. No letter lies past plane 3 (planes 4-13 are unassigned,
    14 holds tags and variation selectors, 15-16 private use)."""
    base = 0x80
    flags = bytes(c.isalpha() for c in map(chr, range(base, 0x40000)))
    letters = [(m.start() + base, m.end() - 1 + base) for m in re.finditer(rb"\x01+", flags)]
    # Lu and Lt letters are among those Python calls upper or title case, Ll among
    # the lower-case ones: the category is asked of those few thousand only
    upper, lower = [], []
    for first, last in letters:
        for code in range(first, last + 1):
            c = chr(code)
            if (c.isupper() or c.istitle()) and unicodedata.category(c) in ("Lu", "Lt"):
                upper.append(code)
            elif c.islower() and unicodedata.category(c) == "Ll":
                lower.append(code)
    return letters, upper, lower


_LETTERS, _UPPER_CODES, _LOWER_CODES = _letters()
# regex patterns of one character: the first of an upper-case name, the first of a
# lower-case name, any further one
UPPER_START = _split("A-Z", _runs(_UPPER_CODES))[0]
LOWER_START = _split("a-z", _runs(_LOWER_CODES))[0]
INNER, _INNER_BMP = _split("A-Za-z0-9_", _LETTERS)
# a run of further characters (maybe none), written so that the common case is one
# table lookup per character
INNER_RUN = f"{_INNER_BMP}*(?:(?=[\\U00010000-\\U0010ffff]){INNER}{_INNER_BMP}*)*"
# whole names (one part of a qualified name)
UPPER_NAME = UPPER_START + INNER_RUN
LOWER_NAME = LOWER_START + INNER_RUN

_UPPER_START = re.compile(UPPER_START)
_LOWER_START = re.compile(LOWER_START)
_INNER = re.compile(INNER)


def is_upper_start(c: str) -> bool:
    """May the character ``c`` start an upper-case name (a type, a constructor, a module)?"""
    return _UPPER_START.match(c) is not None


def is_lower_start(c: str) -> bool:
    """May the character ``c`` start a lower-case name (a variable, a field)?"""
    return _LOWER_START.match(c) is not None


def is_inner(c: str) -> bool:
    """May the character ``c`` continue a name?"""
    return _INNER.match(c) is not None
