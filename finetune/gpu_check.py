"""GPU throughput check: QLoRA / LoRA of a full-size StarCoder2-3b on packed Elm batches.

No StarCoder2-3b weights exist on the project's machines, and speed does not depend on
the weights' values, so the model is built at random from the shipped config.json, saved,
and loaded back through the real pipeline (4-bit NF4 for QLoRA). It trains a few dozen
steps on real packed Elm blocks of 512 tokens and prints, per method, training tokens/s,
peak GPU memory, and the projected time of the user's workload (91,528 units, 3 epochs;
they took 68,646 padded steps and 37 hours).

    python -m elmgrammar.finetune.gpu_check --dataset work/dataset                 # on a GPU
    python -m elmgrammar.finetune.gpu_check --dataset work/dataset --tiny          # CPU smoke test

The dataset is the corpus step's folder; only its JSON Lines are read, so a GPU machine
needs neither the hub nor ``datasets`` (bitsandbytes is needed for QLoRA).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from elmgrammar.starcoder2 import default_tokenizer, resolve_tokenizer

USER_UNITS = 91_528
USER_EPOCHS = 3
USER_STEPS = 68_646
USER_HOURS = 37.0
USER_SEQ = 512
TINY = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
            num_key_value_heads=2)


def _config_dir(value: str | None = None) -> Path:
    """A folder with StarCoder2-3b's config.json and tokenizer: ``value`` (``starcoder2``
    names the one shipped with the package), else ``$ELMGRAMMAR_TOKENIZER``, else the
    shipped one."""
    return Path(resolve_tokenizer(value) if value is not None else default_tokenizer())


def build_random_model(config_dir: Path, out: Path, tiny: bool) -> int:
    """Save a randomly initialised StarCoder2 of ``config_dir``'s shape (bf16 on a GPU)
    with the tokenizer into ``out``; returns its parameter count."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    data = json.loads((config_dir / "config.json").read_text())
    data.pop("architectures", None)
    if tiny:
        data.update(TINY)
    model_type = data.pop("model_type")
    config = AutoConfig.for_model(model_type, **data)
    cuda = torch.cuda.is_available()
    torch.manual_seed(0)
    # initialising 3B parameters on the GPU takes seconds; on the CPU, minutes
    with torch.device("cuda" if cuda else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if cuda else torch.float32)
    count = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(config_dir)).save_pretrained(out)
    del model
    if cuda:
        torch.cuda.empty_cache()
    return count


def mean_unit_tokens(dataset: str, tokenizer_dir: Path) -> float:
    """Mean tokens per unit (+1 for its EOS) over the dataset's splits: the stand-in for
    the user's units, whose lengths are not known here."""
    from transformers import AutoTokenizer

    from .data import load_texts

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    texts: list[str] = []
    for split in ("train", "validation", "test"):
        try:
            texts += load_texts(dataset, split)
        except (ValueError, FileNotFoundError):
            continue
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    return sum(len(i) + 1 for i in ids) / len(ids)


def measure(method: str, model_dir: Path, dataset: str, work: Path, args: argparse.Namespace) -> dict:
    """Train ``args.steps`` steps with ``method``; tokens/s (steady state) and peak memory."""
    import torch

    from .config import load_config
    from .train import train

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    config = load_config(None, model=str(model_dir), dataset=dataset, eval_split=None,
                         output_dir=str(work / f"run-{method}"), method=method, seq_len=args.seq_len,
                         batch_size=args.batch_size, max_steps=args.steps, save_steps=10**9,
                         logging_steps=args.log_every, lr=2e-4, warmup=0, fim_rate=0.5, fim_spm_rate=0.5,
                         gradient_checkpointing=args.gradient_checkpointing, attn_implementation=args.attn,
                         cpu_threads=1 if not torch.cuda.is_available() else None, progress=not args.quiet)
    started = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - started
    rates = [log["tokens_per_second"] for log in result.log_history if "tokens_per_second" in log]
    steady = rates[1:] or rates  # the first interval holds compilation and allocator warm-up
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"method": result.method, "tokens_per_second": sorted(steady)[len(steady) // 2] if steady else 0.0,
            "peak_gib": peak, "steps": result.metrics["global_step"], "wall_s": wall,
            "loss": result.metrics.get("final_train_loss")}


def projection(tokens_per_second: float, unit_tokens: float) -> dict:
    """The user's workload at ``tokens_per_second``, packed (no padding)."""
    tokens = USER_UNITS * USER_EPOCHS * unit_tokens
    hours = tokens / tokens_per_second / 3600 if tokens_per_second else float("inf")
    return {"tokens": tokens, "hours": hours, "speedup_vs_user": USER_HOURS / hours if hours else float("inf")}


