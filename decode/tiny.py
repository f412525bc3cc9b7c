"""Tiny random StarCoder2 models for tests and benchmarks (no weights needed)."""

from __future__ import annotations

import json
from pathlib import Path


def tiny_starcoder2(config_dir: str | Path, layers: int = 2, hidden: int = 64, seed: int = 0):
    """A randomly initialised StarCoder2 with the real architecture and vocabulary
    of ``config_dir/config.json``, shrunk to ``layers`` layers of width ``hidden``."""
    import torch
    from transformers import Starcoder2Config, Starcoder2ForCausalLM

    config = json.loads((Path(config_dir) / "config.json").read_text())
    config.update(num_hidden_layers=layers, hidden_size=hidden, intermediate_size=hidden * 2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                  torch_dtype="float32")
    config.pop("architectures", None)
    torch.manual_seed(seed)
    model = Starcoder2ForCausalLM(Starcoder2Config(**config))
    return model.eval()
