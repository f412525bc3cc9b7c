"""Loading the model to train: quantised, with LoRA, fully trainable, or built from scratch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, FinetuneConfig

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class Plan:
    """What a configuration means on this machine: the method after ``auto``, the dtype
    the weights are loaded in, and the Trainer's mixed-precision flags."""

    method: str
    load_dtype: torch.dtype
    bf16: bool
    fp16: bool
    cuda: bool

    @property
    def uses_lora(self) -> bool:
        return self.method in ("qlora", "lora")


def bitsandbytes_available() -> bool:
    """Whether 4-bit quantisation can run here (CUDA and the bitsandbytes package)."""
    if not torch.cuda.is_available():
        return False
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return False
    return True


def plan(config: FinetuneConfig) -> Plan:
    """Resolve ``method: auto`` and ``precision: auto`` for this machine.

    QLoRA needs CUDA and bitsandbytes; without them ``auto`` falls back to LoRA. On
    CUDA the compute is bf16 where the card has it (fp16 otherwise); on the CPU fp32,
    since only some CPUs have bf16 instructions (with AVX512-BF16 or AMX, ``precision:
    bf16`` trains small models about twice as fast).
    """
    cuda = torch.cuda.is_available()
    method = config.method
    if method == "auto":
        method = "qlora" if bitsandbytes_available() else "lora"
    if method == "qlora" and not bitsandbytes_available():
        raise ConfigError("method qlora needs a CUDA GPU and the bitsandbytes package "
                          "(pip install 'elmgrammar[qlora]'); use method lora on this machine")
    precision = config.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if precision == "fp16" and not cuda:
        raise ConfigError("precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    # Adapters train over frozen half-precision weights; full and scratch training keep
    # fp32 master weights and let autocast do the half-precision compute.
    if method in ("qlora", "lora") and precision != "fp32":
        load_dtype = _DTYPES[precision]
    else:
        load_dtype = torch.float32
    return Plan(method, load_dtype, bf16=precision == "bf16", fp16=precision == "fp16", cuda=cuda)


def _device_map(p: Plan) -> dict[str, int] | None:
    """Under ``accelerate launch`` each process holds a whole quantised copy on its own GPU."""
    if p.method != "qlora":
        return None
    from accelerate import PartialState

    return {"": PartialState().local_process_index}


def read_model_config(source: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The config.json of ``source`` (a file, a folder or a hub name) with ``overrides``."""
    path = Path(source)
    if path.is_file():
        data = json.loads(path.read_text())
    elif (path / "config.json").exists():
        data = json.loads((path / "config.json").read_text())
    else:
        from transformers import AutoConfig

        data = AutoConfig.from_pretrained(source).to_dict()
    data.update(overrides)
    data.pop("architectures", None)
    return data


def build_from_scratch(source: str, overrides: dict[str, Any], tokenizer, seed: int) -> torch.nn.Module:
    """A randomly initialised causal LM of ``source``'s architecture, resized by
    ``overrides`` and fitted to ``tokenizer`` (vocabulary size, EOS/BOS ids)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    data = read_model_config(source, overrides)
    data["vocab_size"] = len(tokenizer)
    data["bos_token_id"] = data["eos_token_id"] = tokenizer.eos_token_id
    # no pad id: StarCoder2 gives it to nn.Embedding as padding_idx, which would zero EOS's
    # row and never train it (EOS doubles as padding, and padding is masked by position)
    data["pad_token_id"] = None
    data.pop("torch_dtype", None)
    data.pop("dtype", None)
    model_type = data.pop("model_type", "starcoder2")
    config = AutoConfig.for_model(model_type, **data)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def load_model(config: FinetuneConfig, p: Plan, tokenizer) -> torch.nn.Module:
    """The model ready for the Trainer: for LoRA methods a ``PeftModel`` whose only
    trainable weights are the adapters."""
    from transformers import AutoModelForCausalLM

    if p.method == "scratch":
        model = build_from_scratch(config.model, config.model_overrides, tokenizer, config.seed)
    else:
        kwargs: dict[str, Any] = {"dtype": p.load_dtype}
        if config.attn_implementation:
            kwargs["attn_implementation"] = config.attn_implementation
        if p.method == "qlora":
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.float16 if p.fp16 else torch.bfloat16)
            kwargs["device_map"] = _device_map(p)
        model = AutoModelForCausalLM.from_pretrained(config.model, **kwargs)
        for key, value in config.model_overrides.items():
            # dropout and similar run-time settings; shapes cannot change on trained weights
            setattr(model.config, key, value)
    model.config.use_cache = False  # the KV cache is useless in training and clashes with checkpointing
    if p.uses_lora:
        model = add_lora(model, config, p)
    return model


def add_lora(model: torch.nn.Module, config: FinetuneConfig, p: Plan) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters on ``config.lora_targets``."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if p.method == "qlora":
        # casts norms to fp32 and makes inputs require grad so checkpointing works on 4-bit weights
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif config.gradient_checkpointing:
        # frozen embeddings give checkpointed blocks inputs without grad; this restores the graph
        model.enable_input_require_grads()
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.lora_targets), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, each shared tensor counted once."""
    seen: set[int] = set()
    trainable = total = 0
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        n = param.numel()
        # a 4-bit weight stores two values per byte
        if param.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        trainable += n if param.requires_grad else 0
    return trainable, total
