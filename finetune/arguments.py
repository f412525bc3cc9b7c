"""The transformers ``TrainingArguments`` of a configuration."""

from __future__ import annotations

import dataclasses
from typing import Any

from .config import FinetuneConfig
from .model import Plan


def training_arguments(config: FinetuneConfig, p: Plan, has_eval: bool):
    """The ``TrainingArguments`` of ``config`` on this machine."""
    from transformers import TrainingArguments

    eval_steps = config.eval_steps or config.save_steps
    kwargs: dict[str, Any] = {}
    if config.optim:
        kwargs["optim"] = config.optim
    return TrainingArguments(
        output_dir=config.output_dir,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size or config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup,
        lr_scheduler_type=config.scheduler,
        max_grad_norm=config.max_grad_norm,
        use_cpu=not p.cuda,
        bf16=p.bf16,
        fp16=p.fp16,
        **_checkpointing(TrainingArguments, config.gradient_checkpointing),
        logging_steps=config.logging_steps,
        logging_first_step=True,
        include_num_input_tokens_seen="non_padding",
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_steps if has_eval else None,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=not config.progress,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        **kwargs,
    )


def _checkpointing(arguments_class, on: bool) -> dict[str, Any]:
    """Activation checkpointing under the name this transformers gives it: the range
    the project allows (for vLLM's sake) spans the rename of ``gradient_checkpointing``
    to ``activation_checkpointing`` (5.23 keeps the old name as a deprecated alias)."""
    names = {f.name for f in dataclasses.fields(arguments_class)}
    name = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {name: on, f"{name}_kwargs": {"use_reentrant": False} if on else None}
