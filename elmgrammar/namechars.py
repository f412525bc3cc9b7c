"""The characters of Elm names, as the compiler reads them.

The compiler (``Parse/Variable.hs``) starts an upper-case name with ``A``-``Z`` or a
character Haskell's ``Char.isUpper`` accepts (Unicode categories Lu and Lt), a
lower-case name with ``a``-``z`` or ``Char.isLower`` (Ll), and continues either
with ASCII letters, digits and ``_`` or ``Char.isAlpha`` (any letter: L*). So
``Été`` and ``café`` are names, ``x²`` and ``x٣`` are not (digits other than ASCII
are no letters), and ``ª`` (a letter of category Lo) starts none.

The classes come from Python's Unicode database, built once at import.
"""

from __future__ import annotations

import re
import unicodedata


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


def _classes() -> tuple[str, str, str]:
    # The letters (categories L*) past ASCII, as runs found in one pass (none lie
    # past plane 3: planes 4-13 are unassigned, 14 holds tags and variation
    # selectors, 15-16 private use).
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
    return (f"[A-Z{_ranges(_runs(upper))}]", f"[a-z{_ranges(_runs(lower))}]", f"[A-Za-z0-9_{_ranges(letters)}]")


# regex character classes: the first character of an upper-case name, of a
# lower-case name, and any further character of a name
UPPER_START, LOWER_START, INNER = _classes()

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
