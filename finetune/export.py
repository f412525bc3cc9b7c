"""Exporting a from-scratch run as a shippable model folder with its MODEL_CARD.md.

    python -m elmgrammar.finetune.export runs/default-model --corpus work --out finetune/default_model \
        --scores scores.jsonl

copies the weights, config and tokenizer of the run and writes a model card from the
run's ``training.json``, the corpus records (each repository, its commit and licence) and,
with ``--scores``, the lines ``python -m elmgrammar.finetune.score --json`` printed (the
previous model beside the new one), so the figures in the card are the run's own.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

SHIPPED = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
           "tokenizer_config.json", "training.json")

RETRAIN = """\
# the corpus: ../shared/corpus (983 k lines of Elm from 136 repositories, with its manifest)
mkdir -p /tmp/elm-corpus && tar -xJf ../shared/corpus/elm-github.tar.xz -C /tmp/elm-corpus
elmgrammar corpus local /tmp/elm-corpus --manifest ../shared/corpus/MANIFEST.jsonl --out work
elmgrammar corpus filter work
elmgrammar corpus units work
elmgrammar corpus dataset work --tokenizer starcoder2   # the split; token counts only
elmgrammar finetune --config finetune/configs/default_model.yaml --dataset work/dataset
# the previous model and the new one on the held-out repositories (validation, test)
python -m elmgrammar.finetune.score finetune/default_model runs/default-model --dataset work/dataset --json > scores.jsonl
python -m elmgrammar.finetune.score finetune/default_model runs/default-model --dataset work/dataset --split test --json >> scores.jsonl
python -m elmgrammar.finetune.export runs/default-model --corpus work --scores scores.jsonl \\
    --notes finetune/configs/default_model.md --out finetune/default_model"""


def _repositories(corpus: Path) -> list[tuple[str, str, str, int, int]]:
    """(repository, commit, licence, .elm files, lines) of the files the corpus step read."""
    counts: Counter = Counter()
    lines: Counter = Counter()
    with (corpus / "files.jsonl").open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            key = (record.get("repo"), record.get("commit") or "", record.get("licence") or "unknown")
            counts[key] += 1
            lines[key] += len(record.get("text", "").splitlines())
    return [(repo, commit, licence, n, lines[(repo, commit, licence)])
            for (repo, commit, licence), n in sorted(counts.items(), key=lambda kv: kv[0][0].lower())]


def _scores(path: Path, run_dir: Path, out: Path) -> list[dict[str, Any]]:
    """The JSON lines ``python -m elmgrammar.finetune.score --json`` printed, each model
    named for the card: this run, the model the export replaces, or its folder."""
    names = {run_dir.resolve(): "this model", out.resolve(): "the previous model (replaced by this one)"}
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [{**row, "model": names.get(Path(row["model"]).resolve(), row["model"])} for row in rows]


def _split_repos(dataset: Path) -> dict[str, Counter]:
    repos: dict[str, Counter] = {}
    for split in ("train", "validation", "test"):
        path = dataset / f"{split}.jsonl"
        if path.exists():
            with path.open(encoding="utf-8") as f:
                repos[split] = Counter(json.loads(line).get("repo") for line in f if line.strip())
    return repos


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _wall_time(manifest: dict[str, Any]) -> str:
    """The training's wall time as the run measured it: a resumed run's Trainer times
    only the stretch after its last resumption."""
    m = manifest["metrics"]
    minutes = m["train_runtime"] / 60
    resumed = manifest.get("resumed_from") or []
    if resumed:
        return (f"wall time of the last stretch of training (resumed from {resumed[-1]}) {minutes:.1f} min; "
                "the earlier stretches are not in this figure")
    return f"wall time of training {minutes:.1f} min ({m['tokens_seen'] / m['train_runtime']:,.0f} tokens/s over the run)"


def model_card(manifest: dict[str, Any], model_config: dict[str, Any], corpus: Path | None,
               scores: list[dict[str, Any]] | None = None, notes: str | None = None) -> str:
    """The MODEL_CARD.md text of a from-scratch run; ``scores``: rows of
    ``finetune.score --json`` (models side by side on held-out code); ``notes``: Markdown on
    how the run's settings were chosen."""
    m, c, d = manifest["metrics"], manifest["config"], manifest["dataset"]
    params = manifest["parameters"]["total"]
    fim = (f"{c['fim_rate']:.0%} of the training units are fill-in-the-middle examples "
           f"({c.get('fim_spm_rate', 0):.0%} of those in SPM order) with StarCoder2's FIM tokens"
           if c.get("fim_rate") else "no fill-in-the-middle examples")
    lines = [
        "# elmgrammar default model",
        "",
        "A small causal language model of Elm code, trained from scratch on a CPU, shipped so that the",
        "main job runs on a machine with neither the hub nor a GPU. It is far weaker than a fine-tuned",
        "StarCoder2-3b: it is there to make the effect of constrained decoding visible and testable.",
        "",
        "## Model",
        "",
        f"- Architecture: StarCoder2 (`Starcoder2ForCausalLM`), {model_config['num_hidden_layers']} layers, width "
        f"{model_config['hidden_size']}, MLP {model_config['intermediate_size']}, "
        f"{model_config['num_attention_heads']} attention heads with {model_config['num_key_value_heads']} "
        f"key/value heads, RoPE, context {model_config['max_position_embeddings']} "
        f"(trained on {c['seq_len']}); tied input/output embeddings.",
        f"- Parameters: {params:,} ({params / 1e6:.2f}M). Weights stored as "
        f"{c['save_dtype']} safetensors; `config.json` says float32, so "
        "`AutoModelForCausalLM.from_pretrained(path)` computes in float32.",
        f"- Tokenizer: byte-level BPE of {model_config['vocab_size']:,} tokens learnt from the training split "
        "with `tokenizers` (GPT-2 byte alphabet and pre-tokenizer, as StarCoder2's), special tokens "
        "`<|endoftext|>` (0, EOS/BOS), `<fim_prefix>` (1), `<fim_middle>` (2), `<fim_suffix>` (3), "
        "`<fim_pad>` (4), named as StarCoder2's.",
        "",
        "Why not StarCoder2's own 49,152-token vocabulary: at 25 MB the embedding table alone would hold",
        "most of the parameters (49,152 x 256 = 12.6M for width 256), most of its rows would see few",
        "training tokens, and the output layer over 49,152 tokens would dominate the CPU time of every",
        "step. An Elm-trained vocabulary of 8,192 leaves the parameters and the compute to the",
        "transformer. It is byte-level like StarCoder2's, so the grammar mask reads it the same way.",
        "",
        "## Data",
        "",
    ]
    if corpus is not None and (corpus / "files.jsonl").exists():
        repos = _repositories(corpus)
        licences = Counter(licence for _, _, licence, _, _ in repos)
        lines += [
            f"The `.elm` files of {len(repos)} public repositories at one commit each "
            f"({sum(r[3] for r in repos):,} files, {sum(r[4] for r in repos):,} lines; licences: "
            + ", ".join(f"{k} {v}" for k, v in licences.most_common()) + "), read with their manifest by "
            "`elmgrammar corpus local`, kept when the grammar parses them and they are not generated code, "
            "cut into declaration units, deduplicated, and split by repository (no repository is in two "
            "splits):",
            "",
        ]
        for split, counts in _split_repos(corpus / "dataset").items():
            if len(counts) <= 12:
                where = ", ".join(f"{repo} ({n:,} units)" for repo, n in counts.most_common())
            else:
                where = f"{len(counts)} repositories, {sum(counts.values()):,} units"
            lines.append(f"- {split}: {where}")
        lines += ["", "<details><summary>The repositories</summary>", "",
                  "| repository | commit | licence | .elm files | lines |", "|---|---|---|---:|---:|"]
        lines += [f"| {repo} | `{commit[:12]}` | {licence} | {n} | {size:,} |"
                  for repo, commit, licence, n, size in repos]
        lines += ["", "</details>", ""]
    lines += [
        f"Units: {', '.join(f'{k} {v:,}' for k, v in d['units'].items())}; tokens (this tokenizer, EOS "
        f"included): {', '.join(f'{k} {v:,}' for k, v in d['tokens'].items())}.",
        f"Dataset SHA-256 (split names and unit texts): `{d['sha256']}`.",
        "",
        "## Training",
        "",
        "```sh",
        RETRAIN,
        "```",
        "",
        f"- Method: from scratch (`method: scratch`), units packed into {c['seq_len']}-token blocks with EOS "
        f"after each unit, batch {c['batch_size']} blocks, {m['global_step']} steps "
        f"({m.get('epoch', c['epochs']):.2f} epochs, {m['tokens_seen']:,} tokens), AdamW lr {c['lr']} "
        f"({c['scheduler']}, warmup {c['warmup']}), weight decay {c['weight_decay']}, "
        f"{manifest['precision']} on the CPU, torch threads: {c.get('cpu_threads') or 'default'}, "
        f"seed {c['seed']}; {fim}. Validation is plain left to right.",
        f"- Machine: {_cpu_name()}, {platform.machine()}; {_wall_time(manifest)} (median "
        f"{m.get('median_tokens_per_second', 0):,.0f} tokens/s between logs).",
        f"- Final training loss {m['final_train_loss']:.3f} (first logged {m['first_train_loss']:.3f}); validation "
        f"loss {m['eval_loss']:.3f}, perplexity {m['eval_perplexity']:.1f}, "
        f"{m['eval_bits_per_byte']:.3f} bits per byte (validation repositories are not in training).",
        "",
    ]
    if notes:
        lines += ["### How the settings were chosen", "", notes.strip(), ""]
    # the last step is evaluated twice (in the loop and after it): one row per step
    evals = list({h["step"]: h for h in manifest.get("history", []) if "eval_loss" in h}.values())
    if evals:
        lines += ["| step | epoch | validation loss |", "|---|---|---|"]
        lines += [f"| {h['step']} | {h['epoch']:.2f} | {h['eval_loss']:.3f} |" for h in evals]
        lines.append("")
    if scores:
        lines += ["### Held-out code, models side by side", "",
                  "`python -m elmgrammar.finetune.score` on the same split (units packed as in training, plain "
                  "left to right); bits per byte compare models whose tokenizers differ:", "",
                  "| model | split | units | tokens | loss per token | bits per byte |", "|---|---|---:|---:|---:|---:|"]
        lines += [f"| {row['model']} | {row['split']} | {row['units']:,} | {row['tokens']:,} | {row['loss']:.3f} "
                  f"| {row['bits_per_byte']:.3f} |" for row in scores]
        lines.append("")
    lines += [
        "Versions: " + ", ".join(f"{k} {v}" for k, v in manifest["versions"].items()) + ".",
        "",
        "## Licence",
        "",
        "Trained on code under the licences listed above (each repository's licence text ships with the",
        "corpus); the weights are distributed with elmgrammar under its BSD-3-Clause licence. The model",
        "can reproduce short pieces of its training code; the repository list above is their attribution.",
        "",
    ]
    return "\n".join(lines)


