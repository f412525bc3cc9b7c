"""Prompt sets for evaluation, in the user's ``test.json`` format: ``[{"prompt": ...}]``.

An item may also carry a ``"reference"`` (the real continuation, for exact match and
edit similarity) and a ``"name"``; held-out prompts built from the corpus have both
(:mod:`.heldout`).

>>> seed_prompts()[0]
'main ='
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

from .errors import EvaluateError


@dataclass(frozen=True)
class PromptItem:
    """One prompt, with the reference continuation when one is known."""

    prompt: str
    reference: str | None = None
    name: str | None = None

    def as_dict(self) -> dict:
        """The item in ``test.json`` form (keys that are None are left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_prompt_items(text: str, source: str = "<prompts>") -> list[PromptItem]:
    """The items of a ``test.json`` text; :class:`EvaluateError` names the file, line and
    column of a JSON error, or the item that is not ``{"prompt": "..."}``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise EvaluateError(f"{source}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    if not isinstance(data, list):
        raise EvaluateError(f"{source}: expected a JSON list of {{\"prompt\": ...}} objects, "
                            f"found {type(data).__name__}")
    items = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
            raise EvaluateError(f"{source}: item {i} is not an object with a \"prompt\" string: {json.dumps(item)[:80]}")
        reference = item.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise EvaluateError(f"{source}: item {i}: \"reference\" must be a string")
        items.append(PromptItem(item["prompt"], reference, item.get("name")))
    if not items:
        raise EvaluateError(f"{source}: no prompts")
    return items


def load_prompt_items(path: str | Path) -> list[PromptItem]:
    """The items of a ``test.json`` file (see :func:`parse_prompt_items`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvaluateError(f"{path}: no such prompt file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EvaluateError(f"{path}: cannot read the prompt file: {e}") from None
    return parse_prompt_items(text, str(path))


def load_prompts(path: str | Path) -> list[str]:
    """The prompts of a ``test.json`` file (a list of ``{"prompt": ...}``)."""
    return [item.prompt for item in load_prompt_items(path)]


def seed_prompt_items() -> list[PromptItem]:
    """The seed prompts as items (no references)."""
    text = files("elmgrammar.evaluate").joinpath("data/seed_prompts.json").read_text(encoding="utf-8")
    return parse_prompt_items(text, "seed_prompts.json")


def seed_prompts() -> list[str]:
    """The prompts the original report published (9 of its 21), verbatim."""
    return [item.prompt for item in seed_prompt_items()]


def write_prompt_items(items: list[PromptItem], path: str | Path) -> None:
    """Write items as a ``test.json`` file (UTF-8, indented)."""
    Path(path).write_text(json.dumps([i.as_dict() for i in items], indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
