"""Random StarCoder2 models for tests and benchmarks (no weights needed)."""

from __future__ import annotations

import json
from pathlib import Path


def tiny_starcoder2(config_dir: str | Path, layers: int | None = 2, hidden: int | None = 64, seed: int = 0,
                    device: str = "cpu", dtype: str = "float32"):
    """A randomly initialised StarCoder2 with the real architecture and vocabulary
    of ``config_dir/config.json``, shrunk to ``layers`` layers of width ``hidden``
    (``None`` keeps the config's own size: the full 3b model). The weights are made
    directly on ``device`` in ``dtype``, so a full-size model starts in seconds on a GPU."""
    import torch
    from transformers import Starcoder2Config, Starcoder2ForCausalLM

    config = json.loads((Path(config_dir) / "config.json").read_text())
    if layers is not None:
        config["num_hidden_layers"] = layers
    if hidden is not None:
        config.update(hidden_size=hidden, intermediate_size=hidden * 2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=4096)
    config.pop("architectures", None)
    config.pop("torch_dtype", None)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device):
            model = Starcoder2ForCausalLM(Starcoder2Config(**config))
    finally:
        torch.set_default_dtype(previous)
    return model.eval()