def export_model(run_dir: str | Path, out: str | Path, corpus: str | Path | None = None,
                 scores: str | Path | None = None, notes: str | Path | None = None) -> Path:
    """Copy a finished from-scratch run's files into ``out`` and write its MODEL_CARD.md
    (with the rows of ``scores``, a ``finetune.score --json`` output, and the Markdown of
    ``notes``)."""
    run_dir, out = Path(run_dir), Path(out)
    manifest = json.loads((run_dir / "training.json").read_text())
    if manifest.get("status") != "done":
        raise ValueError(f"{run_dir} has not finished training (status {manifest.get('status')!r})")
    out.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, out / name)
    model_config = json.loads((run_dir / "config.json").read_text())
    card = model_card(manifest, model_config, Path(corpus) if corpus else None,
                      _scores(Path(scores), run_dir, out) if scores else None,
                      Path(notes).read_text(encoding="utf-8") if notes else None)
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m elmgrammar.finetune.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="the output_dir of a finished from-scratch run")
    parser.add_argument("--out", required=True, help="the model folder to write (e.g. finetune/default_model)")
    parser.add_argument("--corpus", default=None, help="the corpus folder (files.jsonl, dataset/) for the card")
    parser.add_argument("--scores", default=None,
                        help="JSON lines of `python -m elmgrammar.finetune.score --json` for the card")
    parser.add_argument("--notes", default=None, help="a Markdown file: how the settings were chosen")
    args = parser.parse_args(argv)
    out = export_model(args.run_dir, args.out, args.corpus, args.scores, args.notes)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"exported to {out} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
