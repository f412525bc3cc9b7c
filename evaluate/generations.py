"""Completions as records, and the two files they travel in.

- JSON Lines: one object per completion (``prompt``, ``completion`` and optionally
  ``side``, ``prompt_index``, ``sample``, ``new_tokens``, ``stop_reason``, ``reference``).
  ``text`` is accepted for ``completion``; ``generation`` for the whole program.

A completion read from either is cut at a Markdown code fence that closes it, with the
prose after it (a chat model's answer), and an opening fence is dropped
(:func:`cut_at_fence`).
- The user's text format, as their notebook wrote ``generation_output``::

      --- Prompt 1 ---
      main =
      --- Génération 1 ---
      main =
          text "hello"

  A generation block holds the whole program (prompt included, with its own
  spacing or not) or only the continuation; both are read. ``=== constrained ===`` lines (written by this
  package when it compares two sides) say which side the blocks below belong to.

>>> [g.completion for g in read_text_format("--- Prompt 1 ---\\nx =\\n--- Génération 1 ---\\nx = 1\\n")]
[' 1']
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.lexer import Lexer

from .errors import EvaluateError

GIVEN = "given"
"""The side of completions read from a file that does not say which side made them."""


@dataclass
class Generation:
    """One completion of one prompt: ``program`` is ``prompt + completion``."""

    prompt: str
    completion: str
    side: str = GIVEN
    prompt_index: int = 0
    sample: int = 0
    new_tokens: int | None = None
    stop_reason: str | None = None
    reference: str | None = None
    closing: str | None = None  # the text the grammar wrote at the end (closed completions)

    @property
    def program(self) -> str:
        """The text the judges see."""
        return self.prompt + self.completion

    def as_dict(self) -> dict:
        """JSON-ready data (the JSON Lines record)."""
        return asdict(self)


def split_program(prompt: str, generation: str) -> str:
    """The continuation in a generation that may repeat its prompt: the rest after the
    prompt when the generation starts with it, even with other spacing (a decoder's
    clean-up, or a model that lays the annotation out its own way), else the
    generation itself."""
    if generation.startswith(prompt):
        return generation[len(prompt):]
    end = _after_prompt(prompt, generation)
    return generation if end is None else generation[end:]


def _after_prompt(prompt: str, generation: str) -> int | None:
    """Where ``generation`` goes on past a copy of ``prompt`` it starts with, whitespace
    aside; None when it does not start with one."""
    wanted = [c for c in prompt if not c.isspace()]
    if not wanted:
        return None
    matched = 0
    for position, c in enumerate(generation):
        if c.isspace():
            continue
        if c != wanted[matched]:
            return None
        matched += 1
        if matched == len(wanted):
            return position + 1
    return None


_FENCE = re.compile(r"^[ \t]*```")


def cut_at_fence(generation: str) -> str:
    """A generation without the Markdown around its code: an opening fence on its first
    line (```` ```elm ````) is dropped, and the text is cut at the next line that starts a
    fence, with the prose after it. A fence line inside a multi-line string or a block
    comment (a doc comment's example) is code, and is kept.

    >>> cut_at_fence("x =\n    1\n```\nThis function returns 1.")
    'x =\n    1\n'
    """
    lines = generation.split("\n")
    start = 1 if _FENCE.match(lines[0]) else 0
    for i in range(start, len(lines)):
        if _FENCE.match(lines[i]):
            before = "\n".join(lines[start:i]) + "\n" if i > start else ""
            if not _inside_literal(before):
                return before
    return "\n".join(lines[start:])


def _inside_literal(text: str) -> bool:
    """Does ``text`` end inside a multi-line string or a block comment?"""
    lexer = Lexer()
    try:
        lexer.feed(text)
    except ElmSyntaxError:
        return False  # not Elm the lexer can follow: no literal to be inside of
    return lexer.pending.startswith(('"""', "{-"))


# ---- JSON Lines -------------------------------------------------------------------------


def read_jsonl(text: str, source: str = "<generations>") -> list[Generation]:
    """Generations from JSON Lines text; :class:`EvaluateError` names the line and column
    of a bad line."""
    out: list[Generation] = []
    samples: dict[tuple[str, int], int] = {}
    indices: dict[tuple[str, str], int] = {}   # (side, prompt) -> index, in order of appearance
    # split on "\n" only: str.splitlines would also cut at U+2028 and friends, which
    # JSON written with ensure_ascii=False leaves raw inside strings
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvaluateError(f"{source}:{number}:{e.colno}: not valid JSON: {e.msg}") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise EvaluateError(f"{source}:{number}: expected an object with a \"prompt\" string")
        completion = row.get("completion", row.get("text"))
        if isinstance(completion, str):
            completion = cut_at_fence(completion)
        else:
            whole = row.get("generation")
            if not isinstance(whole, str):
                raise EvaluateError(f"{source}:{number}: expected a \"completion\" (or \"generation\") string")
            completion = split_program(row["prompt"], cut_at_fence(whole))
        side = row.get("side")
        if side is None and isinstance(row.get("constrained"), bool):
            side = "constrained" if row["constrained"] else "unconstrained"
        side = str(side or GIVEN)
        default = indices.setdefault((side, row["prompt"]), sum(1 for k in indices if k[0] == side))
        index = int(row.get("prompt_index", default))
        sample = samples.get((side, index), 0)
        samples[(side, index)] = sample + 1
        out.append(Generation(row["prompt"], completion, side, index, int(row.get("sample", sample)),
                              row.get("new_tokens"), row.get("stop_reason"), row.get("reference"), row.get("closing")))
    return out


def write_jsonl(generations: list[Generation], path: str | Path, verdicts: list[str] | None = None) -> None:
    """One JSON object per line (with a ``verdict`` line when ``verdicts`` are given)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        for i, g in enumerate(generations):
            row = g.as_dict() | ({"verdict": verdicts[i]} if verdicts else {})
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# ---- the user's text format ---------------------------------------------------------------

_PROMPT = re.compile(r"^-{3}\s*prompt\s*#?\s*(\d+)\s*:?\s*-{3}\s*$", re.IGNORECASE)
# what follows the closing dashes (this package writes the verdicts there) is not part of the block
_GENERATION = re.compile(r"^-{3}\s*(?:g[ée]n[ée]ration|generation|completion)\s*#?\s*(\d+)\s*:?\s*-{3}(?:\s.*)?$",
                         re.IGNORECASE)
_SIDE = re.compile(r"^={3}\s*([\w][\w -]*?)\s*={3}\s*$")


def _block(lines: list[str]) -> str:
    """A block's text: the lines between two markers, without the blank lines that only
    separate blocks."""
    return "\n".join(lines).strip("\n")


def read_text_format(text: str, source: str = "<generations>") -> list[Generation]:
    """Generations from the user's ``--- Prompt N ---`` / ``--- Génération K ---`` text."""
    out: list[Generation] = []
    side = GIVEN
    prompt: str | None = None
    prompt_index = 0
    current: list[str] | None = None   # the lines of the open block
    kind: tuple | None = None          # ("prompt",) or ("generation", sample)

    def close() -> None:
        nonlocal prompt
        if kind is None:
            return
        if kind[0] == "prompt":
            prompt = _block(current)
        else:
            body = cut_at_fence(_block(current))
            out.append(Generation(prompt, split_program(prompt, body), side, prompt_index, kind[1]))

    # "\n" only: a carriage return inside a completion is part of what is judged
    for number, line in enumerate(text.split("\n"), 1):
        if m := _PROMPT.match(line):
            close()
            prompt_index, kind, current = int(m.group(1)) - 1, ("prompt",), []
        elif m := _GENERATION.match(line):
            close()
            if prompt is None and kind != ("prompt",):
                raise EvaluateError(f"{source}:{number}: a generation block before any `--- Prompt N ---` block")
            kind, current = ("generation", int(m.group(1)) - 1), []
        elif m := _SIDE.match(line):
            close()
            side, kind, prompt = m.group(1).strip(), None, None
        elif current is not None:
            current.append(line)
    close()
    if not out:
        raise EvaluateError(f"{source}: no `--- Prompt N ---` / `--- Génération K ---` blocks found")
    return out


def write_text_format(generations: list[Generation], path: str | Path, verdicts: list[str] | None = None) -> None:
    """The user's format, whole programs in the generation blocks; a ``=== side ===``
    line before each side's blocks when there is more than one side. ``verdicts`` (one
    line per generation) go after a block's marker: ``--- Génération 1 --- valid ...``."""
    sides = list(dict.fromkeys(g.side for g in generations))
    verdict_of = dict(zip(map(id, generations), verdicts or []))
    lines: list[str] = []
    for side in sides:
        if len(sides) > 1:
            lines += [f"=== {side} ===", ""]
        last = None
        for g in (g for g in generations if g.side == side):
            if g.prompt_index != last:
                lines += [f"--- Prompt {g.prompt_index + 1} ---", g.prompt, ""]
                last = g.prompt_index
            verdict = f" {verdict_of[id(g)]}" if id(g) in verdict_of else ""
            lines += [f"--- Génération {g.sample + 1} ---{verdict}", g.program, ""]
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines))


# ---- either -------------------------------------------------------------------------------


def read_generations(path: str | Path) -> list[Generation]:
    """Generations from a JSON Lines file or a file in the user's text format (told apart
    by the extension ``.jsonl`` / ``.json``, else by a first ``{``)."""
    path = Path(path)
    try:
        # newline="": keep carriage returns, the judges must see the bytes the model wrote
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise EvaluateError(f"{path}: no such generations file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EvaluateError(f"{path}: cannot read the generations file: {e}") from None
    if path.suffix in (".jsonl", ".json") or text.lstrip().startswith("{"):
        generations = read_jsonl(text, str(path))
    else:
        generations = read_text_format(text, str(path))
    if not generations:
        raise EvaluateError(f"{path}: no generations")
    return generations


def write_generations(generations: list[Generation], path: str | Path, verdicts: list[str] | None = None) -> None:
    """JSON Lines for a ``.jsonl`` / ``.json`` path, else the user's text format; with
    each generation's verdicts (a line each) when given."""
    if Path(path).suffix in (".jsonl", ".json"):
        write_jsonl(generations, path, verdicts)
    else:
        write_text_format(generations, path, verdicts)
