"""The matchers of the rows of one ``generate`` call, keyed by what each generated.

Hugging Face ``generate`` hands its processors and stopping criteria the ids so
far, not which sequence a row continues: beam search reorders rows every step,
``num_return_sequences`` repeats prompts. A row's matcher is therefore found by
its prompt and the ids it generated; a new one is its parent's fork plus one
token. The processor and the stopping rule share one table, so a token is
consumed once whichever asks first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .matcher import Matcher


@dataclass
class Row:
    """One row's matcher; ``ended``: the sequence is over (EOS, a special token, or
    padding after its end), so nothing is judged for it."""

    matcher: Matcher
    ended: bool = False


class RowTable:
    """Row matchers by (prompt index, generated ids); see the module docstring."""

    def __init__(self, bases: list[Matcher]) -> None:
        self.bases = bases
        self._rows: dict[tuple, Row] = {}

    def key(self, row: int, rows: int, generated: tuple) -> tuple:
        """The key of a row: its prompt (rows are matched to prompts in order) and ids."""
        return (row * len(self.bases) // rows, generated)

    def get(self, row: int, rows: int, generated: tuple) -> Row:
        """The row's matcher, made from its parent's where not known yet."""
        return self._get(self.key(row, rows, generated))

    def _get(self, key: tuple) -> Row:
        found = self._rows.get(key)
        if found is not None:
            return found
        prompt, generated = key
        if not generated:
            found = Row(self.bases[prompt].fork())
        else:
            parent = self._get((prompt, generated[:-1]))
            if parent.ended:
                found = parent
            else:
                child = parent.matcher.fork()
                ok = child.consume_token(generated[-1])
                # EOS, a special token, or (unconstrained) a token the grammar refuses:
                # the row is over as far as the grammar goes
                found = Row(child if ok else parent.matcher,
                            ended=not ok or generated[-1] == child.vocab.eos_id)
        self._rows[key] = found
        return found

    def offer(self, key: tuple, token_id: int, matcher: Matcher) -> None:
        """Keep the matcher a judgement made for the row ``key`` plus ``token_id``."""
        prompt, generated = key
        self._rows.setdefault((prompt, generated + (token_id,)), Row(matcher))

    def retain(self, keys: list[tuple]) -> None:
        """Forget every row but these (and what was offered for their next step)."""
        live = set(keys)
        self._rows = {k: v for k, v in self._rows.items() if k in live or (k[0], k[1][:-1]) in live}


class Histories:
    """Each row's generated ids as a tuple. Rows that went on from the last call's
    rows in the same order (always, but for beam search, which reorders them)
    extend the last call's tuples by one id each: listing every id again at every
    step made the step's cost grow with the length of the text."""

    def __init__(self) -> None:
        self._last: tuple[torch.Tensor, list[tuple[int, ...]]] | None = None

    def __call__(self, generated: torch.LongTensor) -> list[tuple[int, ...]]:
        now = generated.cpu()  # one transfer; the ids are needed here anyway
        last = self._last
        if last is not None and now.shape == (last[0].shape[0], last[0].shape[1] + 1) and \
                torch.equal(now[:, :-1], last[0]):
            histories = [h + (t,) for h, t in zip(last[1], now[:, -1].tolist())]
        else:
            histories = [tuple(row) for row in now.tolist()]
        self._last = (now, histories)
        return histories
