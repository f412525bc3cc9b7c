"""Generation settings, checked before a model is loaded (light: no torch)."""

from __future__ import annotations


def settings_problem(max_new_tokens: int = 1, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float | None = None) -> str | None:
    """What is wrong with these generation settings, in words naming the command
    line option (None if nothing): checked before a model is loaded, so that a typo
    costs no minutes and shows no traceback from ``generate``."""
    if max_new_tokens < 1:
        return "--max-new-tokens must be at least 1"
    if temperature <= 0:
        return "--temperature must be positive"
    if top_p is not None and not 0 < top_p <= 1:
        return "--top-p must be in (0, 1]"
    if top_k is not None and top_k < 0:
        return "--top-k must be 0 (no limit) or more"
    return None
