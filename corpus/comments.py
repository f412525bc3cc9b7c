"""Removing ``--`` and ``{- -}`` comments from a slice of Elm source.

The comment spans come from the core lexer (``Lexer(keep_comments=True)``), so a
``--`` inside a string is never taken for a comment. Two ways to remove them:

- ``tidy``: as a person would. A comment alone on its lines goes with its lines; one
  at the end of a line goes with the spaces before it; one between tokens leaves one
  space so the tokens do not run together; code after a comment that starts a line
  takes the comment's place.
- ``exact``: every remaining token keeps its line and column (comment characters
  become spaces, newlines stay; lines left blank go). This can never change how Elm's
  layout rules read the code, so it is the fallback when a tidy removal happens to move
  a token whose column matters (the first ``let`` definition after a comment on the
  same line, say).

Both only delete comments and whitespace, never a token. The caller re-parses to verify.
"""

from __future__ import annotations


def _line_start(text: str, i: int) -> int:
    return text.rfind("\n", 0, i) + 1


def _line_end(text: str, i: int) -> int:
    """Index of the newline ending the line that holds i (before a ``\\r``), or len."""
    j = text.find("\n", i)
    if j < 0:
        return len(text)
    return j - 1 if j > 0 and text[j - 1] == "\r" else j


def _newline_end(text: str, i: int) -> int:
    """Index just past the newline that ends the line holding i (or len)."""
    j = text.find("\n", i)
    return len(text) if j < 0 else j + 1


def _spaces_before(text: str, i: int, floor: int = 0) -> int:
    while i > floor and text[i - 1] == " ":
        i -= 1
    return i


def strip_comments(text: str, comments: list[tuple[int, int]], exact: bool = False) -> str:
    """``text`` without the comments at the given ``(start, end)`` offsets (into ``text``).

    >>> src = "x =\\n    -- why\\n    1 {- one -} + 2 -- sum\\n"
    >>> spans = [(8, 14), (21, 30), (35, 41)]
    >>> print(strip_comments(src, spans), end="")
    x =
        1 + 2
    """
    if not comments:
        return text
    if exact:
        return _strip_exact(text, comments)
    for start, end in sorted(comments, reverse=True):
        # Later comments first: everything before `start` is still the original text.
        if text.endswith("\r", start, end):
            end -= 1  # a CRLF file's `--` comment swallows the `\r`; keep line endings as found
        text = _remove_one(text, start, end)
    return text


def _remove_one(text: str, start: int, end: int) -> str:
    ls = _line_start(text, start)
    le = _line_end(text, end)
    before_blank = not text[ls:start].strip()
    after_blank = not text[end:le].strip()
    if before_blank and after_blank:
        # the comment has its lines to itself: drop them whole
        return text[:ls] + text[_newline_end(text, end):]
    if after_blank:
        # at the end of a code line: drop it with the spaces before it
        return text[:_spaces_before(text, start, ls)] + text[le:]
    code = end + (len(text[end:le]) - len(text[end:le].lstrip(" ")))
    end_line_start = _line_start(text, end)
    if before_blank and end_line_start == ls:
        # starts the line: the code after it moves to where the comment began (if that
        # breaks an alignment, the caller's check falls back to the exact way)
        return text[:start] + text[code:]
    if before_blank:
        # starts a line and ends on a later one: the code after it keeps its column
        return text[:ls] + " " * (code - end_line_start) + text[code:]
    if end_line_start > start:
        # code on both sides of a comment over several lines: keep the line break and
        # the column of the code after it
        column = code - end_line_start
        newlines = text.count("\n", start, end)
        return text[:_spaces_before(text, start, ls)] + "\n" * newlines + " " * column + text[code:]
    # between tokens on one line: one space keeps them apart
    keep = _spaces_before(text, start, ls)
    return text[:keep] + " " + text[code:]


def _strip_exact(text: str, comments: list[tuple[int, int]]) -> str:
    chars = list(text)
    touched: set[int] = set()  # indices of the lines a comment touched
    for start, end in comments:
        for i in range(start, end):
            if chars[i] not in "\n\r":
                chars[i] = " "
        first = text.count("\n", 0, start)
        touched.update(range(first, first + text.count("\n", start, end) + 1))
    lines = "".join(chars).split("\n")
    out = []
    for number, line in enumerate(lines):
        if number in touched:
            cr = line.endswith("\r")
            line = line.rstrip(" \r")
            if not line:
                continue  # nothing but comment: the line goes (blank lines never matter)
            line += "\r" if cr else ""
        out.append(line)
    result = "\n".join(out)
    if text.endswith("\n") and not result.endswith("\n"):
        result += "\n"
    return result
