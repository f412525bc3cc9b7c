"""The evaluation's one error type: bad input said in words, never a traceback."""

from __future__ import annotations

from elmgrammar.decode.settings import option_name


class EvaluateError(Exception):
    """A user-facing problem with the evaluation's inputs (a missing model, a malformed
    prompt or generations file, an Elm project that cannot be compiled offline).
    The message is complete. With ``argument`` (an :class:`~.run.EvaluateOptions`
    field), the message says what is wrong with it and ``str()`` names the field
    (``per_prompt must be at least 1``); :meth:`as_option` names the command line's
    option instead."""

    def __init__(self, message: str, argument: str | None = None) -> None:
        self.message, self.argument = message, argument
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.message if self.argument is None else f"{self.argument} {self.message}"

    def as_option(self, options: dict[str, str] | None = None) -> str:
        """The message in the command line's words (``--gen-per-prompt must be at least 1``)."""
        return self.message if self.argument is None else f"{option_name(self.argument, options)} {self.message}"
