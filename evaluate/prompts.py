"""Prompt sets for evaluation, in the user's ``test.json`` format: ``[{"prompt": ...}]``."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path


def load_prompts(path: str | Path) -> list[str]:
    """The prompts of a ``test.json`` file (a list of ``{"prompt": ...}``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [item["prompt"] for item in data]


def seed_prompts() -> list[str]:
    """The prompts the original report published (9 of its 21), verbatim."""
    text = files("elmgrammar.evaluate").joinpath("data/seed_prompts.json").read_text(encoding="utf-8")
    return [item["prompt"] for item in json.loads(text)]
