"""The core's error types: a syntax error with its place in the source, and the base of
the errors a command reports in one line."""

from __future__ import annotations


class ElmSyntaxError(Exception):
    """Elm source that does not parse, or input that cannot be Elm source.

    ``line`` and ``column`` are 1-based (as editors and the Elm compiler count);
    ``expected`` lists, in words, what would have been accepted there.

    >>> str(ElmSyntaxError(3, 7, "unexpected `)`", ["an expression"]))
    '3:7: unexpected `)` (expected an expression)'
    """

    def __init__(self, line: int, column: int, message: str, expected: list[str] | tuple[str, ...] = ()):
        self.line = line
        self.column = column
        self.message = message
        self.expected = list(expected)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}: {self.message}"
        if self.expected:
            where += " (expected " + ", ".join(self.expected) + ")"
        return where

    def as_dict(self) -> dict:
        """The error as JSON-ready data: ``{"line", "column", "message", "expected"}``."""
        return {"line": self.line, "column": self.column, "message": self.message, "expected": self.expected}


class ElmLimitError(ElmSyntaxError):
    """Input beyond what the parser takes: too large (``limit == "size"``) or nested
    too deeply (``limit == "nesting"``). Not a verdict on the code: the compiler may
    well accept it. A subclass of :class:`ElmSyntaxError`, so that code that refuses
    what does not parse refuses it too.

    >>> str(ElmLimitError(1, 1, "too large to check (6,000,000 characters; the limit is 5,000,000)", limit="size"))
    '1:1: too large to check (6,000,000 characters; the limit is 5,000,000)'
    """

    def __init__(self, line: int, column: int, message: str, *, limit: str) -> None:
        self.limit = limit
        super().__init__(line, column, message)


class UsageError(Exception):
    """Input a command cannot use (a model, a folder, a setting): the message names it
    and says why, and the command line prints it in one line, without a traceback.
    The parts of the program derive their own errors from it."""

    def as_option(self) -> str:
        """The message in the command line's words (errors that name a library
        argument say its option instead)."""
        return str(self)
