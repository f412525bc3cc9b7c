"""Packing units into full training sequences.

The user's run padded every unit to 512 tokens (median unit: ~70 tokens), so most of
each batch was padding, and with pad = EOS and labels copied from the inputs the model
was also trained to predict padding. Here units are joined end to end with EOS after
each one and cut into blocks of exactly ``seq_len`` tokens; only the very last block of
a split can be short, and it alone is padded, with attention mask 0 and label -100 on
the padding. Labels are masked by position, never by token id, so the EOS that ends
each unit is learnt (it is what tells the decoder that a declaration is finished).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import torch

from .fim import FimTokens, fim_ids

IGNORE_INDEX = -100  # what PyTorch's cross-entropy skips
_BATCH = 512


@dataclass(frozen=True)
class PackOptions:
    """``fim_rate``: share of units turned into FIM examples; ``fim_spm_rate``: share of
    those in SPM order; ``seed`` fixes which units and where they are cut."""

    seq_len: int = 512
    fim_rate: float = 0.0
    fim_spm_rate: float = 0.0
    seed: int = 0


def tokenize_units(texts: list[str], tokenizer, options: PackOptions) -> list[list[int]]:
    """Each unit's token ids (FIM-transformed for a ``fim_rate`` share), without EOS."""
    # verbose=False: units longer than the model's context are expected (packing cuts them);
    # split_special_tokens: `<NAME>` or `<fim_prefix>` in Elm text is text, never a special
    # token (the mask allows none in Elm, and a model must not learn to write them)
    encode: Callable[[str], list[int]] = (
        lambda s: tokenizer(s, add_special_tokens=False, split_special_tokens=True, verbose=False)["input_ids"]
        if s else [])
    fim = FimTokens.of(tokenizer) if options.fim_rate > 0 else None
    # one generator per split and seed: the same units get the same cuts on every run
    rng = random.Random(options.seed)
    out: list[list[int]] = []
    for start in range(0, len(texts), _BATCH):
        batch = texts[start:start + _BATCH]
        plain = tokenizer(batch, add_special_tokens=False, split_special_tokens=True, verbose=False)["input_ids"]
        for text, ids in zip(batch, plain):
            if fim is not None and rng.random() < options.fim_rate:
                ids = fim_ids(text, encode, fim, rng, spm=rng.random() < options.fim_spm_rate)
            out.append(list(ids))
    return out


def pack(units: list[list[int]], seq_len: int, eos_id: int, pad_id: int | None = None) -> dict[str, torch.Tensor]:
    """Join ``units`` with EOS after each and cut into ``seq_len`` blocks.

    Returns ``input_ids``, ``attention_mask`` and ``labels`` tensors of shape
    (blocks, seq_len). Labels equal the inputs except on the last block's padding (-100).

    >>> out = pack([[5, 6], [7]], seq_len=4, eos_id=0)
    >>> out["input_ids"].tolist(), out["labels"].tolist()
    ([[5, 6, 0, 7], [0, 0, 0, 0]], [[5, 6, 0, 7], [0, -100, -100, -100]])
    """
    stream: list[int] = []
    for ids in units:
        stream.extend(ids)
        stream.append(eos_id)
    if not stream:
        raise ValueError("no tokens to pack: the split is empty")
    blocks = -(-len(stream) // seq_len)
    padding = blocks * seq_len - len(stream)
    input_ids = torch.tensor(stream + [eos_id if pad_id is None else pad_id] * padding, dtype=torch.long)
    attention = torch.ones(blocks * seq_len, dtype=torch.long)
    if padding:
        attention[-padding:] = 0
    labels = input_ids.masked_fill(attention == 0, IGNORE_INDEX)
    shape = (blocks, seq_len)
    return {"input_ids": input_ids.view(shape), "attention_mask": attention.view(shape), "labels": labels.view(shape)}


class PackedDataset(torch.utils.data.Dataset):
    """Packed blocks as a map-style dataset of ``{input_ids, attention_mask, labels}``."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors["input_ids"].shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}

    @property
    def tokens(self) -> int:
        """Tokens that are not padding."""
        return int(self.tensors["attention_mask"].sum())


def packed_dataset(texts: list[str], tokenizer, options: PackOptions) -> PackedDataset:
    """Tokenize (with FIM where asked) and pack one split."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token: units cannot be separated")
    units = tokenize_units(texts, tokenizer, options)
    return PackedDataset(pack(units, options.seq_len, tokenizer.eos_token_id, tokenizer.pad_token_id))
