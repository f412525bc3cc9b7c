"""The embedded default model: shipped in the package, loadable offline, small, byte-level,
and it writes (poor) Elm that the grammar mask can constrain."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from elmgrammar.finetune import default_model_path  # noqa: E402

SIZE_LIMIT = 25 * 1024 * 1024


@pytest.fixture(scope="module")
def default_model():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = default_model_path()
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_the_default_model_is_shipped_small_and_documented():
    path = default_model_path()
    files = {p.name: p.stat().st_size for p in path.iterdir() if p.is_file()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "MODEL_CARD.md", "training.json"} <= set(files)
    assert sum(files.values()) <= SIZE_LIMIT, files
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "starcoder2"
    # EOS doubles as padding; a pad id in config.json would freeze EOS's embedding in later training
    assert config.get("pad_token_id") is None
    assert json.loads((path / "generation_config.json").read_text())["eos_token_id"] == 0
    card = (path / "MODEL_CARD.md").read_text()
    for needed in ("elmgrammar corpus local", "--manifest", "BSD-3-Clause", "MIT", "| this model | validation |",
                   "| the previous model (replaced by this one) | validation |", "How the settings were chosen",
                   "elmgrammar finetune --config finetune/configs/default_model.yaml"):
        assert needed in card, needed
    manifest = json.loads((path / "training.json").read_text())
    assert manifest["method"] == "scratch" and len(manifest["dataset"]["sha256"]) == 64
    assert manifest["metrics"]["eval_loss"] > 0
    # fill-in-the-middle examples in training: the main job can show FIM too
    assert manifest["config"]["fim_rate"] > 0


def test_the_default_model_loads_offline_and_generates(default_model):
    model, tokenizer = default_model
    assert model.dtype == torch.float32  # half-size weights on disk, float32 compute
    assert model.get_input_embeddings().weight[tokenizer.eos_token_id].abs().sum() > 0  # EOS was learnt
    # no trailing indentation: "\n    " at the end is one token that training text (where the
    # spaces go with the next word) seldom holds, and the model reads it as the end
    prompt = tokenizer("view : Model -> Html Msg\nview model =", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    new = out[0, prompt["input_ids"].shape[1]:]
    assert 1 <= len(new) <= 8
    assert tokenizer.decode(new, skip_special_tokens=True).strip()


def test_the_default_tokenizer_is_byte_level_with_starcoder2_special_tokens(default_model):
    from elmgrammar.decode.vocab import vocab_from_tokenizer

    _, tokenizer = default_model
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 0
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<fim_prefix>", "<fim_middle>", "<fim_suffix>")] == [1, 2, 3]
    vocab = vocab_from_tokenizer(tokenizer)
    # every byte has a token, so any text (and any Elm program) can be spelt
    single = {p for p in vocab.pieces if p is not None and len(p) == 1}
    assert len(single) == 256
    text = 'module Main exposing (..)\n\nlabel = "héllo ∀ 🌳"\n'
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert b"".join(vocab.pieces[i] for i in ids).decode("utf-8") == text


def test_constrained_decoding_with_the_default_model_writes_parseable_elm(default_model):
    from elmgrammar import parse_declarations
    from elmgrammar.decode.complete import complete

    model, tokenizer = default_model
    prompt = "add : Int -> Int -> Int\nadd x y =\n    "
    [result] = complete(model, tokenizer, prompt, max_new_tokens=24)
    assert result.stop_reason != "dead end" and result.new_tokens >= 1
    if result.complete:
        parse_declarations(prompt + result.text)


def test_the_model_card_names_the_repositories_licences_and_scores(tmp_path):
    from elmgrammar.finetune.export import model_card, _scores

    path = default_model_path()
    manifest = json.loads((path / "training.json").read_text())
    manifest["config"].update(fim_rate=0.5, fim_spm_rate=0.5)
    corpus = tmp_path / "work"
    (corpus / "dataset").mkdir(parents=True)
    files = [{"repo": "a/one", "commit": "1" * 40, "licence": "MIT", "text": "x = 1\ny = 2\n"},
             {"repo": "a/one", "commit": "1" * 40, "licence": "MIT", "text": "z = 3"},
             {"repo": "b/two", "commit": "2" * 40, "licence": "MPL-2.0", "text": "w = 4"}]
    (corpus / "files.jsonl").write_text("".join(json.dumps(f) + "\n" for f in files))
    for split, repo in (("train", "a/one"), ("validation", "b/two")):
        (corpus / "dataset" / f"{split}.jsonl").write_text(json.dumps({"text": "x = 1", "repo": repo}) + "\n")
    run, out = tmp_path / "run", tmp_path / "shipped"
    scores = tmp_path / "scores.jsonl"
    rows = [{"model": str(out), "split": "validation", "units": 1, "tokens": 9, "loss": 6.5, "bits_per_byte": 2.5},
            {"model": str(run), "split": "validation", "units": 1, "tokens": 8, "loss": 4.25, "bits_per_byte": 1.5}]
    scores.write_text("".join(json.dumps(r) + "\n" for r in rows))

    card = model_card(manifest, json.loads((path / "config.json").read_text()), corpus,
                      _scores(scores, run, out), "Chosen by a pilot.")
    assert "2 public repositories" in card and "3 files, 4 lines" in card and "MIT 1, MPL-2.0 1" in card
    assert f"| a/one | `{'1' * 12}` | MIT | 2 | 3 |" in card
    assert "- train: a/one (1 units)" in card and "- validation: b/two (1 units)" in card
    assert "50% of the training units are fill-in-the-middle examples (50% of those in SPM order)" in card
    assert "| the previous model (replaced by this one) | validation | 1 | 9 | 6.500 | 2.500 |" in card
    assert "| this model | validation | 1 | 8 | 4.250 | 1.500 |" in card
    assert "Chosen by a pilot." in card
    assert "elmgrammar finetune --config finetune/configs/default_model.yaml" in card
