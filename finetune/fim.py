"""Fill-in-the-middle examples in StarCoder2's format.

A unit is cut at two random character positions into prefix, middle and suffix, and
each piece is tokenized on its own (as StarCoder's training did), so the model learns
to write a middle that joins the two sides:

- PSM: ``<fim_prefix>`` prefix ``<fim_suffix>`` suffix ``<fim_middle>`` middle
- SPM (StarCoder's variant): ``<fim_prefix><fim_suffix>`` suffix ``<fim_middle>`` prefix middle

The packer then appends EOS, which teaches the model to stop where the middle ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIM_PREFIX = "<fim_prefix>"
FIM_MIDDLE = "<fim_middle>"
FIM_SUFFIX = "<fim_suffix>"


@dataclass(frozen=True)
class FimTokens:
    """The ids of the three FIM markers in a tokenizer."""

    prefix: int
    middle: int
    suffix: int

    @classmethod
    def of(cls, tokenizer) -> "FimTokens":
        """Look the markers up; a tokenizer without them cannot make FIM examples."""
        vocab = tokenizer.get_vocab()
        missing = [t for t in (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX) if t not in vocab]
        if missing:
            raise ValueError(f"the tokenizer has no {', '.join(missing)} token: FIM needs StarCoder2's FIM markers")
        return cls(vocab[FIM_PREFIX], vocab[FIM_MIDDLE], vocab[FIM_SUFFIX])


def split_points(text: str, rng: random.Random) -> tuple[int, int]:
    """Two sorted cut positions in ``text`` (0..len), drawn uniformly."""
    a, b = rng.randint(0, len(text)), rng.randint(0, len(text))
    return (a, b) if a <= b else (b, a)


def fim_ids(text: str, encode, tokens: FimTokens, rng: random.Random, spm: bool = False) -> list[int]:
    """The token ids of ``text`` as one FIM example (no EOS); ``encode(str) -> list[int]``.

    Decoding the pieces back and reordering them gives ``text`` again.
    """
    i, j = split_points(text, rng)
    prefix, middle, suffix = encode(text[:i]), encode(text[i:j]), encode(text[j:])
    if spm:
        return [tokens.prefix, tokens.suffix, *suffix, tokens.middle, *prefix, *middle]
    return [tokens.prefix, *prefix, tokens.suffix, *suffix, tokens.middle, *middle]
