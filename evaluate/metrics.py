"""Measures of a completion beyond syntax: degenerate repetition, length, and closeness
to a reference (exact match, edit similarity).

The user's report counted ``main = animation view model modelMsg modelMsg ...`` as a
success; :func:`repetition` flags such runs so that "valid" stops meaning "good".

>>> repetition("main = animation view model modelMsg modelMsg modelMsg modelMsg").degenerate
True
>>> round(edit_similarity("x + 1", "x + 2"), 2)
0.8
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# Elm-ish tokens, tolerant of broken code: strings, (qualified) names, numbers, operator
# runs, then any other single character. Spaces do not count, so re-indenting the same
# words does not hide a repetition.
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*'
                    r"|\d+(?:\.\d+)?|[-+*/<>=|&:^.!?%~@#$]+|\S")

MAX_NGRAM = 16
"""The longest repeated piece looked for, in tokens (a typical Elm line is shorter)."""


def tokens(text: str) -> list[str]:
    """The tokens repetition is counted in."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Repetition:
    """The most striking run of one n-gram repeated back to back.

    ``degenerate``: the run is a loop, not code: a piece repeated 4 times or more, or 3
    times when the run covers 6 tokens or more (``g x`` three times). Shorter echoes
    (``a, a``, ``( 0, 0, 0 )``) are common in real Elm and are not flagged. ``unit``
    says what ``n`` and ``start`` count: "tokens", or "characters" for a loop glued
    into one word (``ToServerToServerToServerToServer``), which tokens cannot see.
    """

    ngram: str
    n: int
    repeats: int
    start: int
    degenerate: bool
    unit: str = "tokens"

    @property
    def covered(self) -> int:
        """Tokens the run covers."""
        return self.n * self.repeats

    def as_dict(self) -> dict:
        """JSON-ready data, with ``covered``."""
        return dict(asdict(self), covered=self.covered)


# A piece of 2 to 40 characters (not all one character: `-----` rulers and runs of
# spaces are ordinary) written 4 times back to back.
_GLUED = re.compile(r"(\S.{1,39}?)\1{3,}", re.DOTALL)


def _glued(text: str) -> Repetition | None:
    """The longest character-level loop in ``text``, if any."""
    best = None
    for m in _GLUED.finditer(text):
        piece = m.group(1)
        if len(set(piece)) < 2:
            continue
        repeats = len(m.group(0)) // len(piece)
        if best is None or repeats * len(piece) > best.n * best.repeats:
            best = Repetition(piece, len(piece), repeats, m.start(), True, "characters")
    return best


def _is_degenerate(n: int, repeats: int) -> bool:
    return repeats >= 4 or (repeats >= 3 and n * repeats >= 6)


def repetition(text: str, max_n: int = MAX_NGRAM) -> Repetition:
    """The longest degenerate run of tokens in ``text`` if there is one, else a loop of
    characters glued into words, else the longest run of any n-gram repeated at least
    twice (``repeats`` 1 and ``n`` 0 when nothing repeats)."""
    toks = tokens(text)
    best: tuple | None = None  # (degenerate, covered, repeats, n, start)
    for n in range(1, min(max_n, len(toks) // 2) + 1):
        i = 0
        while i + 2 * n <= len(toks):
            piece = toks[i:i + n]
            reps, j = 1, i + n
            while toks[j:j + n] == piece:
                reps, j = reps + 1, j + n
            if reps >= 2:
                key = (_is_degenerate(n, reps), n * reps, reps, n, i)
                if best is None or key[:3] > best[:3]:
                    best = key
                i += n * (reps - 1)  # the run's later copies start nothing longer
            else:
                i += 1
    if best is None or not best[0]:
        glued = _glued(text)
        if glued is not None:
            return glued
    if best is None:
        return Repetition("", 0, 1, 0, False)
    degenerate, _, reps, n, start = best
    return Repetition(" ".join(toks[start:start + n]), n, reps, start, degenerate)


def length(text: str) -> dict:
    """``{"chars", "lines", "tokens"}`` of a completion (tokens as :func:`tokens` counts)."""
    return {"chars": len(text), "lines": text.count("\n") + 1 if text else 0, "tokens": len(tokens(text))}


def levenshtein(a: str, b: str) -> int:
    """Character edit distance (insert, delete, substitute), by Hyyrö's bit-vector
    algorithm: Python's big integers hold a whole column, so the cost is one loop over
    the longer string."""
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = full, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
    return score


def edit_similarity(a: str, b: str) -> float:
    """1 - edit distance / length of the longer text (1.0 for two empty texts)."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def _normalise(code: str) -> str:
    """Trailing spaces and surrounding blank lines do not make code different."""
    return "\n".join(line.rstrip() for line in code.strip("\n").splitlines()).strip()


def reference_scores(completion: str, reference: str) -> dict:
    """``{"exact_match", "edit_similarity"}`` of a completion against the real continuation,
    both compared with trailing spaces and surrounding blank lines removed."""
    a, b = _normalise(completion), _normalise(reference)
    return {"exact_match": a == b, "edit_similarity": round(edit_similarity(a, b), 4)}
