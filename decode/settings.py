"""Generation settings, checked before a model is loaded (light: no torch), and the
command line's name for an argument."""

from __future__ import annotations

from dataclasses import dataclass


def option_name(argument: str, options: dict[str, str] | None = None) -> str:
    """The command line's option for a keyword argument: ``max_new_tokens`` is
    ``--max-new-tokens`` unless ``options`` names another."""
    return (options or {}).get(argument) or "--" + argument.replace("_", "-")


@dataclass(frozen=True)
class SettingsProblem:
    """What is wrong with one generation setting: ``str()`` names the keyword
    argument (``max_new_tokens must be at least 1``), :meth:`as_option` the command
    line's option (``--max-new-tokens must be at least 1``)."""

    argument: str
    reason: str

    def __str__(self) -> str:
        return f"{self.argument} {self.reason}"

    def as_option(self, options: dict[str, str] | None = None) -> str:
        """The problem in the command line's words (see :func:`option_name`)."""
        return f"{option_name(self.argument, options)} {self.reason}"


def settings_problem(max_new_tokens: int = 1, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float | None = None) -> SettingsProblem | None:
    """What is wrong with these generation settings (None if nothing): checked before
    a model is loaded, so that a typo costs no minutes and shows no traceback from
    ``generate``.

    >>> str(settings_problem(max_new_tokens=0))
    'max_new_tokens must be at least 1'
    """
    if max_new_tokens < 1:
        return SettingsProblem("max_new_tokens", "must be at least 1")
    if temperature <= 0:
        return SettingsProblem("temperature", "must be positive")
    if top_p is not None and not 0 < top_p <= 1:
        return SettingsProblem("top_p", "must be in (0, 1]")
    if top_k is not None and top_k < 0:
        return SettingsProblem("top_k", "must be 0 (no limit) or more")
    return None
