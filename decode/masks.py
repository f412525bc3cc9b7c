"""Which vocabulary entries may come next: the exact full mask and the lazy path.

- ``full_mask(state)``: every vocabulary entry judged (a boolean array). Exact.
  ``full_mask(state, among)`` judges only the entries ``among`` selects.
- ``lazy_allowed(state, order, k)``: candidates judged in score order until ``k``
  allowed ones are found. For greedy decoding (``k=1``) and top-k sampling it
  selects exactly what the full mask followed by the same decoding would.

A token is allowed iff the text so far plus the token is a viable prefix; EOS
iff the text so far is complete; any other special token never.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .state import ElmParseState
from .vocab import Vocab


class Masker:
    """Judges vocabulary entries against parse states, for one vocabulary."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self.size = len(vocab)
        self.judged = 0  # entries judged one at a time so far (a statistic for benchmarks)
        # Entries that decode to text by themselves are judged through the text (so
        # equal texts share work); the others (partial UTF-8) through their bytes.
        self._texts: list[str | None] = []
        for piece in vocab.pieces:
            if piece is None:
                self._texts.append(None)
                continue
            try:
                self._texts.append(piece.decode("utf-8"))
            except UnicodeDecodeError:
                self._texts.append(None)

    def allowed(self, state: ElmParseState, token_id: int) -> bool:
        """May ``token_id`` come next?"""
        if token_id == self.vocab.eos_id:
            return state.is_complete()
        return self.advanced(state, token_id) is not None

    def advanced(self, state: ElmParseState, token_id: int) -> ElmParseState | None:
        """The state after ``token_id`` (a new one; ``state`` is unchanged), or None
        where the token is not allowed. EOS and other special tokens give None."""
        if token_id >= self.size:
            return None
        piece = self.vocab.pieces[token_id]
        if piece is None:
            return None
        text = self._texts[token_id]
        unfinished = state.unfinished
        if unfinished and piece and not 0x80 <= piece[0] < 0xC0:
            return None  # only a continuation byte can finish the character: no need to try
        self.judged += 1
        after = state.copy()
        if text is not None and not unfinished:
            ok = after.advance(text) if text else False
        else:
            ok = after.advance_bytes(piece)
        return after if ok else None

    def full_mask(self, state: ElmParseState, among: np.ndarray | None = None) -> np.ndarray:
        """A boolean array over the vocabulary: True where the entry is allowed.
        ``among`` (a boolean array over the vocabulary): judge only those entries
        (the others are False)."""
        mask = np.zeros(self.size, dtype=bool)
        if not state.is_viable():
            return mask
        for token_id in range(self.size) if among is None else np.flatnonzero(among).tolist():
            mask[token_id] = self.allowed(state, token_id)
        return mask

    def lazy_allowed(self, state: ElmParseState, order: Iterable[int], k: int = 1) -> list[int]:
        """The first ``k`` allowed ids, taking candidates in the given order (best
        score first). Fewer when the order runs out."""
        return [token_id for token_id, _ in self.lazy_advanced(state, order, k)]

    def lazy_advanced(self, state: ElmParseState, order: Iterable[int],
                      k: int = 1) -> list[tuple[int, ElmParseState | None]]:
        """Like ``lazy_allowed``, with the state after each allowed id (None for EOS),
        so that a decoder can keep the state of the token it picks."""
        found: list[tuple[int, ElmParseState | None]] = []
        for token_id in order:
            token_id = int(token_id)
            if token_id == self.vocab.eos_id:
                if not state.is_complete():
                    continue
                after = None
            else:
                after = self.advanced(state, token_id)
                if after is None:
                    continue
            found.append((token_id, after))
            if len(found) == k:
                break
        return found
