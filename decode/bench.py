"""Benchmarks of constrained decoding: mask time per token, and generation speed."""

from __future__ import annotations

import gc
import heapq
import statistics
import time
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from elmgrammar.starcoder2 import resolve_tokenizer

from .fastmask import FastMasker, VocabIndex
from .replay import replay_ids, summary
from .models import load_model, load_tokenizer
from .vocab import vocab_from_tokenizer


SLOWEST = 10  # states listed with their text by `bench mask`


def bench_mask(tokenizer_dir: str | Path, paths: Sequence[Path], full_every: int = 1,
               baselines: Sequence[str] = ()) -> dict:
    """Teacher-force the files and time, per position, the exact full mask and the
    lazy path (the true token judged first); also the per-tokenizer precomputation
    (built afresh, not from the cache). The heap loaded before the timing is
    frozen (``gc.freeze``), as servers do after start-up.

    ``baselines``: other engines (``"llguidance"``, ``"xgrammar"``; see
    ``decode/baselines.py``) timed on the same files in the same run, with a
    context-free approximation of Elm; one that is not installed is listed as
    skipped."""
    tokenizer = load_tokenizer(tokenizer_dir)
    vocab = vocab_from_tokenizer(tokenizer)
    start = time.perf_counter()
    index = VocabIndex(vocab)
    precompute = time.perf_counter() - start
    masker = FastMasker(vocab, index)
    # What is loaded by now lives as long as the process: frozen out of the
    # collector's view, as a server does after start-up (vLLM does), so that a
    # full collection walks only what the masks made (otherwise one costs ~0.2 s,
    # charged to whichever mask it interrupts).
    gc.collect()
    gc.freeze()
    try:
        return _bench_mask(tokenizer, vocab, masker, precompute, paths, full_every, baselines)
    finally:
        gc.unfreeze()


def _bench_mask(tokenizer, vocab, masker: FastMasker, precompute: float, paths: Sequence[Path], full_every: int,
                baselines: Sequence[str]) -> dict:
    full: list[float] = []
    lazy: list[float] = []
    positions = rejected = 0
    eos_ok = True
    slowest: list[tuple[float, str, int, str]] = []  # (ms, path, position, text before it)
    for path in tqdm(list(paths), desc="bench mask", unit="file", disable=None):
        ids = tokenizer(Path(path).read_text(encoding="utf-8"), add_special_tokens=False, split_special_tokens=True,
                        verbose=False)["input_ids"]
        before = len(full)
        result = replay_ids(masker, ids, str(path), full_every=full_every, timings=(full, lazy))
        positions += result.tokens
        rejected += len(result.rejected)
        eos_ok &= result.eos_ok
        for j in heapq.nlargest(SLOWEST, range(before, len(full)), key=full.__getitem__):
            k = (j - before) * full_every
            slowest.append((round(1000 * full[j], 3), str(path), k, tokenizer.decode(ids[max(0, k - 24):k])))
        slowest = heapq.nlargest(SLOWEST, slowest)
    return {"files": len(paths), "positions": positions, "rejected": rejected, "eos_ok": eos_ok,
            "vocabulary": len(vocab), "precompute_s": round(precompute, 3),
            "full_ms": summary(full), "lazy_ms": summary(lazy),
            "slowest": [{"ms": ms, "path": p, "position": k, "before": text} for ms, p, k, text in slowest],
            "baselines": {name: _bench_baseline(name, tokenizer, paths) for name in baselines}}


def _bench_baseline(name: str, tokenizer, paths: Sequence[Path]) -> dict:
    from .baselines import BASELINES, available

    if not available(name):
        return {"skipped": "unknown engine" if name not in BASELINES else f"{name} is not installed"}
    times_fn, kwargs = BASELINES[name]
    run = times_fn(tokenizer, paths, **kwargs)
    return {"version": run.version, "files": run.files, "accepted": run.accepted,
            "positions": run.positions, "every": run.every, "timed": len(run.times),
            "rejected": [{"path": p, "position": k, "token": t} for p, k, t in run.rejected],
            "budget_s": run.budget_s, "out_of_time": [{"path": p, "positions": k} for p, k in run.out_of_time],
            "setup_s": round(run.setup_s, 3), "mask_ms": summary(run.times)}


