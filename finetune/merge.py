"""Merging a LoRA adapter into its base model, for serving without peft."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def base_model_of(adapter_dir: str | Path) -> str:
    """The base model an adapter was trained on (from its adapter_config.json)."""
    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    return config["base_model_name_or_path"]


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, base: str | None = None,
                  dtype: torch.dtype | None = None) -> Path:
    """Write ``base`` + the adapter of ``adapter_dir`` as one plain model into ``out_dir``.

    The base is loaded unquantised (bf16 on a GPU, fp32 on the CPU): merging LoRA
    weights into 4-bit weights would round them away, so a QLoRA adapter is merged into
    the full-precision base it was quantised from. The tokenizer is copied along.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    base = base or base_model_of(adapter_dir)
    if dtype is None:
        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir)
    tokenizer_source = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base
    AutoTokenizer.from_pretrained(str(tokenizer_source)).save_pretrained(out_dir)
    return out_dir
