"""``train(config)``: one fine-tuning (or from-scratch) run, resumable, with its manifest.

The transformers ``Trainer`` does the loop, so ``accelerate launch`` spreads the same
run over several GPUs with no change here, and checkpoints carry the optimizer,
scheduler, RNG and data position, so a killed run resumes to the same weights.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .arguments import training_arguments
from .checkpoints import last_checkpoint, read_manifest, write_manifest
from .config import ConfigError, FinetuneConfig
from .data import load_texts, texts_digest
from .model import Plan, count_parameters, load_model, plan
from .packing import IGNORE_INDEX, PackedDataset, PackOptions, packed_dataset
from .tokenizer import load_tokenizer, local_or_hub

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass
class TrainResult:
    """Where the run wrote its weights, what it measured, and where it resumed from."""

    output_dir: Path
    method: str
    metrics: dict[str, Any]
    resumed_from: str | None = None
    merged_dir: Path | None = None
    log_history: list[dict[str, Any]] = field(default_factory=list)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("elmgrammar", "torch", "transformers", "peft", "accelerate", "bitsandbytes", "tokenizers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def _packed_digest(dataset: PackedDataset) -> str:
    import hashlib

    return hashlib.sha256(dataset.tensors["input_ids"].numpy().tobytes()).hexdigest()


def _history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The loss curve: step, epoch, training loss, tokens/s and validation loss per log."""
    keep = ("step", "epoch", "loss", "eval_loss", "tokens_per_second", "num_input_tokens_seen")
    return [{k: log[k] for k in keep if k in log} for log in log_history if "loss" in log or "eval_loss" in log]


def _predicted_tokens(dataset: PackedDataset) -> int:
    """Tokens the loss is taken on: every label but each block's first (nothing predicts it)."""
    return int((dataset.tensors["labels"][:, 1:] != IGNORE_INDEX).sum())


@dataclass
class Run:
    """A run ready to start: the Trainer (model, data, arguments), the tokenizer, the
    packed splits, the checkpoint it will resume from, and its manifest so far."""

    config: FinetuneConfig
    plan: Plan
    trainer: Any
    tokenizer: Any
    train_data: PackedDataset
    eval_data: PackedDataset | None
    checkpoint: Path | None
    manifest: dict[str, Any]


def _read_splits(config: FinetuneConfig) -> dict[str, list[str]]:
    texts = {config.train_split: load_texts(config.dataset, config.train_split)}
    if config.eval_split:
        try:
            texts[config.eval_split] = load_texts(config.dataset, config.eval_split)
        except (ValueError, FileNotFoundError) as e:
            print(f"elmgrammar: no validation split ({e}); training without one")
    if config.max_units is not None:
        texts = {k: v[:config.max_units] for k, v in texts.items()}
    return texts


def prepare(config: FinetuneConfig) -> Run:
    """Read and pack the data, load the model, and build the Trainer, without training.

    Raises :class:`ConfigError` when ``output_dir`` holds checkpoints that cannot be
    resumed the same way (``resume`` off, or the packed training data changed).
    """
    from transformers import default_data_collator, set_seed

    from .throughput import ThroughputTrainer

    if not config.dataset:
        raise ConfigError("no dataset: set dataset to the corpus dataset folder (elmgrammar corpus dataset)")
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = plan(config)
    if config.cpu_threads and not p.cuda:
        torch.set_num_threads(config.cpu_threads)
    checkpoint = last_checkpoint(out)
    if checkpoint is not None and not config.resume:
        raise ConfigError(f"{out} holds checkpoints of an earlier run ({checkpoint.name}): "
                          "resume it (resume: true) or choose another output_dir")

    texts = _read_splits(config)
    tokenizer = load_tokenizer(config, out, texts[config.train_split])
    options = PackOptions(seq_len=config.seq_len, fim_rate=config.fim_rate, fim_spm_rate=config.fim_spm_rate,
                          seed=config.seed)
    train_data = packed_dataset(texts[config.train_split], tokenizer, options)
    # validation stays plain left-to-right, so its loss compares across FIM rates
    eval_data = (packed_dataset(texts[config.eval_split], tokenizer, PackOptions(seq_len=config.seq_len))
                 if config.eval_split in texts else None)
    splits = {config.train_split: train_data, **({config.eval_split: eval_data} if eval_data else {})}
    dataset_info = {
        "source": config.dataset,
        "sha256": texts_digest(texts),
        "packed_train_sha256": _packed_digest(train_data),
        "units": {k: len(v) for k, v in texts.items()},
        "bytes": {k: sum(len(t.encode("utf-8")) for t in v) for k, v in texts.items()},
        "blocks": {k: len(v) for k, v in splits.items()},
        "tokens": {k: v.tokens for k, v in splits.items()},
    }
    earlier = read_manifest(out)
    if checkpoint is not None and earlier is not None:
        if earlier["dataset"]["packed_train_sha256"] != dataset_info["packed_train_sha256"]:
            raise ConfigError(f"the training data differs from the data of {checkpoint} (dataset, tokenizer, "
                              "seq_len or FIM settings changed): resuming would not give the same run; "
                              "choose another output_dir")

    set_seed(config.seed)  # the same LoRA / scratch initialisation on every run
    model = load_model(replace(config, model=local_or_hub(config.model)), p, tokenizer)
    trainable, total = count_parameters(model)
    args = training_arguments(config, p, eval_data is not None)
    trainer = ThroughputTrainer(model=model, args=args, train_dataset=train_data, eval_dataset=eval_data,
                                data_collator=default_data_collator, processing_class=tokenizer)
    manifest: dict[str, Any] = {
        "format": 1,
        "method": p.method,
        "precision": "bf16" if p.bf16 else "fp16" if p.fp16 else "fp32",
        "config": config.as_dict(),
        "dataset": dataset_info,
        "parameters": {"trainable": trainable, "total": total},
        "devices": {"cuda": p.cuda, "processes": args.world_size,
                    "gpu": torch.cuda.get_device_name(0) if p.cuda else None},
        "versions": _versions(),
        "resumed_from": (earlier or {}).get("resumed_from", []) + ([checkpoint.name] if checkpoint else []),
        "status": "prepared",
    }
    return Run(config, p, trainer, tokenizer, train_data, eval_data, checkpoint, manifest)


