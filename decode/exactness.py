"""The exact mask against the one-by-one judgement, on random states of real Elm.

A state is drawn by picking a file (or one of its mutants, ``elmgrammar.mutants``),
tokenizing it and stopping the matcher at a random position (for a mutant, within
the part the matcher accepts: a refused token ends its viable states). At that
state the matcher's ``fill_bitmask`` must equal the judgement of every vocabulary
entry one by one (``Masker.full_mask``, which advances a copy of the state by each
entry's text). EOS counts too: allowed iff the text so far is a whole program.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from elmgrammar.mutants import mutants

from .masks import Masker
from .matcher import Matcher, allocate_bitmask, unpack_bitmask
from .replay import summary


@dataclass(frozen=True)
class DrawnState:
    """Where a state was drawn: the file, the mutant's description (or None), the
    token position, and the tokens before it."""

    path: str
    mutant: str | None
    position: int
    ids: tuple[int, ...]


@dataclass
class ExactnessResult:
    """The comparison over all drawn states: mismatching states with the entries
    that differ (``(path, mutant, position, [(token text, fast, one-by-one)])``)
    and the time of each side per state."""

    states: int = 0
    from_mutants: int = 0
    mismatches: list[tuple] = field(default_factory=list)
    fast_s: list[float] = field(default_factory=list)
    one_by_one_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"states": self.states, "from_mutants": self.from_mutants,
                "mismatching_states": len(self.mismatches), "mismatches": self.mismatches,
                "fast_ms": summary(self.fast_s), "one_by_one_ms": summary(self.one_by_one_s)}


def draw_states(paths: Sequence[Path], tokenizer, count: int, seed: int = 0,
                mutant_share: float = 0.5, mode: str = "module", masker: Masker | None = None) -> list[DrawnState]:
    """``count`` random states, about ``mutant_share`` of them from mutants; the same
    for the same files and seed."""
    rng = random.Random(seed)
    masker = masker or Matcher.from_tokenizer(tokenizer, mode).masker
    texts = [(str(p), Path(p).read_text(encoding="utf-8")) for p in paths]
    drawn: list[DrawnState] = []
    attempts = 0
    while len(drawn) < count and attempts < 20 * count:
        attempts += 1
        path, text = rng.choice(texts)
        label = None
        if rng.random() < mutant_share:
            edits = mutants(text, per_kind=1)
            if not edits:
                continue
            edit = rng.choice(edits)
            text, label = edit.text, f"{edit.kind}: {edit.description}"
        ids = tokenizer(text, add_special_tokens=False, split_special_tokens=True, verbose=False)["input_ids"]
        if not ids:
            continue
        position = rng.randrange(len(ids) + 1)
        if label is not None:
            # a mutant: only as far as the matcher accepts (a dead state's mask is empty)
            matcher = Matcher(masker, mode)
            accepted = matcher.validate_tokens(ids[:position])
            position = accepted
        drawn.append(DrawnState(path, label, position, tuple(ids[:position])))
    return drawn


def compare(masker: Masker, states: Sequence[DrawnState], mode: str = "module") -> ExactnessResult:
    """Each state's ``fill_bitmask`` against the one-by-one judgement of every entry."""
    result = ExactnessResult()
    judge = Masker(masker.vocab)  # the base class: every entry judged by itself
    vocab = masker.vocab
    bitmask = allocate_bitmask(1, masker.size)
    for drawn in tqdm(states, desc="exact masks", unit="state", disable=None):
        matcher = Matcher(masker, mode)
        matcher.consume_tokens(drawn.ids)
        start = time.perf_counter()
        matcher.fill_bitmask(bitmask, 0)
        result.fast_s.append(time.perf_counter() - start)
        fast = unpack_bitmask(bitmask[0], masker.size)
        start = time.perf_counter()
        slow = judge.full_mask(matcher.state)
        result.one_by_one_s.append(time.perf_counter() - start)
        if vocab.eos_id is not None:
            slow[vocab.eos_id] = matcher.state.is_complete()
            if not slow.any():  # a dead end: the matcher offers EOS alone, to end cleanly
                slow[vocab.eos_id] = True
        result.states += 1
        result.from_mutants += drawn.mutant is not None
        differ = np.flatnonzero(fast != slow)
        if len(differ):
            shown = [((vocab.pieces[i] or b"<special>").decode("utf-8", "replace"), bool(fast[i]), bool(slow[i]))
                     for i in differ[:10].tolist()]
            result.mismatches.append((drawn.path, drawn.mutant, drawn.position, len(differ), shown))
    return result


def format_exactness(result: ExactnessResult) -> str:
    """The comparison as a table, with the first mismatching states."""
    fast, slow = summary(result.fast_s), summary(result.one_by_one_s)
    lines = [f"{result.states} states ({result.states - result.from_mutants} from files, "
             f"{result.from_mutants} from mutants): {len(result.mismatches)} with a mask that differs "
             "from the one-by-one judgement",
             "",
             f"{'side':<12} {'median':>10} {'p99':>10} {'max':>10}   (ms per state)"]
    for name, s in (("bitmask", fast), ("one by one", slow)):
        lines.append(f"{name:<12} " + " ".join(f"{s.get(k, 0):>10.2f}" for k in ("median", "p99", "max")))
    for path, mutant, position, count, shown in result.mismatches[:10]:
        lines.append(f"\n{path} token {position}{' (' + mutant + ')' if mutant else ''}: {count} entries differ")
        lines += [f"  {text!r}: bitmask {fast_says}, one by one {slow_says}" for text, fast_says, slow_says in shown]
    return "\n".join(lines)
