"""Sampling from the allowed tokens by rejection: the processor's "sample" strategy.

Generate's sampling after the full mask draws a token from S, the allowed tokens
(with ``top_k``: the ``top_k`` best allowed and those tied with the last of them;
with ``top_p``: the nucleus of those), each with its probability at the
temperature renormalised over S. Drawing tokens from the model's whole distribution
until one lies in S gives exactly that distribution (each draw that lands in S is a
draw from the distribution restricted to S), and with a model that writes Elm the
first draw usually lands in S: a token or two judged instead of the ``top_k`` best
allowed, found among hundreds of candidates, or the full mask.

The whole distribution is sampled through its best candidates (their
probabilities come from one ``topk`` and one log-sum-exp). Where the tokens judged
do not tell whether a draw lies in S, all candidates are judged at once (by class),
which bounds S's mass; a draw beyond the candidates is refused at once where S is
known to lie among them (the row then draws from S directly). A draw still
undecided, or too many draws refused, leave the row to its exact S
(:func:`draw_from_set`), which settles that draw first. Either way the
distribution stays exact: the draws refused before carry no information about the
next one.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Draw:
    """The outcome of :func:`draw_lazily`: the ``token`` drawn from S, or None when
    undecided. An undecided row may have a draw still to settle against its exact
    S (:func:`draw_from_set`): ``outside``, a draw beyond the candidates, or
    ``pending``, a candidate whose place in S the candidates did not decide."""

    token: int | None
    outside: bool = False
    pending: int | None = None


@dataclass(frozen=True)
class _Settled:
    """What the candidates decide once all are judged: ``verdicts`` (in S, not in
    S, or None: undecided), ``outside_out`` (no token beyond them lies in S) and
    ``members`` (S, as indices of candidates, when it is known whole)."""

    verdicts: list[bool | None]
    outside_out: bool
    members: list[int] | None


def draw_lazily(ids: Sequence[int], values: Sequence[float], cumulative: Sequence[float], lse: float,
                top_k: int | None, top_p: float | None, uniforms: Sequence[float], judge: Callable[[int], bool],
                allowed_among: Callable[[Sequence[int]], Sequence[bool]], budget: int) -> Draw:
    """Draw from S by rejection, through the best candidates.

    S: the allowed tokens; with ``top_k``, the ``top_k`` best of them (and those
    tied with the last); with ``top_p``, the nucleus of those, as generate's top-p
    warper cuts it (a token stays iff the ones of S scored above it hold less than
    ``top_p`` of S's mass; tied tokens stay or go together).

    ``ids``, ``values``: the best tokens by score and their logits at the
    temperature, best first (at least ``top_k`` of them); ``cumulative``: their
    probabilities in the whole distribution, added up in that order; ``lse``: the
    log-sum-exp of all logits at the temperature; ``uniforms``: one uniform number
    in [0, 1) per draw. ``judge(token)``: is it allowed (called at most ``budget``
    times, once per token); ``allowed_among(ids)``: which of the candidates are
    allowed, all at once, asked only where the draw needs more than the tokens
    judged: a token ranked below the ``top_k``-th candidate lies in S iff fewer
    than ``top_k`` allowed tokens score above it; a token's place in the nucleus
    depends on the mass of S, bounded by the allowed candidates and the mass
    beyond them; a draw beyond the candidates may lie in S only where those
    bounds leave room. Once S is known whole among the candidates, the next draw
    is made from S directly (the same distribution as drawing on until one lands
    in S)."""
    n = len(ids)
    probs = [math.exp(v - lse) for v in values] if top_p else []  # only a nucleus needs them
    rest = max(0.0, 1.0 - cumulative[-1])  # the probability beyond the candidates
    status: list[bool | None] = [None] * n  # allowed, per candidate, once judged
    settled: _Settled | None = None
    refused: set[int] = set()
    judged = 0

    def settle() -> _Settled:
        nonlocal settled
        if settled is None:
            status[:] = [bool(a) for a in allowed_among(ids)]
            settled = _settle(values, probs, status, top_k, top_p, rest)
        return settled

    for u in uniforms:
        if settled is not None and settled.members is not None:
            members = settled.members
            return Draw(ids[members[_pick([values[i] for i in members], u)]])
        if u >= cumulative[-1]:
            if (top_k or top_p) and settle().outside_out:
                continue  # refused for certain
            return Draw(None, outside=True)
        i = bisect.bisect_right(cumulative, u)
        token = ids[i]
        if token in refused:
            continue  # a repeated refusal costs nothing: the next draw
        if status[i] is None:
            if judged == budget:
                return Draw(None, pending=token)
            judged += 1
            status[i] = judge(token)
        verdict: bool | None = False
        if status[i]:
            # fewer than top_k tokens at all score above a token at least as good as the
            # top_k-th candidate, and the best allowed one leads any nucleus; otherwise
            # the allowed candidates above it must be known
            sure = _best_allowed_so_far(i, values, status) if top_p else not top_k or values[i] >= values[top_k - 1]
            verdict = True if sure else settle().verdicts[i]
        if verdict is None:
            return Draw(None, pending=token)
        if verdict:
            return Draw(token)
        refused.add(token)
    return Draw(None)


def row_judges(advance: Callable[[int], list], mask: Callable[[np.ndarray], np.ndarray], size: int,
               refused: np.ndarray | None = None):
    """The two judgements :func:`draw_lazily` asks of a row, and the states the first
    one made: ``judge(token)`` (``advance(token)``: the row's ``lazy_advanced`` for
    that one token; its state after is kept in ``after``) and ``allowed_among(ids)``
    (``mask(among)``: the row's full mask judged among those ids only).
    ``refused``: tokens refused without judging (a boolean array; newline-first ones
    past the blank-line limit), or None."""
    after: dict = {}

    def judge(token_id: int) -> bool:
        if refused is not None and refused[token_id]:
            return False
        found = advance(token_id)
        if found:
            after[token_id] = found[0][1]
        return bool(found)

    def allowed_among(ids: Sequence[int]) -> list[bool]:
        among = np.zeros(size, dtype=bool)
        among[list(ids)] = True
        allowed = mask(among)
        return [bool(allowed[t]) for t in ids]

    return judge, allowed_among, after


def _best_allowed_so_far(i: int, values: Sequence[float], status: Sequence[bool | None]) -> bool:
    """Is the allowed candidate ``i`` the best allowed token, by the candidates
    judged so far (every one scored above it judged and refused)? The best allowed
    token lies in S whatever the cuts: in the top-k, and first in the nucleus.
    (Before all are judged, the candidates judged are draws: an allowed one scored
    above ``i`` would have been kept, so nothing short of this decides.)"""
    return all(status[j] is False for j in range(i) if values[j] > values[i])


def _settle(values: Sequence[float], probs: Sequence[float], status: Sequence[bool], top_k: int | None,
            top_p: float | None, rest: float) -> _Settled:
    """What the candidates, all judged, decide (see :class:`_Settled`). ``rest``:
    the probability beyond them."""
    n = len(values)
    groups: list[range] = []  # runs of tied candidates: they stay or go together
    start = 0
    while start < n:
        end = start + 1
        while end < n and values[end] == values[start]:
            end += 1
        groups.append(range(start, end))
        start = end
    # the top_k best allowed among the candidates; closed: none beyond them
    in_k = [False] * n
    count = 0
    for group in groups:
        if top_k and count >= top_k:
            break
        for j in group:
            in_k[j] = status[j]
            count += status[j]
    closed = bool(top_k) and sum(1 for j in range(n) if status[j] and values[j] > values[-1]) >= top_k
    verdicts: list[bool | None] = list(in_k)
    outside_out = closed
    if top_p:
        # S's mass lies between its candidates' and that plus the rest (unless closed)
        low = sum(probs[j] for j in range(n) if in_k[j])
        high = low if closed else low + rest
        above = 0.0
        for group in groups:
            for j in group:
                if in_k[j]:
                    verdicts[j] = True if above < top_p * low else (False if above >= top_p * high else None)
            above += sum(probs[j] for j in group if in_k[j])
        top = sum(probs[j] for j in range(n) if in_k[j] and values[j] > values[-1])
        outside_out = closed or top >= top_p * high
    members = [j for j in range(n) if verdicts[j]] if outside_out and None not in verdicts else None
    return _Settled(verdicts, outside_out, members or None)


def nucleus(values: Sequence[float], top_p: float) -> np.ndarray:
    """The indices (ascending) of the ``values`` (logits) that the top-p cut keeps:
    those whose better-scored fellows hold less than ``top_p`` of the mass (tied
    ones stay or go together)."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return np.zeros(0, dtype=np.int64)
    ordered = np.sort(v)[::-1]
    weights = np.exp(ordered - ordered[0])
    before = np.cumsum(weights) - weights  # the mass ranked before each one
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(v)), 0))  # where each one's run of ties starts
    kept = int((before[first] < top_p * weights.sum()).sum())  # a whole number of runs, the best first
    return np.flatnonzero(v >= ordered[kept - 1])