def train(config: FinetuneConfig) -> TrainResult:
    """Run ``config`` to the end (resuming from the last checkpoint in ``output_dir``
    where there is one and ``resume`` is on) and write into ``output_dir``: the adapter
    (LoRA methods) or the whole model (full, scratch), the tokenizer, and
    ``training.json`` (the config, the dataset's SHA-256, metrics, versions).

    >>> train(load_config("finetune/configs/default_model.yaml"))   # doctest: +SKIP
    """
    run = prepare(config)
    trainer, out = run.trainer, Path(config.output_dir)
    if trainer.is_world_process_zero():
        write_manifest(out, {**run.manifest, "status": "training"})

    result = trainer.train(resume_from_checkpoint=str(run.checkpoint) if run.checkpoint else None)
    metrics: dict[str, Any] = dict(result.metrics)
    train_logs = [log for log in trainer.state.log_history if "loss" in log]
    if train_logs:
        metrics["first_train_loss"] = train_logs[0]["loss"]
        metrics["final_train_loss"] = train_logs[-1]["loss"]
        rates = [log["tokens_per_second"] for log in train_logs if "tokens_per_second" in log]
        if rates:
            metrics["median_tokens_per_second"] = sorted(rates)[len(rates) // 2]
    if run.eval_data is not None:
        metrics.update(trainer.evaluate())
        loss = metrics["eval_loss"]
        metrics["eval_perplexity"] = math.exp(loss) if loss < 700 else math.inf
        # per-byte loss compares models whose tokenizers differ
        metrics["eval_bits_per_byte"] = (loss * _predicted_tokens(run.eval_data)
                                         / max(1, run.manifest["dataset"]["bytes"][config.eval_split]) / math.log(2))
    metrics["global_step"] = trainer.state.global_step
    metrics["tokens_seen"] = trainer.state.num_input_tokens_seen

    _save_final(trainer, config, run.plan, run.tokenizer, out)
    merged = None
    if trainer.is_world_process_zero():
        if config.merge and run.plan.uses_lora:
            from .merge import merge_adapter

            merged = merge_adapter(out, out / "merged")
        write_manifest(out, {**run.manifest, "status": "done", "metrics": metrics,
                             "merged": str(merged) if merged else None,
                             "history": _history(trainer.state.log_history)})
    return TrainResult(out, run.plan.method, metrics, run.checkpoint.name if run.checkpoint else None, merged,
                       list(trainer.state.log_history))


def _save_final(trainer, config: FinetuneConfig, p: Plan, tokenizer, out: Path) -> None:
    """The adapter (LoRA) or the whole model, with tokenizer and a generation config
    that stops at EOS. ``save_dtype`` fp16/bf16 stores a whole model's weights at half
    the size while its config.json keeps ``float32``, so ``from_pretrained`` computes in
    float32 unless asked otherwise."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    half = not p.uses_lora and config.save_dtype in ("fp16", "bf16")
    if not p.uses_lora:
        model.config.use_cache = True
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.bos_token_id = tokenizer.bos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        if model.config.pad_token_id == tokenizer.eos_token_id:
            # the Trainer copied the tokenizer's pad (= EOS) into the config; saved there it would
            # become nn.Embedding's padding_idx and freeze EOS's row in any later training
            model.config.pad_token_id = None
        if half:
            model.to(_DTYPES[config.save_dtype])
    trainer.save_model(str(out))
    if half and trainer.is_world_process_zero():
        path = out / "config.json"
        data = json.loads(path.read_text())
        data["dtype"] = "float32"
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
