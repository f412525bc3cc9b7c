"""The environment a vLLM engine in this process reads when it is imported and started.

Kept apart from ``decode.vllm`` (which imports vLLM): it must run first.
"""

from __future__ import annotations

import os


def prepare_vllm_environment(threads: int | None = None) -> None:
    """Defaults for an engine in this process, where the user has set none: on vLLM's
    CPU build a KV cache of 2 GiB (not most of the machine's memory), the engine core
    in this process (no spawned one), its log on stderr at warnings only (stdout holds
    the results) and, with ``threads``, that many OpenMP threads (the CPU build takes
    one fewer than the cores unless told)."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    if threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def cpu_engine_settings(device: str) -> dict:
    """``LLM`` settings for ``device`` ("cpu", "cuda", "auto"): on the CPU float32, as
    ``load_model`` takes it, and no compilation (a minute, for a few requests)."""
    if device == "cpu" or (device == "auto" and not _has_gpu()):
        return {"dtype": "float32", "enforce_eager": True}
    return {}


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()