def draw_from_set(members: Sequence[int], values: Sequence[float], candidates: set[int], drawn: Draw,
                  lse: float, candidate_mass: float, u: float, v: float) -> int | None:
    """Draw from S exactly: ``members`` (its tokens) and ``values`` (their logits at
    the temperature), after the undecided ``drawn``. Its pending candidate is kept
    if it lies in S. A draw that fell outside the ``candidates`` (whose
    probabilities add up to ``candidate_mass``; ``lse``: the log-sum-exp of all
    logits at the temperature) lies in S with the chance that S holds of the rest,
    and is then a draw from S's part of it: ``u`` decides that. Otherwise a fresh
    draw from S (by ``v``). None when S is empty. (S may hold tens of thousands of
    tokens: the work is done by numpy.)"""
    tokens = np.asarray(members, dtype=np.int64)
    logits = np.asarray(values, dtype=np.float64)
    if not len(tokens):
        return None
    if drawn.pending is not None and (tokens == drawn.pending).any():
        return drawn.pending
    if drawn.outside:
        rest = ~np.isin(tokens, np.fromiter(candidates, dtype=np.int64, count=len(candidates)))
        rest_mass = float(np.exp(logits[rest] - lse).sum())
        if rest.any() and u * max(1.0 - candidate_mass, 0.0) < rest_mass:
            tokens, logits = tokens[rest], logits[rest]
    return int(tokens[_pick(logits, v)])


def _pick(values: Sequence[float], u: float) -> int:
    """The index drawn, with probabilities proportional to ``exp(values)``, by ``u``
    (uniform in [0, 1))."""
    logits = np.asarray(values, dtype=np.float64)
    cumulative = np.cumsum(np.exp(logits - logits.max()))
    return min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), len(logits) - 1)