def main(argv: list[str] | None = None) -> int:
    """Run the check and print a table (or JSON)."""
    parser = argparse.ArgumentParser(prog="python -m elmgrammar.finetune.gpu_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="the corpus dataset folder (train.jsonl)")
    parser.add_argument("--config-dir", type=_config_dir, default=_config_dir(),
                        help="folder with StarCoder2-3b's config.json and tokenizer (default: "
                             "$ELMGRAMMAR_TOKENIZER, else 'starcoder2': the one shipped with the package)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated: qlora,lora (default: both on a GPU, lora on the CPU)")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model of width 64: a CPU smoke test")
    parser.add_argument("--steps", type=int, default=None, help="training steps per method (default 40; tiny 4)")
    parser.add_argument("--batch-size", type=int, default=None, help="blocks per step (default 16; tiny 1)")
    parser.add_argument("--seq-len", type=int, default=USER_SEQ)
    parser.add_argument("--log-every", type=int, default=None, help="steps per throughput sample (default 5; tiny 1)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--attn", default=None, help="attn_implementation, e.g. sdpa or flash_attention_2")
    parser.add_argument("--workdir", type=Path, default=None, help="where the random model goes (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quiet", "-q", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from .model import bitsandbytes_available

    if not (args.config_dir / "config.json").is_file():
        parser.error(f"--config-dir {args.config_dir}: no config.json there")
    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        parser.error("no GPU here: a full-size model needs one; add --tiny for the CPU smoke test")
    args.steps = args.steps or (4 if args.tiny else 40)
    args.batch_size = args.batch_size or (1 if args.tiny else 16)
    args.log_every = args.log_every or (1 if args.tiny else 5)
    methods = (args.methods or ("qlora,lora" if cuda else "lora")).split(",")
    if "qlora" in methods and not bitsandbytes_available():
        print("gpu_check: no CUDA + bitsandbytes here: QLoRA left out", file=sys.stderr)
        methods = [m for m in methods if m != "qlora"]

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        params = build_random_model(args.config_dir, work / "model", args.tiny)
        build_s = time.perf_counter() - started
        unit_tokens = mean_unit_tokens(args.dataset, args.config_dir)
        rows = []
        for method in methods:
            row = measure(method, work / "model", args.dataset, work, args)
            row.update(projection(row["tokens_per_second"], unit_tokens))
            rows.append(row)

    device = torch.cuda.get_device_name(0) if cuda else "CPU"
    # every unit padded to 512 tokens: the token slots their run pushed through per second
    user_rate = USER_UNITS * USER_EPOCHS * USER_SEQ / (USER_HOURS * 3600)
    report = {"device": device, "parameters": params, "model_build_s": build_s, "tiny": args.tiny,
              "batch": [args.batch_size, args.seq_len], "mean_unit_tokens": unit_tokens,
              "user": {"units": USER_UNITS, "epochs": USER_EPOCHS, "steps": USER_STEPS, "hours": USER_HOURS,
                       "padded_token_slots_per_second": user_rate},
              "rows": rows}
    if args.json:
        print(json.dumps(report))
        return 0
    size = f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"
    print(f"\n{device}: StarCoder2 {'(tiny) ' if args.tiny else ''}{size} parameters, random weights; "
          f"batches {args.batch_size} x {args.seq_len} packed tokens")
    print(f"user's workload: {USER_UNITS:,} units x {USER_EPOCHS} epochs x {unit_tokens:.1f} tokens/unit "
          f"(this corpus's mean over all splits, EOS included) = {rows[0]['tokens'] / 1e6 if rows else 0:.1f}M tokens; "
          f"they ran {USER_STEPS:,} padded steps in {USER_HOURS:.0f} h ({user_rate:,.0f} token slots/s)")
    print(f"{'method':<8}{'tokens/s':>12}{'peak GiB':>10}{'projected h':>13}{'vs 37 h':>9}{'loss':>8}")
    for r in rows:
        loss = f"{r['loss']:.3f}" if r["loss"] is not None else "-"
        print(f"{r['method']:<8}{r['tokens_per_second']:>12,.0f}{r['peak_gib']:>10.1f}{r['hours']:>13.2f}"
              f"{r['speedup_vs_user']:>8.1f}x{loss:>8}")
    if len(rows) > 1 and rows[0]["tokens_per_second"]:
        base = rows[0]
        for r in rows[1:]:
            print(f"{r['method']} / {base['method']} tokens/s: {r['tokens_per_second'] / base['tokens_per_second']:.2f}")
    print("peak memory: GPU allocated on a GPU, process RSS on the CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
