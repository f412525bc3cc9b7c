"""Making the completions: the default model, the sampling settings, and both sides
of the comparison from the same seeds (the model is loaded by
``elmgrammar.decode.models.load_model``).

torch is imported here only, when a model is really needed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import EvaluateError
from .generations import Generation
from .prompts import PromptItem


@dataclass(frozen=True)
class Sampling:
    """How completions are drawn. ``do_sample=False`` is greedy search (one completion
    per prompt makes sense then)."""

    do_sample: bool = True
    temperature: float = 0.8
    top_k: int | None = 50
    top_p: float | None = None
    max_new_tokens: int = 128

    def generate_kwargs(self) -> dict:
        """Keyword arguments for ``model.generate``."""
        kwargs: dict = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            kwargs["temperature"] = self.temperature
            kwargs["top_k"] = self.top_k or 0  # 0 is off (given none, generate would take 50)
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        return kwargs

    def as_dict(self) -> dict:
        """JSON-ready data."""
        return asdict(self)


def default_model_path(path: str | os.PathLike | None) -> str:
    """The default model's folder ``path``, checked: the command line passes the model
    shipped with the package (``elmgrammar.finetune.default_model_path()``), a library
    user any folder; :class:`EvaluateError` when there is none."""
    hint = "pass --model DIR or a hub name"
    if path is None:
        raise EvaluateError(f"no model: this installation has no embedded default model; {hint}")
    if not Path(path).exists():
        raise EvaluateError(f"no model: the default model folder {path} does not exist; {hint}")
    return str(path)


@dataclass
class SideTiming:
    """Wall time and new tokens of one side's generation."""

    seconds: float = 0.0
    new_tokens: int = 0
    steps: int = 0  # generate's steps: a batch runs until its longest row ends, whatever the others do

    def as_dict(self) -> dict:
        """JSON-ready data, with tokens per second and milliseconds per step."""
        return {"seconds": round(self.seconds, 3), "new_tokens": self.new_tokens, "steps": self.steps,
                "tokens_per_s": round(self.new_tokens / self.seconds, 1) if self.seconds else None,
                "ms_per_step": round(1000 * self.seconds / self.steps, 2) if self.steps else None}


Completer = Callable[[list[str], int], list]
"""``(prompts, seed) -> completions``: ``per_prompt`` ``Completion`` objects per prompt, in order."""


def hf_completer(model, tokenizer, *, constrained: bool, per_prompt: int, sampling: Sampling,
                 mode: str = "declarations", close: bool = True) -> Completer:
    """Completions by Hugging Face ``generate`` (``decode.complete``), seeded per call;
    ``close``: constrained rows are closed by the grammar (``complete(close=...)``)."""
    import torch

    from elmgrammar.decode.complete import complete
    from elmgrammar.decode.fastmask import FastMasker
    from elmgrammar.decode.vocab import vocab_from_tokenizer

    # one mask for the whole side: it keeps what it learnt of the states it met
    masker = FastMasker(vocab_from_tokenizer(tokenizer)) if constrained else None
    kwargs = sampling.generate_kwargs()

    def run(prompts: list[str], seed: int) -> list:
        torch.manual_seed(seed)
        return complete(model, tokenizer, prompts, mode=mode, constrained=constrained, masker=masker,
                        num_return_sequences=per_prompt, close=close, **kwargs)

    return run


def vllm_completer(llm, *, constrained: bool, per_prompt: int, sampling: Sampling,
                   mode: str = "declarations", close: bool = True) -> Completer:
    """Completions by a vLLM engine made by ``decode.vllm_complete.vllm_engine``; each
    request seeded with the call's seed; ``close`` as for ``hf_completer``."""
    from elmgrammar.decode.vllm_complete import complete_vllm

    def run(prompts: list[str], seed: int) -> list:
        return complete_vllm(llm, prompts, mode=mode, constrained=constrained, max_new_tokens=sampling.max_new_tokens,
                             num_return_sequences=per_prompt, do_sample=sampling.do_sample,
                             temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p, seed=seed,
                             close=close)

    return run


def generate_side(completer: Completer, items: Sequence[PromptItem], *, side: str, per_prompt: int, seed: int = 0,
                  batch_size: int = 4, progress: bool = True) -> tuple[list[Generation], SideTiming]:
    """``per_prompt`` completions of every prompt by ``completer`` (one side of the
    comparison: ``side`` is one of ``run.SIDES``).

    Prompts go ``batch_size`` at a time; each batch is seeded with ``seed`` plus the
    index of its first prompt, so both sides of a comparison draw from the same random
    streams and a prompt's completions do not depend on which side ran first.
    """
    from tqdm import tqdm

    out: list[Generation] = []
    timing = SideTiming()
    bar = tqdm(total=len(items) * per_prompt, desc=f"generate ({side})", unit="completion", disable=not progress)
    try:
        for start in range(0, len(items), max(1, batch_size)):
            batch = list(items[start:start + batch_size])
            began = time.perf_counter()
            results = completer([i.prompt for i in batch], seed + start)
            timing.seconds += time.perf_counter() - began
            # the EOS a row ended with took a step too
            timing.steps += max(r.new_tokens + (r.stop_reason in ("eos", "dead end") or r.stop_reason.startswith("closed"))
                                for r in results)
            for r, result in enumerate(results):
                index = start + r // per_prompt
                timing.new_tokens += result.new_tokens
                out.append(Generation(result.prompt, result.text, side, index, r % per_prompt, result.new_tokens,
                                      result.stop_reason, items[index].reference, result.closing))
            bar.update(len(results))
    finally:
        bar.close()
    return out, timing
