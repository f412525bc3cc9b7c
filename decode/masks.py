"""Which vocabulary entries may come next: the exact full mask and the lazy path.

- ``full_mask(state)``: every vocabulary entry judged (a boolean array). Exact.
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
        if token_id >= self.size:
            return False
        piece = self.vocab.pieces[token_id]
        if piece is None:
            return False
        text = self._texts[token_id]
        if text is not None and not state.decoder.getstate()[0]:
            return state.copy().advance(text) if text else False
        return state.copy().advance_bytes(piece)

    def full_mask(self, state: ElmParseState) -> np.ndarray:
        """A boolean array over the vocabulary: True where the entry is allowed."""
        mask = np.zeros(self.size, dtype=bool)
        if not state.viable:
            return mask
        for token_id in range(self.size):
            mask[token_id] = self.allowed(state, token_id)
        return mask

    def lazy_allowed(self, state: ElmParseState, order: Iterable[int], k: int = 1) -> list[int]:
        """The first ``k`` allowed ids, taking candidates in the given order (best
        score first). Fewer when the order runs out."""
        found: list[int] = []
        for token_id in order:
            if self.allowed(state, int(token_id)):
                found.append(int(token_id))
                if len(found) == k:
                    break
        return found
