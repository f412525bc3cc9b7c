"""Held-out prompts from the corpus's test split: a declaration's type annotation and
head (``name args =``) as the prompt, its real body as the reference.

The test split holds repositories the model never saw in training (the dataset is
split by repository), so exact match and edit similarity against the real body say
how close the model gets to what a programmer wrote.

>>> items = heldout_from_units([{"text": "f : Int -> Int\\nf x =\\n    x + 1", "kind": "function", "name": "f"}])
>>> items[0].prompt, items[0].reference
('f : Int -> Int\\nf x =', '\\n    x + 1')
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from elmgrammar import ast as A
from elmgrammar.errors import ElmSyntaxError
from elmgrammar.parser import parse_module

from .errors import EvaluateError
from .prompts import PromptItem

VALUE_KINDS = ("function", "value")


def split_declaration(text: str) -> tuple[str, str] | None:
    """``(prompt, reference)`` of a unit holding one value declaration: everything up to
    and including the ``=`` before the body, and the rest. None for other units."""
    try:
        module = parse_module(text)
    except (ElmSyntaxError, RecursionError):
        return None
    values = [d for d in module.declarations if isinstance(d, A.ValueDeclaration)]
    if len(values) != 1 or len(module.declarations) != 1:
        return None
    decl = values[0]
    # The `=` is the first one after the last argument (or the annotation): a comment
    # after it may hold another `=`.
    after = decl.args[-1].span.end_offset if decl.args else \
        decl.annotation.span.end_offset if decl.annotation else decl.span.offset + len(decl.doc or "")
    equals = text.find("=", after, decl.body.span.offset)
    if equals < 0:
        return None
    return text[:equals + 1], text[equals + 1:]


def heldout_from_units(units: Iterable[dict], limit: int | None = None, seed: int = 0,
                       max_reference_chars: int = 600) -> list[PromptItem]:
    """Prompt items from unit records (``{"text", "kind", "name", ...}``, as
    ``elmgrammar units --json`` and the dataset's ``test.jsonl`` hold them).

    Only functions and values whose body is at most ``max_reference_chars`` long (a
    completion budget must be able to reach the end); ``limit`` items drawn with
    ``seed`` (in file order when all are kept).
    """
    items = []
    for unit in units:
        if unit.get("kind") not in VALUE_KINDS or not isinstance(unit.get("text"), str):
            continue
        split = split_declaration(unit["text"])
        if split is None or len(split[1].strip()) == 0 or len(split[1]) > max_reference_chars:
            continue
        items.append(PromptItem(split[0], split[1], unit.get("name")))
    if limit is not None and len(items) > limit:
        chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
        items = [items[i] for i in chosen]
    return items


def read_units(path: str | Path) -> list[dict]:
    """Unit records from a JSON Lines file, or from ``test.jsonl`` in a dataset folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "test.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvaluateError(f"{path}: no such units file (give the dataset's test.jsonl or its folder)") from None
    units = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            units.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise EvaluateError(f"{path}:{number}:{e.colno}: not valid JSON: {e.msg}") from None
    return units


def heldout_prompts(path: str | Path, limit: int | None = 50, seed: int = 0) -> list[PromptItem]:
    """Held-out prompt items from a test split (see :func:`heldout_from_units`)."""
    items = heldout_from_units(read_units(path), limit=limit, seed=seed)
    if not items:
        raise EvaluateError(f"{path}: no function or value units to make prompts from")
    return items
