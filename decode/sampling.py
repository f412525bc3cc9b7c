"""Sampling from the allowed tokens by rejection: the processor's "sample" strategy.

Generate's sampling after the full mask draws a token from S, the allowed tokens
(with ``top_k``: the ``top_k`` best allowed and those tied with the last of them),
each with its probability at the temperature renormalised over S. Drawing tokens
from the model's whole distribution until one lies in S gives exactly that
distribution (each draw that lands in S is a draw from the distribution restricted
to S), and with a model that writes Elm the first draw usually lands in S: a token
or two judged instead of the ``top_k`` best allowed, found among hundreds of
candidates.

The whole distribution is sampled through its best candidates (their
probabilities come from one ``topk`` and one log-sum-exp). A draw that falls in the
rest is refused at once where S is known to lie among the candidates (the row then
draws from S directly); otherwise it, or too many draws refused, leave the row
undecided, and it draws from its exact S instead (:func:`draw_from_set`). Either way
the distribution stays exact: the draws refused before carry no information about
the next one.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Draw:
    """The outcome of :func:`draw_lazily`: the ``token`` drawn from S, or None when
    undecided; ``outside``: the last draw fell outside the candidates (a draw that
    :func:`draw_from_set` must still settle)."""

    token: int | None
    outside: bool = False


def draw_lazily(ids: Sequence[int], values: Sequence[float], cumulative: Sequence[float], top_k: int | None,
                uniforms: Sequence[float], judge: Callable[[int], bool],
                allowed_among: Callable[[Sequence[int]], Sequence[bool]], budget: int) -> Draw:
    """Draw from S by rejection, through the best candidates.

    ``ids``, ``values``: the best tokens by score and their logits at the
    temperature, best first (at least ``top_k`` of them); ``cumulative``: their
    probabilities in the whole distribution, added up in that order; ``uniforms``:
    one uniform number in [0, 1) per draw. ``judge(token)``: is it allowed (called
    at most ``budget`` times, once per token); ``allowed_among(ids)``: which of the
    candidates are allowed, all at once, asked only where a draw needs it: a token
    ranked below the ``top_k``-th candidate lies in S iff fewer than ``top_k``
    allowed tokens score above it, and a draw beyond the candidates may lie in S
    only where fewer than ``top_k`` candidates are allowed. Once S is known to lie
    among the candidates, the next draw is made from S directly (the same
    distribution as drawing on until one lands in S)."""
    refused: set[int] = set()
    allowed: Sequence[bool] | None = None  # of every candidate, once known
    members: list[int] | None = None  # S (indices of candidates), once known to lie among them
    judged = 0
    for u in uniforms:
        if members is not None:
            return Draw(ids[members[_pick([values[i] for i in members], u)]])
        if u >= cumulative[-1]:
            if not top_k:
                return Draw(None, outside=True)
            if allowed is None:
                allowed = allowed_among(ids)
            members = _set_among(values, allowed, top_k)
            if members is None:
                return Draw(None, outside=True)
            continue  # refused for certain: S lies among the candidates
        i = bisect.bisect_right(cumulative, u)
        token = ids[i]
        if token in refused:
            continue  # a repeated refusal costs nothing: the next draw
        if allowed is not None:
            ok = allowed[i]
        elif judged == budget:
            return Draw(None)
        else:
            judged += 1
            ok = judge(token)
        if ok and top_k and values[i] < values[top_k - 1]:
            # fewer than top_k tokens at all score above a token at least as good as
            # the top_k-th candidate; below it, the allowed ones above must be counted
            if allowed is None:
                allowed = allowed_among(ids)
            ok = sum(1 for j in range(i) if allowed[j] and values[j] > values[i]) < top_k
            if not ok:
                members = _set_among(values, allowed, top_k)
        if ok:
            return Draw(token)
        refused.add(token)
    return Draw(None)


def _set_among(values: Sequence[float], allowed: Sequence[bool], top_k: int) -> list[int] | None:
    """S as indices of the candidates (the allowed ones with fewer than ``top_k``
    allowed ones scored above them), or None when S may reach beyond them (fewer
    than ``top_k`` allowed candidates score above the last candidate)."""
    if sum(1 for a, v in zip(allowed, values) if a and v > values[-1]) < top_k:
        return None
    members: list[int] = []
    start = 0
    while start < len(values) and len(members) < top_k:
        end = start + 1
        while end < len(values) and values[end] == values[start]:
            end += 1  # tied candidates stand or fall together
        members += [i for i in range(start, end) if allowed[i]]
        start = end
    return members


def draw_from_set(members: Sequence[int], values: Sequence[float], candidates: set[int], outside: bool,
                  lse: float, candidate_mass: float, u: float, v: float) -> int | None:
    """Draw from S exactly: ``members`` (its tokens) and ``values`` (their logits at
    the temperature). After a draw that fell outside the ``candidates`` (whose
    probabilities add up to ``candidate_mass``; ``lse``: the log-sum-exp of all
    logits at the temperature), that draw lies in S with the chance that S holds of
    the rest, and is then a draw from S's part of it: ``u`` decides that, ``v``
    draws the token. None when S is empty."""
    if not members:
        return None
    pool = list(range(len(members)))
    if outside:
        rest = [i for i in pool if members[i] not in candidates]
        rest_mass = sum(math.exp(values[i] - lse) for i in rest)
        if rest and u * max(1.0 - candidate_mass, 0.0) < rest_mass:
            pool = rest
    return members[pool[_pick([values[i] for i in pool], v)]]


def _pick(values: Sequence[float], u: float) -> int:
    """The index drawn, with probabilities proportional to ``exp(values)``, by ``u``
    (uniform in [0, 1))."""
    top = max(values)
    cumulative = list(itertools.accumulate(math.exp(x - top) for x in values))
    return min(bisect.bisect_right(cumulative, u * cumulative[-1]), len(values) - 1)
