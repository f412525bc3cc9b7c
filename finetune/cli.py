"""The ``elmgrammar finetune`` subcommand: a thin shell over :func:`~elmgrammar.finetune.train.train`.

torch, transformers and peft are imported only when the command runs, so
``elmgrammar --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXTRA_HINT = "pip install 'elmgrammar[finetune]'"

EPILOG = """\
examples:
  # QLoRA of StarCoder2-3b on a GPU (LoRA on the CPU), on the corpus dataset folder
  elmgrammar finetune --config finetune/configs/starcoder2-3b-qlora.yaml --dataset work/dataset
  # the same with overrides; a killed run resumes when run again with the same output folder
  elmgrammar finetune --config finetune/configs/starcoder2-3b-qlora.yaml --set lr=1e-4 --set fim_rate=0.5
  # several GPUs: the same command under accelerate
  accelerate launch -m elmgrammar.finetune.cli --config finetune/configs/starcoder2-3b-qlora.yaml
  # retrain the embedded default model from scratch (CPU, ~15 minutes)
  elmgrammar finetune --config finetune/configs/default_model.yaml --dataset work/dataset
  # merge a trained adapter into its base model
  elmgrammar finetune --merge runs/sc2-qlora --out runs/sc2-merged

settings (in the config file, or --set KEY=VALUE; model_overrides.KEY=VALUE sets one entry):
  model tokenizer dataset train_split eval_split output_dir
  method (auto|qlora|lora|full|scratch) lora_r lora_alpha lora_dropout lora_targets
  model_overrides train_tokenizer attn_implementation seq_len fim_rate fim_spm_rate max_units
  epochs max_steps batch_size eval_batch_size grad_accum lr weight_decay warmup scheduler
  max_grad_norm optim precision (auto|bf16|fp16|fp32) gradient_checkpointing seed cpu_threads
  save_steps save_total_limit eval_steps logging_steps resume merge save_dtype progress
"""


def _cmd_finetune(args: argparse.Namespace) -> int:
    try:
        from .config import ConfigError, load_config
    except ImportError as e:  # pragma: no cover - the config needs no heavy packages
        print(f"elmgrammar: {e}", file=sys.stderr)
        return 2
    try:
        if args.merge:
            if not args.out:
                raise ConfigError("--merge ADAPTER needs --out FOLDER")
            from .merge import merge_adapter

            out = merge_adapter(args.merge, args.out, base=args.model)
            print(f"merged model written to {out}")
            return 0
        if not args.config and not args.dataset:
            raise ConfigError("give --config FILE (see finetune/configs/) or at least --dataset and --model")
        flags = {"model": args.model, "dataset": args.dataset, "output_dir": args.output_dir,
                 "method": args.method, "max_steps": args.max_steps}
        config = load_config(args.config, args.set, **flags)
        if args.no_resume:
            config.resume = False
        if args.merge_after:
            config.merge = True
        if args.quiet:
            config.progress = False
        if args.print_config:
            print(json.dumps(config.as_dict(), indent=2))
            return 0
        from .train import train

        result = train(config)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        # a bad setting, a missing folder, a dataset without the split asked for
        print(f"elmgrammar: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"elmgrammar: {e.name or e} is needed for fine-tuning: {EXTRA_HINT}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under accelerate launch / torchrun one process reports
    if args.json:
        print(json.dumps({"output_dir": str(result.output_dir), "method": result.method,
                          "resumed_from": result.resumed_from, "metrics": result.metrics}, default=str))
    else:
        m = result.metrics
        print(f"{result.method}: {m.get('global_step')} steps, {m.get('tokens_seen', 0):,} tokens"
              + (f", resumed from {result.resumed_from}" if result.resumed_from else ""))
        if "final_train_loss" in m:
            print(f"train loss {m['first_train_loss']:.4f} -> {m['final_train_loss']:.4f}")
        if "eval_loss" in m:
            print(f"validation loss {m['eval_loss']:.4f}, perplexity {m['eval_perplexity']:.2f}, "
                  f"{m['eval_bits_per_byte']:.3f} bits/byte")
        if "train_tokens_per_second" in m:
            print(f"throughput {m['train_tokens_per_second']:,.0f} tokens/s (this session)")
        print(f"written to {result.output_dir}" + (f"; merged model in {result.merged_dir}" if result.merged_dir else ""))
    return 0


def _build(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", "-c", metavar="FILE", help="YAML or JSON file of settings (see finetune/configs/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set lr=1e-4 --set lora_targets=q_proj,v_proj (repeatable)")
    p.add_argument("--model", default=None, help="base model: hub name or local folder (overrides the file)")
    p.add_argument("--dataset", default=None,
                   help="the unit dataset: the folder written by `elmgrammar corpus dataset` (overrides the file)")
    p.add_argument("--output-dir", "-o", default=None, help="where checkpoints and the result go (overrides the file)")
    p.add_argument("--method", default=None, choices=("auto", "qlora", "lora", "full", "scratch"),
                   help="auto: QLoRA where CUDA and bitsandbytes are, else LoRA")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument("--no-resume", action="store_true",
                   help="refuse to continue from checkpoints in the output folder (default: resume)")
    p.add_argument("--merge-after", action="store_true", help="merge the adapter into the base model when done")
    p.add_argument("--merge", metavar="ADAPTER", default=None,
                   help="do not train: merge the LoRA adapter in this folder into its base model (needs --out)")
    p.add_argument("--out", default=None, help="with --merge: the folder for the merged model")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and stop")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_finetune)
    return p


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``finetune`` on the ``elmgrammar`` program."""
    p = subparsers.add_parser(
        "finetune", help="train a causal LM on the unit dataset (QLoRA, LoRA, full, or from scratch)",
        description="Train a causal language model on Elm code units: QLoRA (4-bit NF4, double quantisation, "
                    "bf16 compute) where CUDA is, LoRA otherwise, or a small model from scratch. Units are "
                    "packed into full sequences with EOS between them; FIM examples are optional; checkpoints "
                    "resume a killed run; the adapter is saved with its config and the dataset's SHA-256 "
                    "(training.json). Settings come from --config, then --set, then the flags.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _build(p)


def main(argv: list[str] | None = None) -> int:
    """``python -m elmgrammar.finetune.cli`` (what ``accelerate launch -m`` runs)."""
    parser = _build(argparse.ArgumentParser(prog="elmgrammar finetune", epilog=EPILOG,
                                            formatter_class=argparse.RawDescriptionHelpFormatter))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
