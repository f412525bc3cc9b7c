"""A small byte-level BPE tokenizer trained on Elm, for models trained from scratch.

It is built the way StarCoder2's is (GPT-2 byte-to-character map, the same
pre-tokenizer split, no normaliser), so every piece of text has a spelling, the grammar
mask reads its vocabulary as bytes exactly as it reads StarCoder2's, and the special
tokens have StarCoder2's names and first ids (EOS = ``<|endoftext|>`` = 0, then the FIM
markers), so FIM examples and stopping rules work unchanged.
"""

from __future__ import annotations

from typing import Iterable

from .fim import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX

EOS = "<|endoftext|>"
FIM_PAD = "<fim_pad>"
SPECIAL_TOKENS = (EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD)


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int, model_max_length: int = 4096):
    """A Hugging Face fast tokenizer with ``vocab_size`` tokens learnt from ``texts``.

    ``tokenizers``' BPE trainer is deterministic for the same texts and size, so a
    resumed run that retrains it gets the same vocabulary (a saved one is reused anyway).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size {vocab_size}: a byte-level tokenizer needs at least {256 + len(SPECIAL_TOKENS)}")
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, bos_token=EOS, unk_token=EOS,
                                   additional_special_tokens=list(SPECIAL_TOKENS[1:]),
                                   model_max_length=model_max_length, clean_up_tokenization_spaces=False)