def format_mask(result: dict) -> str:
    """The mask benchmark as a table."""
    lines = [f"{result['files']} files, {result['positions']:,} positions, vocabulary {result['vocabulary']:,}; "
             f"rejected true tokens: {result['rejected']}; EOS right: {result['eos_ok']}",
             f"precomputation: {result['precompute_s']:.2f} s (cached on disk afterwards); "
             "the start-up heap frozen out of the garbage collector (gc.freeze), as servers do",
             "",
             f"{'path':<10} {'median':>9} {'p90':>9} {'p99':>9} {'max':>9} {'mean':>9}   (ms per token)"]
    for name in ("full", "lazy"):
        s = result[f"{name}_ms"]
        lines.append(f"{name:<10} " + " ".join(f"{s.get(k, 0):>9.3f}" for k in ("median", "p90", "p99", "max", "mean")))
    full, lazy = result["full_ms"].get("mean"), result["lazy_ms"].get("mean")
    baselines = result.get("baselines") or {}
    notes = []
    for name, b in baselines.items():
        if "skipped" in b:
            notes.append(f"{name}: skipped ({b['skipped']})")
            continue
        s = b["mask_ms"]
        mean = s.get("mean")
        ratios = (f"   ours/{name} mean: full {full / mean:.3g}x, lazy {lazy / mean:.3g}x"
                  if full and lazy and mean else "")
        lines.append(f"{name:<10} " + " ".join(f"{s.get(k, 0):>9.3f}" for k in ("median", "p90", "p99", "max", "mean"))
                     + ratios)
        stride = "every position" if b["every"] == 1 else f"every {b['every']}th position"
        notes.append(f"{name} {b['version']}: Elm CFG approximation without layout (decode/elm_cfg.lark); "
                     f"{b['accepted']}/{b['files']} files accepted to the end, {len(b['rejected'])} stopped at a "
                     f"refused true token"
                     + (f", {len(b['out_of_time'])} stopped at the {b['budget_s']:g} s per-file budget"
                        if b.get("budget_s") is not None else "")
                     + f"; {b['positions']:,} positions replayed, {b['timed']:,} masks timed ({stride}); "
                     f"setup {b['setup_s']:.2f} s")
    if full and lazy:
        lines.append(f"\nthe lazy path is {full / lazy:.0f}x cheaper than the full mask on average")
    lines += notes
    if result.get("slowest"):
        lines += ["", f"the {len(result['slowest'])} slowest full masks (ms, file:token, the text before the state):"]
        lines += [f"{s['ms']:>9.2f}  {Path(s['path']).name}:{s['position']}  {s['before'][-60:]!r}"
                  for s in result["slowest"]]
    return "\n".join(lines)


def speed_figures(row: dict, times: dict, mask_times: list[float], judged: int, rows_run: int,
                  batch_size: int, new_tokens: int) -> None:
    """A generation benchmark's figures for one decoding and batch size, into ``row``:
    tokens/s of each side (``times[constrained]``: seconds per timed run), the
    unconstrained step and the processor's time per step (ms), the entries judged one
    by one per row and step, and the ratio."""
    for constrained, key in ((False, "unconstrained"), (True, "constrained")):
        row[key] = round(batch_size * new_tokens / statistics.median(times[constrained]), 1)
    # the unconstrained step, for scale: the processor's time adds to it where the
    # host is the bottleneck (a GPU waits for it), so 95% allows 1/19 of a step
    row["step_ms"] = round(1000 * statistics.median(times[False]) / new_tokens, 3)
    row["mask_ms"] = round(1000 * statistics.median(mask_times) / new_tokens, 3)
    # entries judged one by one per row and step (the lazy path's candidates)
    row["judged"] = round(judged / (rows_run * new_tokens), 2)
    row["ratio"] = round(row["constrained"] / row["unconstrained"], 3)


_TOP_P = {"do_sample": True, "top_p": 0.95, "top_k": 0, "temperature": 0.8}
_TOP_K = {"do_sample": True, "top_k": 50, "temperature": 0.8}
# generate's settings beside a processor that draws: the one token it keeps leaves
# generate's own cuts nothing to do, so they are not made (as complete() does)
_TAKEN = {"top_k": 0, "top_p": 1.0}

DECODINGS = {
    # name: (generate's settings, the processor's settings, generate's settings when constrained)
    "greedy": ({"do_sample": False}, {"strategy": "lazy", "top_k": 1}, {}),
    # the user's evaluation: sampling from the 50 best, drawn by the processor (by rejection) ...
    "top-k": (_TOP_K, {"strategy": "sample", "top_k": 50, "temperature": 0.8}, _TAKEN),
    # ... or left to generate, from the 50 best allowed (found lazily) or from the full mask
    "top-k-set": (_TOP_K, {"strategy": "lazy", "top_k": 50}, {}),
    "top-k-full": (_TOP_K, {"strategy": "full"}, {}),
    # nucleus sampling, drawn by the processor (by rejection), or from the full mask
    "top-p": (_TOP_P, {"strategy": "sample", "top_p": 0.95, "temperature": 0.8}, _TAKEN),
    "top-p-full": (_TOP_P, {"strategy": "full"}, {}),
}


