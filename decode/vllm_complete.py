"""``complete()`` on vLLM: an engine with the grammar's logits processor, and
completions cut at the end of their unit, as the Hugging Face path gives them.

>>> llm = vllm_engine("bigcode/starcoder2-3b")                              # doctest: +SKIP
>>> complete_vllm(llm, ["view model =", "update msg model ="], max_new_tokens=128)  # doctest: +SKIP
"""

from __future__ import annotations

from .complete import Completion
from .state import ElmParseState
from .stopping import unit_end
from .vllm import ElmLogitsProcessor, elm_extra_args


def vllm_engine(model: str, tokenizer: str | None = None, **engine_kwargs):
    """A ``vllm.LLM`` for ``model`` (a folder or a hub name) with the grammar's
    processor loaded (requests still opt in one by one). ``engine_kwargs`` go to
    ``LLM`` (``dtype``, ``max_model_len``, ``max_num_seqs``, ...). On vLLM's CPU
    build, ``VLLM_CPU_KVCACHE_SPACE`` (GiB) bounds the memory of its cache."""
    from vllm import LLM

    if tokenizer is not None:
        engine_kwargs["tokenizer"] = tokenizer
    return LLM(model=model, logits_processors=[ElmLogitsProcessor], **engine_kwargs)


def complete_vllm(llm, prompt: str | list[str], mode: str = "declarations", constrained: bool = True,
                  max_new_tokens: int = 256, num_return_sequences: int = 1, do_sample: bool = False,
                  temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  seed: int | None = None, stop_at_unit_end: bool = True, close: bool = True) -> list[Completion]:
    """Completions of ``prompt`` (one or a batch) by the engine of ``vllm_engine``,
    ``num_return_sequences`` per prompt, in order; the settings mean what they
    mean for ``complete()`` (greedy unless ``do_sample``). Each text is cut where
    its unit ended (the engine runs on to EOS after it, constrained, or to its own
    end, unconstrained); ``stop_reason`` is "unit complete", "eos" or
    "max_new_tokens" (``close``: as for ``complete()``, but a row the grammar
    closed reads "eos": the engine's outputs do not say who wrote the end)."""
    from vllm import SamplingParams

    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    sampling = dict(max_tokens=max_new_tokens, n=num_return_sequences, seed=seed,
                    extra_args=elm_extra_args(mode, stop_at_unit_end, close=close) if constrained else None)
    if do_sample:
        sampling.update(temperature=temperature, top_k=top_k or 0, top_p=1.0 if top_p is None else top_p)
    else:
        sampling.update(temperature=0.0)
    outputs = llm.generate(prompts, SamplingParams(**sampling), use_tqdm=False)
    results = []
    for row_prompt, output in zip(prompts, outputs):
        for completion in output.outputs:
            text = completion.text
            cut = unit_end(row_prompt, text, mode) if stop_at_unit_end else None
            if cut is not None:
                text, reason = text[:cut], "unit complete"
            elif completion.finish_reason == "stop":
                reason = "eos"
            else:
                reason = "max_new_tokens"
            done = ElmParseState(mode, prompt=row_prompt + text).is_complete()
            results.append(Completion(row_prompt, text, done, reason, len(completion.token_ids), constrained))
    return results
