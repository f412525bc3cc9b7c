"""The evaluation's one error type: bad input said in words, never a traceback."""

from __future__ import annotations


class EvaluateError(Exception):
    """A user-facing problem with the evaluation's inputs (a missing model, a malformed
    prompt or generations file, an Elm project that cannot be compiled offline).
    The message is complete: the CLI prints it as is."""
