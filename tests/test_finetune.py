"""Fine-tuning: packing, FIM, a LoRA run of a tiny random StarCoder2 on real Elm units,
resuming a killed run, loading and merging the adapter, the 4-bit path, the command line.

The model is StarCoder2's architecture and vocabulary (the shared config.json) shrunk
to 2 layers of width 64; the units are cut from the real Elm files by the grammar.
Everything runs on the CPU with one thread (a second thread stalls on a busy machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from elmgrammar.corpus.units import split_units  # noqa: E402
from elmgrammar.finetune.config import STARCODER2_PROJECTIONS, ConfigError, load_config  # noqa: E402
from elmgrammar.finetune.data import texts_digest  # noqa: E402
from elmgrammar.finetune.fim import FimTokens  # noqa: E402
from elmgrammar.finetune.packing import IGNORE_INDEX, PackOptions, pack, tokenize_units  # noqa: E402

TINY = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, attention_dropout=0.0,
            embedding_dropout=0.0, residual_dropout=0.0)
STEPS = 16
TRAIN_UNITS = 10  # ~20 blocks of 32 tokens: 16 steps of 2 see each block more than once
SAVE_EVERY = 4


@pytest.fixture(scope="module")
def units(real_files) -> dict[str, list[str]]:
    """Real declaration units: the first files' for training, the next ones' for validation."""
    texts: list[list[str]] = []
    for path in real_files[:12]:
        try:
            texts.append([u.text for u in split_units(path.read_text(encoding="utf-8")).units])
        except Exception:  # a file the grammar rejects is not this test's subject
            continue
    train = [t for file_units in texts[:8] for t in file_units][:40]
    validation = [t for file_units in texts[8:] for t in file_units][:8]
    assert len(train) >= 20 and len(validation) >= 4
    return {"train": train, "validation": validation}


@pytest.fixture(scope="module")
def dataset_dir(units, tmp_path_factory) -> Path:
    """The units in the corpus step's format: SPLIT.jsonl with a text key."""
    folder = tmp_path_factory.mktemp("dataset")
    for split, texts in units.items():
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for text in texts:
                f.write(json.dumps({"text": text, "repo": "npm"}) + "\n")
    return folder


@pytest.fixture(scope="module")
def tiny_model_dir(tokenizer, tokenizer_dir, tmp_path_factory) -> Path:
    """A tiny random StarCoder2 saved like a hub model (weights, config, tokenizer)."""
    from elmgrammar.finetune.model import build_from_scratch

    folder = tmp_path_factory.mktemp("tiny-starcoder2")
    model = build_from_scratch(str(tokenizer_dir), TINY, tokenizer, seed=0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _config(model_dir: Path, dataset_dir: Path, output_dir: Path, **changes):
    values = dict(model=str(model_dir), dataset=str(dataset_dir), output_dir=str(output_dir), method="lora",
                  seq_len=32, batch_size=2, eval_batch_size=8, lr=1e-2, warmup=0, max_steps=STEPS,
                  save_steps=SAVE_EVERY, save_total_limit=3, eval_steps=1000, logging_steps=1, lora_r=8,
                  lora_alpha=16, lora_dropout=0.1, cpu_threads=1, progress=False, seed=0, max_units=TRAIN_UNITS)
    values.update(changes)
    return load_config(None, **values)


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, dataset_dir, tmp_path_factory):
    """One uninterrupted LoRA run of STEPS steps (the reference for the resume test)."""
    from elmgrammar.finetune.train import train

    config = _config(tiny_model_dir, dataset_dir, tmp_path_factory.mktemp("lora-run"))
    return config, train(config)


# -- packing and FIM -----------------------------------------------------------------------------


