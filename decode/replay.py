"""Teacher forcing: replay real Elm files token by token through the mask.

Files are tokenized with special tokens split (``<NAME>`` in a string is the
characters ``<``, ``NAME``, ``>``, as the model writes them: no special token is
ever allowed in Elm, and the training data is tokenized the same way).

At every position the true next token must be allowed (soundness), EOS must be
allowed at the end and nowhere the program is incomplete. The replay also times
the lazy path (the true token judged first, as a well-trained model ranks it)
and, optionally, the exact full mask.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .fastmask import FastMasker
from .state import ElmParseState


@dataclass
class ReplayResult:
    """One file's replay: ``rejected`` lists (position, token text) of true tokens
    the mask refused; ``eos_ok``: EOS allowed at the end and at no incomplete point."""

    path: str
    tokens: int
    rejected: list[tuple[int, str]] = field(default_factory=list)
    eos_ok: bool = True
    full_ms: dict[str, float] = field(default_factory=dict)
    lazy_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["rejected"] = len(self.rejected)
        return out


def summary(times_s: list[float]) -> dict[str, float]:
    """Median, p90, p99 and max of a list of seconds, in milliseconds."""
    if not times_s:
        return {}
    q = sorted(times_s)

    def at(p: float) -> float:
        return round(1000 * q[min(len(q) - 1, int(p * (len(q) - 1) + 0.5))], 4)

    return {"median": round(1000 * statistics.median(q), 4), "p90": at(0.9), "p99": at(0.99),
            "max": round(1000 * q[-1], 4), "mean": round(1000 * sum(q) / len(q), 4)}


def replay_ids(masker: FastMasker, ids: list[int], path: str = "", mode: str = "module",
               full: bool = True, full_every: int = 1,
               timings: tuple[list[float], list[float]] | None = None) -> ReplayResult:
    """Replay one tokenized file. ``full``: also build the full mask (every
    ``full_every`` positions) and check that it allows the true token too.
    ``timings``: lists to append the (full, lazy) seconds to, for benchmarks."""
    vocab = masker.vocab
    state = ElmParseState(mode)
    result = ReplayResult(path, len(ids))
    full_times, lazy_times = timings if timings is not None else ([], [])
    for k, token_id in enumerate(ids):
        start = time.perf_counter()
        ok = masker.allowed(state, token_id)
        lazy_times.append(time.perf_counter() - start)
        if full and k % full_every == 0:
            start = time.perf_counter()
            mask = masker.full_mask(state)
            full_times.append(time.perf_counter() - start)
            ok = ok and bool(mask[token_id])
            if mask[vocab.eos_id] if vocab.eos_id is not None else False:
                # EOS offered here: the text so far must be a whole program
                result.eos_ok &= state.is_complete()
        if not ok:
            result.rejected.append((k, (vocab.pieces[token_id] or b"").decode("utf-8", "replace")))
        state.advance_bytes(vocab.pieces[token_id] or b"")
        if not state.is_viable():
            break
    result.eos_ok &= state.is_complete() and masker.allowed(state, vocab.eos_id)
    result.lazy_ms = summary(lazy_times)
    result.full_ms = summary(full_times)
    return result


def replay_file(masker: FastMasker, tokenizer, path: str | Path, **kwargs) -> ReplayResult:
    """Tokenize a file with ``tokenizer`` and replay it."""
    text = Path(path).read_text(encoding="utf-8")
    ids = tokenizer(text, add_special_tokens=False, split_special_tokens=True, verbose=False)["input_ids"]  # no model sees it: no length warning
    return replay_ids(masker, ids, str(path), **kwargs)


def retokenized(tokenizer, text: str, rng: np.random.Generator, pieces: int = 20) -> list[int]:
    """Another tokenization of the same text: cut at random points, each piece
    tokenized alone (the model could have written it so)."""
    cuts = sorted(set(rng.integers(1, max(2, len(text)), size=pieces).tolist()))
    ids: list[int] = []
    last = 0
    for cut in [*cuts, len(text)]:
        if cut > last:
            ids += tokenizer(text[last:cut], add_special_tokens=False, split_special_tokens=True,
                             verbose=False)["input_ids"]
            last = cut
    return ids
