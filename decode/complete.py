"""``complete()``: one call from a prompt to a syntax-valid completion."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from transformers import StoppingCriteriaList

from .masks import Masker
from .processor import ElmGrammarLogitsProcessor
from .stopping import UnitStop
from .state import ElmParseState


@dataclass
class Completion:
    """A completion and how it ended.

    ``stop_reason``: "unit complete" (the declaration ended and the model began the
    next one), "eos" (the model ended it), "max_new_tokens" (cut off), or
    "dead end" (the constraint found nothing allowed; a sound mask never does this).
    ``complete``: prompt + text parses as a whole.
    """

    prompt: str
    text: str
    complete: bool
    stop_reason: str
    new_tokens: int
    constrained: bool

    def as_dict(self) -> dict:
        return asdict(self)


def complete(model, tokenizer, prompt: str | list[str], mode: str = "declarations", constrained: bool = True,
             strategy: str = "auto", masker: Masker | None = None, **generate_kwargs) -> list[Completion]:
    """Generate completions of ``prompt`` (one or a batch) with ``model.generate``.

    With ``constrained=True`` an ``ElmGrammarLogitsProcessor`` masks every token that
    would make the program unparseable; either way a ``UnitStop`` ends a sequence
    at the end of its declaration. Returns ``num_return_sequences`` completions
    per prompt, in order. ``masker``: the tokenizer's mask to reuse across calls
    (it keeps what it learnt of past states); by default one is made per call.

    >>> complete(model, tokenizer, "view model =", max_new_tokens=64)   # doctest: +SKIP
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = padding_side
    batch = {k: v.to(model.device) for k, v in batch.items()}
    stop = UnitStop(tokenizer, prompts, mode)
    processors = []
    processor = None
    if constrained:
        sampling = generate_kwargs.get("do_sample")
        top_k = generate_kwargs.get("top_k") if sampling else 1
        top_p = generate_kwargs.get("top_p", 1.0) if sampling else 1.0
        nucleus = {}
        if generate_kwargs.get("num_beams", 1) > 1:
            top_k = None  # beams need the whole distribution
        elif top_p < 1.0 and not generate_kwargs.get("top_k", getattr(model.generation_config, "top_k", None)):
            # nucleus sampling: the processor cuts the nucleus of the allowed tokens
            # itself (lazily); generate must not cut it again
            nucleus = dict(top_p=top_p, temperature=generate_kwargs.get("temperature") or 1.0)
            generate_kwargs["top_p"] = 1.0
        elif top_p < 1.0:
            top_k = None  # top-k then top-p: the whole distribution
        processor = ElmGrammarLogitsProcessor(tokenizer, prompts, mode=mode, strategy=strategy, top_k=top_k,
                                              vocab=masker.vocab if masker else None, masker=masker, **nucleus)
        processors.append(processor)
    generate_kwargs.setdefault("max_new_tokens", 256)
    generate_kwargs.setdefault("pad_token_id", tokenizer.pad_token_id)
    with torch.no_grad():
        out = model.generate(**batch, logits_processor=processors, stopping_criteria=StoppingCriteriaList([stop]),
                             **generate_kwargs)
    prompt_len = batch["input_ids"].shape[1]
    rows = out.shape[0]
    results = []
    for r in range(rows):
        new = out[r, prompt_len:].tolist()
        eos = tokenizer.eos_token_id
        ended = eos in new
        if ended:
            new = new[:new.index(eos)]
        text = tokenizer.decode(new, skip_special_tokens=True)
        row_prompt = prompts[r * len(prompts) // rows]
        if r in stop.stopped:
            text, reason = text[:stop.stopped[r]], "unit complete"
        elif ended:
            reason = "eos"
        else:
            reason = "max_new_tokens"
        done = ElmParseState(mode, prompt=row_prompt + text).is_complete()
        if processor is not None and processor.dead_ends and ended and not done:
            reason = "dead end"
        results.append(Completion(row_prompt, text, done, reason, len(new), constrained))
    return results
