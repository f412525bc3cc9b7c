"""The fine-tuning configuration: one dataclass, read from YAML or JSON, with overrides.

A run is fully described by a :class:`FinetuneConfig`; it is saved beside the trained
weights (``training.json``) so that every result says how it was made.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# Every linear projection of a StarCoder2 block: attention (q, k, v, o) and MLP (c_fc, c_proj).
STARCODER2_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj")

METHODS = ("auto", "qlora", "lora", "full", "scratch")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


class ConfigError(ValueError):
    """A configuration file or override that cannot be used, with the reason."""


@dataclass
class FinetuneConfig:
    """Everything a fine-tuning run needs.

    ``method``: ``auto`` (QLoRA where CUDA and bitsandbytes are, LoRA otherwise), ``qlora``
    (4-bit NF4 base, double quantisation, bf16 compute), ``lora``, ``full`` (every weight
    trained), ``scratch`` (random initialisation from ``model``'s config.json, changed by
    ``model_overrides``). ``model`` is a hub name (``bigcode/starcoder2-3b``) or a local
    folder (for ``scratch``: a folder holding config.json, or the file itself).
    ``dataset``: the corpus ``dataset`` folder (holding ``hf/`` or ``train.jsonl``), a
    ``DatasetDict.save_to_disk`` folder, a folder of ``SPLIT.jsonl`` files, or a hub name.
    ``epochs`` is ignored when ``max_steps`` > 0. ``warmup``: a fraction of the steps
    (< 1) or a number of steps. ``cpu_threads``: torch's intra-op threads on the CPU (None:
    torch's default; 1 is far faster on a machine busy with other work, where a second
    thread waits for a core at every operation). ``train_tokenizer``: with ``scratch``, train a byte-level
    BPE tokenizer of this many tokens on the training split (0: use ``tokenizer``).
    """

    # what to train, on what, into where
    model: str = "bigcode/starcoder2-3b"
    tokenizer: str | None = None
    dataset: str = ""
    train_split: str = "train"
    eval_split: str | None = "validation"
    output_dir: str = "finetune-out"
    # how
    method: str = "auto"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: list(STARCODER2_PROJECTIONS))
    model_overrides: dict[str, Any] = field(default_factory=dict)
    train_tokenizer: int = 0
    attn_implementation: str | None = None
    # data
    seq_len: int = 512
    fim_rate: float = 0.0
    fim_spm_rate: float = 0.0
    max_units: int | None = None
    # optimisation
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 8
    eval_batch_size: int | None = None
    grad_accum: int = 1
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup: float = 0.03
    scheduler: str = "cosine"
    max_grad_norm: float = 1.0
    optim: str | None = None
    precision: str = "auto"
    gradient_checkpointing: bool = False
    seed: int = 0
    cpu_threads: int | None = None
    # checkpoints, evaluation, logging
    save_steps: int = 200
    save_total_limit: int | None = 2
    eval_steps: int | None = None
    logging_steps: int = 10
    resume: bool = True
    merge: bool = False
    save_dtype: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.lora_targets, str):
            self.lora_targets = self.lora_targets.replace(",", " ").split()
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r}: one of {', '.join(METHODS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r}: one of {', '.join(PRECISIONS)}")
        if self.save_dtype not in PRECISIONS:
            raise ConfigError(f"save_dtype {self.save_dtype!r}: one of {', '.join(PRECISIONS)}")
        if not 0.0 <= self.fim_rate <= 1.0 or not 0.0 <= self.fim_spm_rate <= 1.0:
            raise ConfigError("fim_rate and fim_spm_rate are probabilities, between 0 and 1")
        if self.seq_len < 8:
            raise ConfigError(f"seq_len {self.seq_len}: at least 8 tokens")
        if self.train_tokenizer and self.method != "scratch":
            raise ConfigError("train_tokenizer only goes with method: scratch (a pretrained model keeps its tokenizer)")

    def as_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON-able values."""
        return asdict(self)


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(FinetuneConfig)
    return {f.name: hints[f.name] for f in fields(FinetuneConfig)}


def _coerce(name: str, kind: Any, text: str) -> Any:
    """Turn the text of ``--set name=text`` into the field's type."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    optional = type(None) in typing.get_args(kind)
    if optional and text.lower() in ("none", "null", ""):
        return None
    base = args[0] if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union else kind
    origin = typing.get_origin(base) or base
    try:
        if origin is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if origin is int:
            return int(text)
        if origin is float:
            return float(text)
        if origin is list:
            return json.loads(text) if text.startswith("[") else text.replace(",", " ").split()
        if origin is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError(text)
            return value
        return text
    except (ValueError, json.JSONDecodeError):
        raise ConfigError(f"{name}={text!r}: not a valid {getattr(origin, '__name__', origin)}") from None


def parse_override(text: str) -> tuple[str, str]:
    """Split ``key=value``; a key such as ``model_overrides.num_hidden_layers`` sets one entry."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, such as lr=1e-4")
    return key.strip().replace("-", "_"), value.strip()


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``data`` with each ``KEY=VALUE`` of ``overrides`` applied, values typed by the field.

    >>> apply_overrides({}, ["lr=1e-4", "lora_targets=q_proj,v_proj"])
    {'lr': 0.0001, 'lora_targets': ['q_proj', 'v_proj']}
    """
    kinds = _field_types()
    out = dict(data)
    for item in overrides:
        key, value = parse_override(item)
        head, dot, sub = key.partition(".")
        if head not in kinds:
            raise ConfigError(f"unknown setting {head!r}; settings: {', '.join(kinds)}")
        if dot:
            if typing.get_origin(kinds[head]) is not dict:
                raise ConfigError(f"{head} has no entries to set ({key})")
            # a dict entry keeps JSON's types: numbers stay numbers, true/false booleans
            try:
                parsed: Any = json.loads(value)
            except json.JSONDecodeError:
                parsed = value
            out[head] = {**(out.get(head) or {}), sub: parsed}
        else:
            out[key] = _coerce(key, kinds[key], value)
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML (``.yaml``/``.yml``) or JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the configuration: {e}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            raise ConfigError(f"{where}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of settings")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                **values: Any) -> FinetuneConfig:
    """A :class:`FinetuneConfig` from a file, then ``overrides`` (``KEY=VALUE``), then ``values``.

    Relative paths in the file (model, tokenizer, dataset, output_dir) stay relative to
    the working directory, as on the command line.

    >>> load_config(None, ["method=lora", "max_steps=10"]).max_steps
    10
    """
    data = read_config_file(path) if path else {}
    unknown = set(data) - set(_field_types())
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))} in {path}")
    data = apply_overrides(data, overrides or [])
    data.update({k: v for k, v in values.items() if v is not None})
    try:
        return FinetuneConfig(**data)
    except TypeError as e:
        raise ConfigError(str(e)) from None
