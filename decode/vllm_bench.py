"""Tokens/s of vLLM with and without the grammar's processor (``elmgrammar bench
generate --engine vllm``), in the rows of ``bench.bench_generate`` so that the two
engines print side by side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch

from .bench import speed_figures
from .vllm import ElmLogitsProcessor

# name: (vLLM's sampling settings, how the processor masks such a row)
VLLM_DECODINGS = {
    "greedy": ({"temperature": 0.0}, "lazy"),
    "top-k": ({"temperature": 0.8, "top_k": 50}, "drawn"),
    "top-p": ({"temperature": 0.8, "top_p": 0.95}, "full"),
}


class TimedElmLogitsProcessor(ElmLogitsProcessor):
    """The processor, adding up the time it takes (class-wide: the engine makes the
    instance, out of the benchmark's reach)."""

    seconds = 0.0
    latest: "TimedElmLogitsProcessor | None" = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        TimedElmLogitsProcessor.latest = self

    def update_state(self, batch_update) -> None:
        start = time.perf_counter()
        super().update_state(batch_update)
        TimedElmLogitsProcessor.seconds += time.perf_counter() - start

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = super().apply(logits)
        TimedElmLogitsProcessor.seconds += time.perf_counter() - start
        return out


def bench_generate_vllm(model_dir: str | Path, prompts: Sequence[str], new_tokens: int = 32,
                        batch_sizes: Sequence[int] = (1, 8), repeat: int = 3,
                        decodings: Sequence[str] = ("greedy",), on_row=None, dtype: str = "float32",
                        enforce_eager: bool = False) -> list[dict]:
    """``bench_generate``'s rows for a vLLM engine (in this process) on the model of
    ``model_dir``: each batch of prompts unconstrained and constrained (mode
    "declarations"), alternating, the median of ``repeat`` runs after a warm-up
    pair. Both sides generate exactly ``new_tokens`` per row (``min_tokens`` holds
    EOS off, neither the unit stop nor closing is asked for). ``mask_ms``: the processor's time per
    step, all rows together; ``threads``: torch's threads in the engine."""
    from vllm import LLM, SamplingParams

    from .vllm import elm_extra_args

    llm = LLM(model=str(model_dir), dtype=dtype, seed=0, max_num_seqs=max(batch_sizes),
              enforce_eager=enforce_eager, logits_processors=[TimedElmLogitsProcessor])
    params = _parameter_count(model_dir)
    rows = []
    for decoding in decodings:
        settings, strategy = VLLM_DECODINGS[decoding]
        for batch_size in batch_sizes:
            batch = [prompts[i % len(prompts)] for i in range(batch_size)]
            row = {"engine": "vllm", "model": Path(model_dir).name, "decoding": decoding, "strategy": strategy,
                   "batch": batch_size, "new_tokens": new_tokens, "device": "cpu", "params": params,
                   "dtype": dtype, "threads": torch.get_num_threads()}
            times: dict[bool, list[float]] = {False: [], True: []}
            mask_times: list[float] = []
            masker = TimedElmLogitsProcessor.latest.masker
            judged_before = masker.judged
            for attempt in range(repeat + 1):
                for constrained in (False, True):
                    # the mask's cost alone: no closing (it would end rows the model would end)
                    extra = elm_extra_args("declarations", stop_at_unit_end=False, close=False) if constrained else None
                    sampling = [SamplingParams(max_tokens=new_tokens, min_tokens=new_tokens, extra_args=extra,
                                               seed=attempt * 1000 + i if settings["temperature"] else None,
                                               **settings) for i in range(batch_size)]
                    TimedElmLogitsProcessor.seconds = 0.0
                    start = time.perf_counter()
                    llm.generate(batch, sampling, use_tqdm=False)
                    if attempt:
                        times[constrained].append(time.perf_counter() - start)
                        if constrained:
                            mask_times.append(TimedElmLogitsProcessor.seconds)
            speed_figures(row, times, mask_times, masker.judged - judged_before, (repeat + 1) * batch_size,
                          batch_size, new_tokens)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def _parameter_count(model_dir: str | Path) -> int:
    """The parameters in the model folder's safetensors files."""
    from safetensors import safe_open

    count = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                count += _numel(f.get_slice(name).get_shape())
    return count


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
