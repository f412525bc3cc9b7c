"""The characters of Elm names, as the compiler reads them.

The compiler (``Parse/Variable.hs``) starts an upper-case name with ``A``-``Z`` or a
character Haskell's ``Char.isUpper`` accepts (Unicode categories Lu and Lt), a
lower-case name with ``a``-``z`` or ``Char.isLower`` (Ll), and continues either
with ASCII letters, digits and ``_`` or ``Char.isAlpha`` (any letter: L*). So
``Été`` and ``café`` are names, ``x²`` and ``x٣`` are not (digits other than ASCII
are no letters), and ``ª`` (a letter of category Lo) starts none.

The classes are those of the compiler itself, measured: its tables are those of an
older Unicode than Python's (letters assigned since Unicode 8, such as U+AB63
Cherokee or U+1CAC Georgian, are no name characters to it, and U+1885-U+1886, once
Mongolian letters, still are), so ``namechars_table.py`` holds the code points it
accepts in each place, asked of it one by one by ``python -m
elmgrammar.oracles.nameprobe``. The same on every Python.

They are built once at import, as regex patterns that stay as fast as ``\\w`` on ASCII text:
Python's ``re`` looks a character up in one table for a class within the first
65,536 code points, but tries the ranges of a class beyond them one by one, so the
few letters past them sit behind a one-range guard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import namechars_table as _table

_BMP_END = 0x10000


def _ranges(runs: Iterable[tuple[int, int]]) -> str:
    """A regex character-class body for runs of code points (first, last)."""
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in runs)


def _split(ascii_part: str, runs: Iterable[tuple[int, int]]) -> tuple[str, str]:
    """The class of one character (``ascii_part`` plus ``runs``) as a pattern, and
    the same class's part within the first 65,536 code points."""
    low = [(a, min(b, _BMP_END - 1)) for a, b in runs if a < _BMP_END]
    high = [(max(a, _BMP_END), b) for a, b in runs if b >= _BMP_END]
    bmp = f"[{ascii_part}{_ranges(low)}]"
    if not high:
        return bmp, bmp
    return f"(?:{bmp}|(?=[\\U00010000-\\U0010ffff])[{_ranges(high)}])", bmp


# regex patterns of one character: the first of an upper-case name, the first of a
# lower-case name, any further one
UPPER_START = _split("A-Z", _table.UPPER_START)[0]
LOWER_START = _split("a-z", _table.LOWER_START)[0]
INNER, _INNER_BMP = _split("A-Za-z0-9_", _table.INNER)
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
