"""``complete()``: one call from a prompt to a syntax-valid completion."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from transformers import StoppingCriteriaList

from .fim import SuffixJudge, fim_prompt_ids, last_end
from .masks import Masker
from .processor import ElmGrammarLogitsProcessor
from .stopping import UnitStop
from .state import ElmParseState
from .vocab import vocab_from_tokenizer


@dataclass
class Completion:
    """A completion and how it ended.

    ``stop_reason``: "unit complete" (the declaration ended and the model began the
    next one), "eos" (the model ended it), "max_new_tokens" (cut off), or
    "dead end" (the constraint found nothing allowed; a sound mask never does this),
    "cut to end" (fill-in-the-middle: cut off, then shortened to its last valid end),
    "closed at eos" (the model would have ended it unfinished: the grammar wrote
    the closing), "closed at budget" (the budget left only just held the closing).
    ``complete``: prompt + text parses as a whole (with a suffix: prompt + text +
    suffix). ``suffix``: fill-in-the-middle, the text after the middle ``text``.
    ``closing``: the text the grammar wrote at the end of ``text`` (closed rows).
    """

    prompt: str
    text: str
    complete: bool
    stop_reason: str
    new_tokens: int
    constrained: bool
    suffix: str | None = None
    closing: str | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        for name in ("suffix", "closing"):
            if out[name] is None:
                del out[name]
        return out


# generate's warpers that cut the sampling set beyond top-k, and the value that leaves it whole
_OTHER_CUTS = {"typical_p": 1.0, "min_p": None, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0}
# what generate takes for a setting that neither the call nor the model's generation config gives
_GENERATE_DEFAULTS = {"num_beams": 1, "do_sample": False, "top_k": 50, "top_p": 1.0, "temperature": 1.0,
                      **_OTHER_CUTS}


def processor_settings(config, generate_kwargs: dict) -> dict:
    """The processor's settings for these ``generate`` settings (those not given
    come from the model's generation config, as generate takes them). Sampling is
    done by the processor itself, by rejection, with its top-k and top-p cuts (the
    same distribution, a fraction of the work), unless generate has other cuts to
    make (min-p, typical, epsilon, eta): then the processor keeps the ``top_k``
    best allowed tokens, which generate's warpers cut as they would cut them after
    the full mask. Nucleus sampling with no top-k, and other cuts with none, take
    the full mask; so do beams. Greedy search keeps the best allowed token."""

    def setting(name: str):
        given = generate_kwargs.get(name)
        if given is None:
            given = getattr(config, name, None)
        return _GENERATE_DEFAULTS[name] if given is None else given

    if setting("num_beams") != 1:
        return {"strategy": "full"}
    if not setting("do_sample"):
        return {"strategy": "lazy", "top_k": 1}
    top_k, top_p, temperature = setting("top_k") or None, setting("top_p"), setting("temperature")
    if any(setting(name) not in (None, whole) for name, whole in _OTHER_CUTS.items()):
        return {"strategy": "lazy", "top_k": top_k} if top_k else {"strategy": "full"}
    if top_p < 1.0 and not top_k:
        # a nucleus with no top-k may hold most of the vocabulary (a weak or flat model),
        # where the draws fall back to the full mask and a cut on the CPU: cheaper to
        # leave the cut to generate (`bench generate --decodings top-p,top-p-full`)
        return {"strategy": "full"}
    return {"strategy": "sample", "top_k": top_k, "top_p": top_p if top_p < 1.0 else None,
            "temperature": temperature}


def complete(model, tokenizer, prompt: str | list[str], mode: str = "declarations", constrained: bool = True,
             strategy: str = "auto", masker: Masker | None = None, suffix: str | list[str] | None = None,
             fim_order: str = "psm", prune: bool = True, cut_to_end: bool = False,
             fim_context: int | None = None, close: bool = True, **generate_kwargs) -> list[Completion]:
    """Generate completions of ``prompt`` (one or a batch) with ``model.generate``.

    With ``constrained=True`` an ``ElmGrammarLogitsProcessor`` masks every token that
    would make the program unparseable; either way a ``UnitStop`` ends a sequence
    at the end of its declaration. Returns ``num_return_sequences`` completions
    per prompt, in order. ``masker``: the tokenizer's mask to reuse across calls
    (it keeps what it learnt of past states); by default one is made per call.

    Fill-in-the-middle: with ``suffix`` (one per prompt), ``prompt`` is the prefix
    and the completion is the middle. The model reads the FIM prompt
    (``fim_order`` "psm" or "spm", as fine-tuning writes them); constrained, the
    middle may end only where prefix + middle + suffix parses (``prune``: also mask
    tokens after which it never could); it ends at EOS or ``max_new_tokens``, not
    at a unit's end; ``cut_to_end``: a middle cut off by ``max_new_tokens`` is
    shortened to the last place where prefix + middle + suffix parses (stop reason
    "cut to end"; kept whole where there is none); ``fim_context``: the model reads
    only the last that many characters of the prefix and the first of the suffix (a
    small context window), while the constraint judges the whole text. A suffix no
    middle can join raises
    :class:`~elmgrammar.decode.fim.SuffixError` (line and column in it).

    ``close`` (constrained): where the model would end before its program is whole
    (with a suffix: before the suffix can join), or the budget left only just holds
    what is still open, the grammar writes the shortest closing it finds and ends the
    completion (stop reasons "closed at eos" and "closed at budget";
    ``Completion.closing`` holds the text written), so that completions end whole
    rather than cut off; ``close=False`` leaves the model to find its own way to an
    end.

    >>> complete(model, tokenizer, "view model =", max_new_tokens=64)   # doctest: +SKIP
    >>> complete(model, tokenizer, "view model =\n    div []", suffix="\n\nmain = 1\n")  # doctest: +SKIP
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    suffixes = None if suffix is None else [suffix] if isinstance(suffix, str) else list(suffix)
    if suffixes is not None and len(suffixes) != len(prompts):
        raise ValueError(f"{len(suffixes)} suffixes for {len(prompts)} prompts: give one per prompt")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if suffixes is None:
        padding_side = tokenizer.padding_side
        tokenizer.padding_side = "left"
        try:
            batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tokenizer.padding_side = padding_side
    else:
        seen = (lambda p: p[-fim_context:], lambda s: s[:fim_context]) if fim_context else (str, str)
        batch = fim_batch(tokenizer, [seen[0](p) for p in prompts], [seen[1](s) for s in suffixes], fim_order)
    batch = {k: v.to(model.device) for k, v in batch.items()}
    processors = []
    processor = None
    if constrained:
        settings = processor_settings(model.generation_config, generate_kwargs)
        if strategy != "auto":
            settings["strategy"] = strategy
        if settings["strategy"] == "sample":
            # generate takes the one token the processor keeps: its own cuts have nothing to do
            generate_kwargs.update(top_k=0, top_p=1.0)
        generate_kwargs.setdefault("max_new_tokens", 256)
        closing = {"close": True, "close_within": generate_kwargs["max_new_tokens"]} if close else {}
        processor = ElmGrammarLogitsProcessor(tokenizer, prompts, mode=mode, vocab=masker.vocab if masker else None,
                                              masker=masker, suffixes=suffixes, prune=prune, **settings, **closing)
        processors.append(processor)
    # the unit rule reads the processor's row matchers (each token consumed once); a
    # middle may hold several declarations: it ends at EOS
    stop = UnitStop(tokenizer, prompts, mode, processor=processor) if suffixes is None else None
    generate_kwargs.setdefault("max_new_tokens", 256)
    generate_kwargs.setdefault("pad_token_id", tokenizer.pad_token_id)
    with torch.no_grad():
        out = model.generate(**batch, logits_processor=processors,
                             stopping_criteria=StoppingCriteriaList([stop] if stop else []), **generate_kwargs)
    prompt_len = batch["input_ids"].shape[1]
    rows = out.shape[0]
    results = []
    vocab = None
    for r in range(rows):
        new = out[r, prompt_len:].tolist()
        eos = tokenizer.eos_token_id
        ended = eos in new
        if ended:
            new = new[:new.index(eos)]
        text = tokenizer.decode(new, skip_special_tokens=True)
        row_prompt = prompts[r * len(prompts) // rows]
        row_suffix = None if suffixes is None else suffixes[r * len(prompts) // rows]
        closed = processor.closer.closed.get((r * len(prompts) // rows, tuple(new))) \
            if processor is not None and processor.closer is not None and ended else None
        closing = None
        if stop is not None and r in stop.stopped:
            text, reason = text[:stop.stopped[r]], "unit complete"
        elif closed is not None:
            reason, closing = f"closed at {closed[0]}", closed[1]
        elif ended:
            reason = "eos"
        else:
            reason = "max_new_tokens"
            # cut off inside a UTF-8 character: its first bytes are no text
            text = text.removesuffix("\ufffd") if new and tokenizer.decode(new[-1:]).endswith("\ufffd") else text
        if cut_to_end and row_suffix is not None and reason == "max_new_tokens":
            if vocab is None:  # once per call: building it reads the whole vocabulary
                vocab = processor.vocab if processor is not None else vocab_from_tokenizer(tokenizer)
            # the processor's judge has parsed the suffix's tail already
            judge = processor.suffix_judges[r * len(prompts) // rows] if processor is not None else \
                SuffixJudge(row_suffix, mode, prune=False)
            keep = last_end(judge, row_prompt, [vocab.pieces[t] for t in new]) \
                if ElmParseState(mode, row_prompt).is_viable() else None
            if keep is not None:
                text, reason = tokenizer.decode(new[:keep], skip_special_tokens=True), "cut to end"
        done = ElmParseState(mode, prompt=row_prompt + text + (row_suffix or "")).is_complete()
        if processor is not None and processor.dead_ends and ended and not done:
            reason = "dead end"
        results.append(Completion(row_prompt, text, done, reason, len(new), constrained, row_suffix, closing))
    return results


def fim_batch(tokenizer, prefixes: list[str], suffixes: list[str], order: str = "psm") -> dict:
    """The model's input for fill-in-the-middle: each prefix and suffix laid out as
    a FIM prompt (``fim.fim_prompt_ids``), left-padded into one batch."""
    rows = [fim_prompt_ids(tokenizer, p, s, order) for p, s in zip(prefixes, suffixes)]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], dtype=torch.long)
    attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": attention}