def test_packing_fills_blocks_with_units_and_eos_and_masks_only_padding(tokenizer, units):
    texts = units["train"][:10]
    ids = tokenize_units(texts, tokenizer, PackOptions(seq_len=64))
    eos = tokenizer.eos_token_id
    out = pack(ids, seq_len=64, eos_id=eos)
    input_ids, attention, labels = out["input_ids"], out["attention_mask"], out["labels"]
    stream = [t for unit in ids for t in (*unit, eos)]
    blocks = -(-len(stream) // 64)
    assert input_ids.shape == attention.shape == labels.shape == (blocks, 64)
    # every block but the last is full: no padding waste
    assert attention[:-1].all()
    real = attention.flatten().bool()
    assert input_ids.flatten()[real].tolist() == stream
    # the padding is one run at the very end, and it alone carries no loss
    assert real.tolist() == [True] * len(stream) + [False] * (blocks * 64 - len(stream))
    assert (labels.flatten()[~real] == IGNORE_INDEX).all()
    assert torch.equal(labels.flatten()[real], input_ids.flatten()[real])
    # the EOS after each unit keeps its label (pad = EOS must not mask real EOS)
    assert int((labels == eos).sum()) == len(texts)
    assert tokenizer.decode(stream[:len(ids[0])]) == texts[0]


def test_text_that_spells_a_special_token_is_text(tokenizer):
    """`<NAME>` (a StarCoder2 special token) and `<fim_middle>` inside Elm strings are
    characters: a model trained on them as special tokens would write tokens no Elm
    mask allows."""
    text = 'greeting =\n    "hello <NAME>, see <fim_middle>"\n'
    special = set(tokenizer.added_tokens_decoder)
    markers = [tokenizer.convert_tokens_to_ids(t) for t in ("<fim_prefix>", "<fim_middle>", "<fim_suffix>")]
    plain = tokenize_units([text], tokenizer, PackOptions(seed=2))[0]
    assert not special & set(plain)
    assert tokenizer.decode(plain) == text
    fim = tokenize_units([text], tokenizer, PackOptions(fim_rate=1.0, seed=2))[0]
    assert sorted(i for i in fim if i in special) == sorted(markers)  # the markers, once each


def test_fim_examples_use_starcoder2_markers_and_rebuild_the_unit(tokenizer, units):
    fim = FimTokens.of(tokenizer)
    assert (fim.prefix, fim.middle, fim.suffix) == tuple(
        tokenizer.convert_tokens_to_ids(t) for t in ("<fim_prefix>", "<fim_middle>", "<fim_suffix>"))
    texts = units["train"][:12]
    for spm_rate in (0.0, 1.0):
        examples = tokenize_units(texts, tokenizer, PackOptions(fim_rate=1.0, fim_spm_rate=spm_rate, seed=3))
        for text, ids in zip(texts, examples):
            assert ids.count(fim.prefix) == ids.count(fim.middle) == ids.count(fim.suffix) == 1
            p, s, m = ids.index(fim.prefix), ids.index(fim.suffix), ids.index(fim.middle)
            if spm_rate == 0.0:  # PSM: prefix, suffix, then the middle to write
                assert p == 0 and p < s < m
                prefix, suffix, middle = ids[p + 1:s], ids[s + 1:m], ids[m + 1:]
                assert tokenizer.decode(prefix) + tokenizer.decode(middle) + tokenizer.decode(suffix) == text
            else:  # SPM: the suffix first, then prefix and middle as one run
                assert (p, s) == (0, 1) and s < m
                suffix, prefix_middle = ids[s + 1:m], ids[m + 1:]
                assert tokenizer.decode(prefix_middle) + tokenizer.decode(suffix) == text
    # the rate is a share of the units, and the same seed picks the same ones
    half = tokenize_units(texts * 10, tokenizer, PackOptions(fim_rate=0.5, seed=1))
    share = sum(fim.prefix in ids for ids in half) / len(half)
    assert 0.3 < share < 0.7
    assert half == tokenize_units(texts * 10, tokenizer, PackOptions(fim_rate=0.5, seed=1))


# -- a LoRA run --------------------------------------------------------------------------------


def test_a_training_batch_is_packed_with_labels_masked_only_on_padding(tiny_model_dir, dataset_dir, tmp_path,
                                                                        tokenizer):
    from elmgrammar.finetune.train import prepare

    run = prepare(_config(tiny_model_dir, dataset_dir, tmp_path / "out", fim_rate=0.5))
    batch = next(iter(run.trainer.get_train_dataloader()))
    assert batch["input_ids"].shape == (2, 32)
    assert torch.equal(batch["labels"], batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX))
    # only the final block of the split may hold padding
    padded_blocks = int((run.train_data.tensors["attention_mask"] == 0).any(dim=1).sum())
    assert padded_blocks <= 1 and run.train_data.tensors["attention_mask"][:-1].all()
    # FIM markers appear in the training data, never in validation (kept plain)
    fim = FimTokens.of(tokenizer)
    assert (run.train_data.tensors["input_ids"] == fim.middle).any()
    assert not (run.eval_data.tensors["input_ids"] == fim.middle).any()
    # LoRA on every projection, and nothing else trainable
    trainable = [n for n, p in run.trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == set(STARCODER2_PROJECTIONS)


def _loss_on(model, blocks: dict) -> float:
    model.eval()
    with torch.no_grad():
        return float(model(input_ids=blocks["input_ids"], attention_mask=blocks["attention_mask"],
                           labels=blocks["labels"]).loss)


def test_lora_training_lowers_the_loss_and_saves_adapter_config_and_dataset_hash(lora_run, tiny_model_dir,
                                                                                   units, tokenizer):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config, result = lora_run
    out = result.output_dir
    assert result.method == "lora" and result.metrics["global_step"] == STEPS
    assert (out / "adapter_model.safetensors").exists() and (out / "adapter_config.json").exists()
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == set(STARCODER2_PROJECTIONS) and adapter["r"] == 8

    manifest = json.loads((out / "training.json").read_text())
    assert manifest["status"] == "done" and manifest["config"] == config.as_dict()
    assert manifest["dataset"]["sha256"] == texts_digest({k: v[:TRAIN_UNITS] for k, v in units.items()})
    assert manifest["metrics"]["eval_perplexity"] == pytest.approx(2.718281828 ** manifest["metrics"]["eval_loss"])
    rates = [log["tokens_per_second"] for log in result.log_history if "tokens_per_second" in log]
    assert rates and all(r > 0 for r in rates)

    # the loss on the training blocks falls from the random base's
    from elmgrammar.finetune.packing import PackOptions, packed_dataset

    first = packed_dataset(units["train"][:TRAIN_UNITS], tokenizer, PackOptions(seq_len=32)).tensors
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = _loss_on(base, first)
    tuned = PeftModel.from_pretrained(base, str(out))
    after = _loss_on(tuned, first)
    assert after < before - 0.05, (before, after)


def test_saved_adapter_loads_generates_and_merges(lora_run, tiny_model_dir, tokenizer, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from elmgrammar.finetune.merge import merge_adapter

    _, result = lora_run
    prompt = tokenizer("view model =\n    ", return_tensors="pt")
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(result.output_dir))
    tuned.eval()
    with torch.no_grad():
        generated = tuned.generate(**prompt, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        tuned_logits = tuned(**prompt).logits
    assert generated.shape[1] == prompt["input_ids"].shape[1] + 6

    merged_dir = merge_adapter(result.output_dir, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        assert torch.allclose(merged(**prompt).logits, tuned_logits, atol=1e-4)
        again = merged.generate(**prompt, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert torch.equal(again, generated)


def test_generate_command_puts_the_adapter_on_the_model(lora_run, tiny_model_dir, tokenizer, capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from elmgrammar.cli import main
    from elmgrammar.decode.complete import complete

    _, result = lora_run
    args = ["generate", "--model", str(tiny_model_dir), "--prompt", "view model =", "--max-new-tokens", "12",
            "--device", "cpu", "--json"]
    assert main([*args, "--adapter", str(result.output_dir)]) == 0
    tuned_text = json.loads(capsys.readouterr().out)["text"]
    assert main(args) == 0
    base_text = json.loads(capsys.readouterr().out)["text"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    (expected,) = complete(PeftModel.from_pretrained(base, str(result.output_dir)).eval(), tokenizer,
                           "view model =", max_new_tokens=12)
    assert tuned_text == expected.text
    assert tuned_text != base_text, "the adapter changes this completion (else the test shows nothing)"


def test_a_killed_run_resumes_from_its_last_checkpoint_to_the_same_weights(lora_run, tiny_model_dir, dataset_dir,
                                                                           tmp_path):
    from safetensors.torch import load_file

    from elmgrammar.finetune.checkpoints import last_checkpoint
    from elmgrammar.finetune.train import train

    reference_config, reference = lora_run
    out = tmp_path / "killed"
    config = replace(reference_config, output_dir=str(out))
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config.as_dict()))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "elmgrammar.finetune.cli", "--config", str(config_file), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while last_checkpoint(out) is None:
            assert proc.poll() is None, f"the run ended before its first checkpoint:\n{proc.stdout.read().decode()}"
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "adapter_model.safetensors").exists(), "the run finished before it was killed"
    killed_at = last_checkpoint(out)
    assert killed_at is not None and int(killed_at.name.split("-")[1]) < STEPS

    resumed = train(config)
    assert resumed.resumed_from == killed_at.name
    assert resumed.metrics["global_step"] == STEPS
    a = load_file(reference.output_dir / "adapter_model.safetensors")
    b = load_file(out / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed.metrics["eval_loss"] == reference.metrics["eval_loss"]
    assert resumed.metrics["final_train_loss"] == reference.metrics["final_train_loss"]
    manifest = json.loads((out / "training.json").read_text())
    assert manifest["resumed_from"] == [killed_at.name]

    # resuming onto different data is refused rather than silently mixing two runs
    with pytest.raises(ConfigError, match="differs"):
        train(replace(config, seq_len=16, max_steps=STEPS + 4))


def test_qlora_4bit_path(tiny_model_dir, dataset_dir, tmp_path):
    from elmgrammar.finetune.model import bitsandbytes_available

    if not torch.cuda.is_available():
        pytest.skip("QLoRA needs a CUDA GPU: none here (4-bit NF4 weights are bitsandbytes CUDA kernels)")
    if not bitsandbytes_available():
        pytest.skip("QLoRA needs the bitsandbytes package: pip install 'elmgrammar[qlora]'")
    from elmgrammar.finetune.train import prepare, train

    config = _config(tiny_model_dir, dataset_dir, tmp_path / "qlora", method="auto", max_steps=4, save_steps=4,
                     cpu_threads=None)
    run = prepare(config)
    assert run.plan.method == "qlora" and run.plan.bf16 == torch.cuda.is_bf16_supported()
    kinds = {type(m).__name__ for m in run.trainer.model.modules()}
    assert "Linear4bit" in kinds
    result = train(config)
    assert result.method == "qlora" and result.metrics["final_train_loss"] < 20


# -- configuration and command line -----------------------------------------------------------


def test_config_files_overrides_and_errors(tmp_path):
    config = load_config(Path(__file__).parents[1] / "finetune" / "configs" / "default_model.yaml",
                         ["lr=1e-4", "lora_targets=q_proj,v_proj", "model_overrides.num_hidden_layers=2",
                          "eval_split=none"])
    assert config.method == "scratch" and config.lr == 1e-4 and config.eval_split is None
    assert config.lora_targets == ["q_proj", "v_proj"] and config.model_overrides == {"num_hidden_layers": 2}
    qlora = load_config(Path(__file__).parents[1] / "finetune" / "configs" / "starcoder2-3b-qlora.yaml")
    assert qlora.lora_targets == list(STARCODER2_PROJECTIONS) and qlora.method == "auto"
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(None, ["learning_rate=1"])
    with pytest.raises(ConfigError, match="not a valid int"):
        load_config(None, ["batch_size=many"])
    with pytest.raises(ConfigError, match="method"):
        load_config(None, ["method=adapter"])
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.yaml")
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("lr: [1,\nmethod: lora\n")
    with pytest.raises(ConfigError, match=f"{broken_yaml}:3:1: not valid YAML"):
        load_config(broken_yaml)
    broken_json = tmp_path / "broken.json"
    broken_json.write_text('{"lr": 1e-4,\n}')
    with pytest.raises(ConfigError, match=f"{broken_json}:2:1: not valid JSON"):
        load_config(broken_json)


def test_cli_prints_the_resolved_config_and_reports_bad_settings(tmp_path, capsys):
    from elmgrammar.finetune.cli import main

    file = tmp_path / "run.json"
    file.write_text(json.dumps({"model": "bigcode/starcoder2-3b", "dataset": "work/dataset"}))
    assert main(["--config", str(file), "--set", "lr=1e-4", "--max-steps", "7", "--print-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["lr"] == 1e-4 and shown["max_steps"] == 7 and shown["model"] == "bigcode/starcoder2-3b"
    assert main(["--config", str(file), "--set", "nonsense=1"]) == 2
    assert "unknown setting" in capsys.readouterr().err


def test_score_gives_the_models_own_loss_and_bits_per_byte(tiny_model_dir, dataset_dir, units, tokenizer, capsys):
    import math

    from transformers import AutoModelForCausalLM

    from elmgrammar.finetune.packing import PackOptions, packed_dataset
    from elmgrammar.finetune.score import main, score

    result = score(tiny_model_dir, dataset_dir, "validation", seq_len=32, batch_size=3, progress=False)
    blocks = packed_dataset(units["validation"], tokenizer, PackOptions(seq_len=32)).tensors
    # the model's own loss over all blocks at once: the mean over every predicted token
    expected = _loss_on(AutoModelForCausalLM.from_pretrained(tiny_model_dir), blocks)
    assert result.loss == pytest.approx(expected, rel=1e-4)
    assert result.units == len(units["validation"])
    assert result.bytes == sum(len(t.encode("utf-8")) for t in units["validation"])
    assert result.bits_per_byte == pytest.approx(result.loss * result.tokens / result.bytes / math.log(2))

    assert main([str(tiny_model_dir), "--dataset", str(dataset_dir), "--seq-len", "32", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["split"] == "validation" and row["tokens"] > 0
    assert main([str(dataset_dir), "--dataset", str(dataset_dir)]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert main([str(tiny_model_dir), "--dataset", str(dataset_dir), "--split", "nope"]) == 2