def bench_generate(config_dir: str | Path | None, prompts: Sequence[str], new_tokens: int = 32,
                   batch_sizes: Sequence[int] = (1, 8), layers: int | None = 2, hidden: int | None = 64,
                   repeat: int = 3, device: str = "auto", dtype: str | None = None,
                   decodings: Sequence[str] = ("greedy",), on_row=None, model_dir: str | None = None) -> list[dict]:
    """Tokens/s of generation with a random StarCoder2 (the architecture of
    ``config_dir``, shrunk to ``layers`` x ``hidden`` unless those are None), or
    with the trained model of ``model_dir`` (and its tokenizer), unconstrained and
    constrained side by side, per decoding and batch size (the median of
    ``repeat`` runs of each, alternating, after a warm-up pair). Greedy uses the
    lazy path, top-k and top-p the processor's own draws, top-k-set the 50 best
    allowed found lazily, top-k-full and top-p-full the full mask (see
    ``DECODINGS``). Both sides generate exactly
    ``new_tokens`` tokens (EOS is held off and the unit stop is not used), so the
    rows compare like with like.
    ``step_ms`` is an unconstrained step's time (all rows together); ``mask_ms`` the
    processor's own time per step (CPU, all rows together);
    ``judged``, the entries judged one at a time per row and step.
    ``on_row`` is called with each row as soon as it is measured."""
    import torch

    from .processor import ElmGrammarLogitsProcessor
    from .tiny import tiny_starcoder2

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if model_dir is not None:
        model, tokenizer = load_model(model_dir, device=device)
        dtype, name = str(model.dtype).removeprefix("torch."), Path(model_dir).name
    else:
        dtype = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        config_dir = resolve_tokenizer(config_dir)  # "starcoder2": the shipped config and tokenizer
        tokenizer = load_tokenizer(config_dir, argument="config_dir")
        model = tiny_starcoder2(config_dir, layers=layers, hidden=hidden, device=device, dtype=dtype)
        name = "random StarCoder2"
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    vocab = vocab_from_tokenizer(tokenizer)
    masker = FastMasker(vocab)

    def synchronize() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    rows = []
    for decoding in decodings:
        kwargs, processor_kwargs, constrained_kwargs = DECODINGS[decoding]
        strategy = processor_kwargs.get("strategy", "lazy")
        for batch_size in batch_sizes:
            batch_prompts = [prompts[i % len(prompts)] for i in range(batch_size)]
            inputs = tokenizer(batch_prompts, return_tensors="pt", padding=True,
                               add_special_tokens=False).to(device)
            row = {"engine": "hf", "threads": torch.get_num_threads(), "model": name, "decoding": decoding, "strategy": strategy, "batch": batch_size,
                   "new_tokens": new_tokens,
                   "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
                   "params": sum(p.numel() for p in model.parameters()), "dtype": dtype}
            # The two sides alternate run by run, so that drifts of the machine (clocks,
            # other load) touch both alike; the first pair warms up, the median counts.
            times: dict[bool, list[float]] = {False: [], True: []}
            mask_times: list[float] = []
            judged_before = masker.judged
            for attempt in range(repeat + 1):
                for constrained in (False, True):
                    processors = [_TimedProcessor(ElmGrammarLogitsProcessor(
                        tokenizer, batch_prompts, vocab=vocab, masker=masker, **processor_kwargs),
                        synchronize)] if constrained else []
                    settings = {**kwargs, **constrained_kwargs} if constrained else kwargs
                    torch.manual_seed(attempt)
                    synchronize()
                    start = time.perf_counter()
                    with torch.no_grad():
                        model.generate(**inputs, logits_processor=processors, max_new_tokens=new_tokens,
                                       min_new_tokens=new_tokens, pad_token_id=tokenizer.pad_token_id, **settings)
                    synchronize()
                    if attempt:
                        times[constrained].append(time.perf_counter() - start)
                        if processors:
                            mask_times.append(processors[0].seconds)
            speed_figures(row, times, mask_times, masker.judged - judged_before, (repeat + 1) * batch_size,
                          batch_size, new_tokens)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


class _TimedProcessor:
    """Wraps a logits processor and adds up the CPU time spent in it. The GPU is
    synchronised first, so that waiting for the forward pass is not counted (the
    processor reads candidates back, and generate reads a flag back every step:
    either way the step waits for the GPU once)."""

    def __init__(self, inner, synchronize) -> None:
        self.inner, self.synchronize, self.seconds = inner, synchronize, 0.0

    def __call__(self, input_ids, scores):
        self.synchronize()
        start = time.perf_counter()
        out = self.inner(input_ids, scores)
        self.seconds += time.perf_counter() - start
        return out


def format_generate(rows: list[dict], header: bool = True, body: bool = True) -> str:
    """The generation benchmark as a table (its header, its rows, or both)."""
    lines = []
    if header and rows:
        r = rows[0]
        lines.append(f"{r['model']}, {r['params'] / 1e6:,.1f} M parameters, {r['dtype']}, on {r['device']}; "
                     f"{r['new_tokens']} new tokens per row")
        lines.append(f"{'engine':<6} {'threads':>7} {'decoding':<10} {'mask':<6} {'batch':>5} {'unconstrained tok/s':>20} "
                     f"{'constrained tok/s':>18} {'ratio':>7} {'step ms':>8} {'mask ms/step':>13} {'judged/row/step':>16}")
    if body:
        for r in rows:
            lines.append(f"{r.get('engine', 'hf'):<6} {r.get('threads', 0):>7} {r['decoding']:<10} {r['strategy']:<6} {r['batch']:>5} {r['unconstrained']:>20,.1f} "
                         f"{r['constrained']:>18,.1f} {r['ratio']:>7.3f} {r['step_ms']:>8.3f} {r['mask_ms']:>13.3f} "
                         f"{r['judged']:>16.2f}")
    return "\n".join(lines)
