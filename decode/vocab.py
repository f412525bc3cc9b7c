"""A tokenizer's vocabulary as bytes: what text each token id appends.

Byte-level BPE tokenizers (StarCoder2, GPT-2) spell bytes as printable
characters; this table undoes that, so a token that ends inside a UTF-8
character is seen as the bytes it is. Special tokens (EOS, FIM markers, padding)
append no text: they get ``None``, and only EOS is ever allowed, when the
program is complete.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes-to-printable-characters map."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


@dataclass(frozen=True)
class Vocab:
    """Token ids to bytes (``None`` for special tokens), the EOS id, and a hash
    that identifies the vocabulary (for caches)."""

    pieces: tuple[bytes | None, ...]
    eos_id: int | None
    special_ids: frozenset[int]
    digest: str

    def __len__(self) -> int:
        return len(self.pieces)

    @cached_property
    def newline_first(self):
        """A numpy bool array: the tokens whose text starts a new line (after
        spaces), computed once per vocabulary rather than per generation."""
        import numpy as np

        return np.array([bool(p) and p.lstrip(b" \r").startswith(b"\n") for p in self.pieces])


def vocab_from_tokenizer(tokenizer) -> Vocab:
    """Build the table from a Hugging Face tokenizer (fast or slow) with a
    byte-level BPE vocabulary, such as StarCoder2's."""
    decoder = _byte_decoder()
    size = len(tokenizer)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    special.update(i for i, t in added.items() if getattr(t, "special", False))
    tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
    pieces: list[bytes | None] = []
    for i, tok in enumerate(tokens):
        if i in special or tok is None:
            pieces.append(None)
            continue
        try:
            pieces.append(bytes(decoder[ch] for ch in tok))
        except KeyError:
            # not a byte-level spelling (an added non-special token): its text as is
            pieces.append(tok.encode("utf-8"))
    digest = hashlib.sha256(json.dumps([p.hex() if p is not None else None for p in pieces]).encode()).hexdigest()[:16]
    return Vocab(tuple(pieces), tokenizer.eos_token_id, frozenset(special), digest)
