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
    for package in ("elm-pages@3.1.3", "elm-review@2.13.5", "elm-test@0.19.1", "BSD-3-Clause",
                    "elmgrammar finetune --config finetune/configs/default_model.yaml"):
        assert package in card
    manifest = json.loads((path / "training.json").read_text())
    assert manifest["method"] == "scratch" and len(manifest["dataset"]["sha256"]) == 64
    assert manifest["metrics"]["eval_loss"] > 0


def test_the_default_model_loads_offline_and_generates(default_model):
    model, tokenizer = default_model
    assert model.dtype == torch.float32  # half-size weights on disk, float32 compute
    assert model.get_input_embeddings().weight[tokenizer.eos_token_id].abs().sum() > 0  # EOS was learnt
    prompt = tokenizer("view : Model -> Html Msg\nview model =\n    ", return_tensors="pt")
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
