"""Scoring a causal language model on one split of the unit dataset.

    python -m elmgrammar.finetune.score finetune/default_model --dataset work/dataset --split validation

packs the split as training's validation does (units joined with EOS, plain left to
right, blocks of ``seq_len``) and prints the mean loss per token, the perplexity and the
bits per byte. Bits per byte divide the summed loss by the split's UTF-8 bytes, so two
models with different tokenizers (the old default model's and a retrained one's) compare
on the same text.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .data import load_texts
from .packing import IGNORE_INDEX, PackOptions, packed_dataset


@dataclass(frozen=True)
class Score:
    """A model's loss on one split: ``loss`` is the mean over ``tokens`` predicted tokens
    (each block's first token has no context and is not counted, as in training)."""

    model: str
    split: str
    units: int
    bytes: int
    tokens: int
    loss: float
    perplexity: float
    bits_per_byte: float


def score(model_path: str | Path, dataset: str | Path, split: str = "validation", seq_len: int = 512,
          batch_size: int = 8, progress: bool = True) -> Score:
    """Mean loss, perplexity and bits per byte of the model in ``model_path`` (a folder
    with its tokenizer) on ``split`` of ``dataset``."""
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = load_texts(dataset, split)
    if not texts:
        raise ValueError(f"{dataset}: split {split!r} holds no units")
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32).eval()
    data = packed_dataset(texts, tokenizer, PackOptions(seq_len=seq_len)).tensors
    total, counted = 0.0, 0
    blocks = data["input_ids"].shape[0]
    with torch.inference_mode():
        for start in tqdm(range(0, blocks, batch_size), desc=f"scoring {split}", unit="batch",
                          disable=not progress):
            ids = data["input_ids"][start:start + batch_size]
            labels = data["labels"][start:start + batch_size]
            logits = model(input_ids=ids, attention_mask=data["attention_mask"][start:start + batch_size]).logits
            # the same shift as the model's own loss, summed rather than averaged per batch
            targets = labels[:, 1:]
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(),
                                                       ignore_index=IGNORE_INDEX, reduction="sum")
            total += float(losses)
            counted += int((targets != IGNORE_INDEX).sum())
    loss = total / max(1, counted)
    size = sum(len(t.encode("utf-8")) for t in texts)
    return Score(model=str(model_path), split=split, units=len(texts), bytes=size, tokens=counted, loss=loss,
                 perplexity=math.exp(loss) if loss < 700 else math.inf,
                 bits_per_byte=total / size / math.log(2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m elmgrammar.finetune.score",
        description="Loss, perplexity and bits per byte of causal language models on one split of the unit "
                    "dataset (packed as training's validation is). Bits per byte compare models whose "
                    "tokenizers differ.")
    parser.add_argument("models", nargs="+", help="model folders, each with its tokenizer")
    parser.add_argument("--dataset", required=True, help="the folder written by `elmgrammar corpus dataset`")
    parser.add_argument("--split", default="validation", help="split to score (default: validation)")
    parser.add_argument("--seq-len", type=int, default=512, help="block length (default: 512, as in training)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cpu-threads", type=int, default=1,
                        help="torch threads on the CPU (default 1; 0 leaves torch's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per model")
    args = parser.parse_args(argv)
    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    for model in args.models:
        if not Path(model, "config.json").is_file():
            print(f"elmgrammar: {model}: no config.json there (give a model folder)", file=sys.stderr)
            return 2
    rows = []
    try:
        for model in args.models:
            rows.append(score(model, args.dataset, args.split, args.seq_len, args.batch_size,
                              progress=not args.json))
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"elmgrammar: {e}", file=sys.stderr)
        return 2
    if args.json:
        for row in rows:
            print(json.dumps(asdict(row)))
        return 0
    print(f"{'model':40} {'units':>7} {'tokens':>9} {'bytes':>10} {'loss':>7} {'ppl':>9} {'bits/byte':>9}")
    for r in rows:
        print(f"{r.model[-40:]:40} {r.units:>7,} {r.tokens:>9,} {r.bytes:>10,} {r.loss:>7.3f} {r.perplexity:>9.1f} "
              f"{r.bits_per_byte:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
