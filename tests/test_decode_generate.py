"""Generation with a tiny random StarCoder2 (the real architecture and vocabulary,
2 layers): the constrained side never writes unparseable Elm; the baseline does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from elmgrammar import parse_module
from elmgrammar.cli import main
from elmgrammar.decode.complete import complete, processor_settings
from elmgrammar.decode.fastmask import FastMasker
from elmgrammar.decode.models import ModelError, load_model, load_tokenizer
from elmgrammar.decode.settings import settings_problem
from elmgrammar.decode.processor import ElmGrammarLogitsProcessor
from elmgrammar.decode.stopping import unit_end
from elmgrammar.decode.state import ElmParseState, PromptError, check_prompt
from elmgrammar.decode.tiny import tiny_starcoder2
from elmgrammar.evaluate.prompts import seed_prompts
from elmgrammar.finetune import default_model_path
from fit import assert_draws_fit

SAMPLING = dict(do_sample=True, top_k=50, max_new_tokens=24)


@pytest.fixture(scope="module")
def model(tokenizer_dir):
    return tiny_starcoder2(tokenizer_dir, layers=2, hidden=64, seed=0)


@pytest.fixture(scope="module")
def masker(vocab):
    return FastMasker(vocab)


def _sample(model, tokenizer, constrained: bool, seed: int):
    torch.manual_seed(seed)
    return complete(model, tokenizer, seed_prompts(), constrained=constrained, **SAMPLING)


def test_constrained_outputs_are_viable_and_complete_ones_parse(model, tokenizer, compiler):
    constrained = _sample(model, tokenizer, True, seed=1) + _sample(model, tokenizer, True, seed=2)
    for c in constrained:
        assert ElmParseState("declarations", c.prompt + c.text).is_viable(), (c.prompt, c.text)
        assert c.stop_reason != "dead end"
    finished = [c for c in constrained if c.complete]
    assert finished, "some constrained completion should be complete"
    for c in finished:
        parse_module(c.prompt + c.text)
    verdicts = compiler.check_many([c.prompt + c.text for c in finished])
    assert all(v.valid for v in verdicts), [v for v in verdicts if not v.valid]


def test_the_unconstrained_baseline_fails_with_the_same_seeds(model, tokenizer):
    baseline = _sample(model, tokenizer, False, seed=1) + _sample(model, tokenizer, False, seed=2)
    broken = [c for c in baseline if not ElmParseState("declarations", c.prompt + c.text).is_viable()]
    assert len(broken) >= len(baseline) // 2, "the random model should write broken Elm without the mask"


def test_greedy_lazy_and_full_masks_give_the_same_tokens(model, tokenizer, vocab, masker):
    prompts = seed_prompts()[:4]
    outputs = []
    for strategy in ("lazy", "full"):
        processor = ElmGrammarLogitsProcessor(tokenizer, prompts, strategy=strategy, top_k=1, vocab=vocab, masker=masker)
        tokenizer.padding_side = "left"
        tokenizer.pad_token = tokenizer.eos_token
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        out = model.generate(**batch, logits_processor=LogitsProcessorList([processor]), max_new_tokens=20,
                             do_sample=False, pad_token_id=tokenizer.eos_token_id)
        outputs.append(out.tolist())
        assert processor.dead_ends == 0
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("grid", [1 / 8, 1.0, 4.0], ids=["bf16-like", "coarse", "mostly-tied"])
def test_tied_scores_keep_what_the_full_mask_would(grid, tokenizer, vocab, masker):
    """bf16 models give tied scores. Greedy search takes the lowest id among the best
    allowed, and the top-k warper keeps every token tied with the k-th: the lazy
    path must leave the same choice as the full mask (also where the ties run past
    the candidates it fetched, and where it falls back to the full mask)."""
    prompts = ["view model =\n    div []\n        [ text model.", "x = 0x", "main =", "update msg model =\n    case msg of\n        "]
    batch = torch.zeros((len(prompts), 3), dtype=torch.long)
    for seed in range(3):
        scores = torch.randn(len(prompts), len(vocab), generator=torch.Generator().manual_seed(seed)) * 4
        scores = torch.round(scores / grid) * grid
        for k in (1, 3, 20):
            kept = []
            for strategy in ("lazy", "full"):
                processor = ElmGrammarLogitsProcessor(tokenizer, prompts, strategy=strategy, top_k=k, vocab=vocab, masker=masker)
                out = processor(batch, scores.clone())
                if k == 1:
                    kept.append(out.argmax(dim=-1))
                else:
                    kept.append(torch.isfinite(TopKLogitsWarper(top_k=k)(batch, out)))
            assert torch.equal(kept[0], kept[1]), (grid, seed, k)


@pytest.mark.parametrize("prompt, k", [
    ("view model =\n    div []\n        [ text model.", 8),   # found one by one
    ("view model =\n    div []\n        [ text model.", 20),  # a large k: from the full mask
    ("x = 0x", 4),  # hex digits only: the best guesses are refused, the row falls back to the full mask
])
def test_lazy_top_k_samples_from_the_same_distribution_as_the_full_mask(prompt, k, tokenizer, vocab, masker):
    """After the top-k warper, both paths leave the same probabilities; samples
    drawn from each agree (a chi-square test at 0.1%)."""
    ids = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)["input_ids"]
    scores = torch.randn(1, len(vocab), generator=torch.Generator().manual_seed(0)) * 4
    probs = []
    for strategy in ("lazy", "full"):
        processor = ElmGrammarLogitsProcessor(tokenizer, [prompt], strategy=strategy, top_k=k, vocab=vocab, masker=masker)
        warped = TopKLogitsWarper(top_k=k)(ids, processor(ids, scores.clone()))
        probs.append(torch.softmax(warped, dim=-1)[0])
    assert torch.allclose(probs[0], probs[1])
    support = torch.nonzero(probs[1]).flatten()
    assert 0 < len(support) <= k
    _assert_samples_agree(probs, support)


def _assert_samples_agree(probs: list[torch.Tensor], support: torch.Tensor) -> None:
    """20,000 draws from each distribution agree on ``support`` (a chi-square test at 0.1%)."""
    draws = [torch.multinomial(p, 20_000, replacement=True, generator=torch.Generator().manual_seed(s))
             for p, s in zip(probs, (1, 2))]
    counts = [torch.bincount(d, minlength=len(probs[0]))[support].double() for d in draws]
    expected = (counts[0] + counts[1]) / 2
    chi2 = float((((counts[0] - expected) ** 2 + (counts[1] - expected) ** 2) / expected.clamp(min=1)).sum())
    # chi-square with len(support) - 1 degrees of freedom; 0.1% critical value < 3 * dof + 20
    assert chi2 < 3 * (len(support) - 1) + 20, chi2


@pytest.mark.parametrize("prompt, spread, k, p", [
    ("view model =\n    div []\n        [ text model.", 8.0, 50, None),  # peaked: the first allowed draw decides
    ("view model =\n    div []\n        [ text model.", 2.0, 4, None),   # draws ranked below the 4th: counted
    ("main =", 1.0, 50, None),    # flat: draws beyond the candidates, which cannot lie in S
    ("main =", 3.0, None, None),  # every allowed token: draws beyond the candidates settled from the full mask
    ("x = 0x", 3.0, 4, None),     # hex digits only: draws keep being refused, the row takes its exact set
    ("view model =\n    div []\n        [ text model.", 2.0, 50, 0.9),  # a nucleus: decided by bounds
    ("main =", 2.5, None, 0.5),   # a nucleus of every allowed token: some draws settled from the full mask
    ("main =", 1.0, 20, 0.7),     # flat: the nucleus of the 20 best allowed, all among the candidates
], ids=["peaked", "counted", "flat", "all-allowed", "refused", "top-k-top-p", "top-p", "flat-top-k-top-p"])
def test_sampling_by_rejection_draws_from_the_distribution_of_the_full_mask(prompt, spread, k, p, tokenizer, vocab,
                                                                             masker):
    """The "sample" strategy keeps one token, drawn by the processor: over 2,000
    draws, its frequencies fit the probabilities that the full mask and the
    temperature, top-k and top-p warpers give (a chi-square test at 0.1%), and it
    never draws a token outside them."""
    ids = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)["input_ids"]
    scores = torch.randn(1, len(vocab), generator=torch.Generator().manual_seed(3)) * spread
    full = ElmGrammarLogitsProcessor(tokenizer, [prompt], strategy="full", vocab=vocab, masker=masker)
    reference = TemperatureLogitsWarper(0.7)(ids, full(ids, scores.clone()))
    if k:
        reference = TopKLogitsWarper(top_k=k)(ids, reference)
    if p:
        reference = TopPLogitsWarper(top_p=p)(ids, reference)
    probs = torch.softmax(reference, dim=-1)[0].double()
    drawing = ElmGrammarLogitsProcessor(tokenizer, [prompt], strategy="sample", top_k=k, top_p=p, temperature=0.7,
                                        vocab=vocab, masker=masker)
    torch.manual_seed(0)
    counts = torch.zeros(len(vocab), dtype=torch.double)
    for _ in range(2_000):
        kept = torch.isfinite(drawing(ids, scores.clone())[0]).nonzero().flatten()
        assert len(kept) == 1
        counts[kept] += 1
    assert counts[probs == 0].sum() == 0, "a token outside the sampling set was drawn"
    assert_draws_fit(counts, probs)


class _UnsoundMasker(FastMasker):
    """The real mask, but allowing nothing after a text that starts with ``dead =``:
    what a bug in the mask would do (a sound one always allows something), to see
    that the processor ends such a row cleanly."""

    def full_mask(self, state, among=None):
        return np.zeros(self.size, dtype=bool) if state.text.startswith("dead =") else super().full_mask(state, among)

    def lazy_advanced(self, state, order, k=1):
        return [] if state.text.startswith("dead =") else super().lazy_advanced(state, order, k)


@pytest.fixture(scope="module")
def unsound(vocab, masker) -> FastMasker:
    return _UnsoundMasker(vocab, index=masker.index)


def test_draws_of_a_batch_take_each_row_its_own_way(tokenizer, vocab, masker, unsound):
    """Rows of one step take different ways (a peaked row decided by its first
    draw, a flat one drawn from its exact set, a dead end): each keeps one token of
    its own nucleus (the full mask and the warpers, row by row), and the dead end
    gets EOS only."""
    prompts = ["view model =\n    div []\n        [ text model.", "x = 0x", "dead =", "main ="]
    batch = torch.zeros((len(prompts), 3), dtype=torch.long)  # the first step: only its shape counts
    scores = torch.randn(len(prompts), len(vocab), generator=torch.Generator().manual_seed(4))
    scores *= torch.tensor([[8.0], [1.0], [4.0], [0.5]])
    for seed in range(5):
        torch.manual_seed(seed)
        ours = ElmGrammarLogitsProcessor(tokenizer, prompts, top_p=0.8, temperature=0.9, vocab=vocab,
                                         masker=unsound)(batch, scores.clone())
        assert torch.isfinite(ours[2]).nonzero().flatten().tolist() == [vocab.eos_id]
        for r in (0, 1, 3):
            ids = tokenizer([prompts[r]], return_tensors="pt", add_special_tokens=False)["input_ids"]
            full = ElmGrammarLogitsProcessor(tokenizer, [prompts[r]], strategy="full", vocab=vocab, masker=masker)
            reference = TopPLogitsWarper(top_p=0.8)(ids, TemperatureLogitsWarper(0.9)(ids, full(ids, scores[r:r + 1].clone())))
            (drawn,) = torch.isfinite(ours[r]).nonzero().flatten().tolist()
            assert torch.isfinite(reference[0, drawn]), (seed, r)


@pytest.mark.parametrize("settings", [{"strategy": "lazy", "top_k": 1}, {"strategy": "lazy", "top_k": 20},
                                      {"strategy": "full"}, {"top_p": 0.9}, {"strategy": "sample", "top_k": 20}],
                         ids=["greedy", "top-k", "full", "top-p", "sample"])
def test_scores_wider_than_the_vocabulary(settings, tokenizer, vocab, masker):
    """Models often pad their output layer past the tokenizer's vocabulary: the extra
    columns are never allowed, and the others are masked as without them."""
    prompts = ["view model =\n    div []\n        [ text model.", "x = 0x"]
    batch = torch.zeros((len(prompts), 3), dtype=torch.long)
    scores = torch.randn(len(prompts), len(vocab) + 64, generator=torch.Generator().manual_seed(6)) * 4
    scores[:, len(vocab):] = 100.0  # the padding would win if it were let through

    def masked(columns: int) -> torch.Tensor:
        processor = ElmGrammarLogitsProcessor(tokenizer, prompts, vocab=vocab, masker=masker, **settings)
        torch.manual_seed(0)  # the same draws, for the strategies that draw
        return processor(batch, scores[:, :columns].clone())

    wide, narrow = masked(len(vocab) + 64), masked(len(vocab))
    assert torch.isinf(wide[:, len(vocab):]).all()
    assert torch.equal(wide[:, :len(vocab)], narrow)


def test_complete_with_top_p_samples_viable_text(model, tokenizer):
    torch.manual_seed(5)
    for c in complete(model, tokenizer, seed_prompts()[:3], do_sample=True, top_p=0.9, top_k=0, max_new_tokens=16):
        assert ElmParseState("declarations", c.prompt + c.text).is_viable() and c.stop_reason != "dead end"


@pytest.mark.parametrize("given, settings", [
    ({}, {"strategy": "lazy", "top_k": 1}),
    ({"num_beams": 3}, {"strategy": "full"}),
    # generate's own top-k (50) when none is given; 0 turns it off
    ({"do_sample": True}, {"strategy": "sample", "top_k": 50, "top_p": None, "temperature": 1.0}),
    ({"do_sample": True, "top_k": 0, "temperature": 0.7},
     {"strategy": "sample", "top_k": None, "top_p": None, "temperature": 0.7}),
    ({"do_sample": True, "top_k": 0, "top_p": 0.9, "temperature": 0.7}, {"strategy": "full"}),
    ({"do_sample": True, "top_p": 0.9}, {"strategy": "sample", "top_k": 50, "top_p": 0.9, "temperature": 1.0}),
    # cuts the processor does not make: generate makes them after the top-k best allowed
    ({"do_sample": True, "top_k": 20, "typical_p": 0.5}, {"strategy": "lazy", "top_k": 20}),
    ({"do_sample": True, "top_k": 0, "min_p": 0.1}, {"strategy": "full"}),
])
def test_complete_mirrors_the_settings_generate_would_sample_with(given, settings, model):
    """The processor's settings reproduce what generate samples from without it,
    restricted to the allowed tokens: its defaults (top-k 50) included, and the
    warpers the processor cannot fold into its own draws left to generate."""
    assert processor_settings(model.generation_config, dict(given)) == settings


def test_complete_samples_the_same_text_from_the_same_seed(model, tokenizer):
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append([c.text for c in complete(model, tokenizer, seed_prompts()[:3], do_sample=True, top_k=50,
                                              temperature=0.8, max_new_tokens=12)])
    assert runs[0] == runs[1]


def test_beams_return_sequences_and_mixed_batches(model, tokenizer):
    prompts = ["main =", "update : Msg -> Model -> Model\nupdate msg model =", "x ="]
    beams = complete(model, tokenizer, prompts[:2], num_beams=2, max_new_tokens=10)
    sampled = complete(model, tokenizer, prompts, do_sample=True, top_k=10, num_return_sequences=2, max_new_tokens=10)
    assert len(beams) == 2 and len(sampled) == 6
    for c in beams + sampled:
        assert ElmParseState("declarations", c.prompt + c.text).is_viable(), (c.prompt, c.text)
    assert [c.prompt for c in sampled] == [p for p in prompts for _ in range(2)]


def test_a_dead_end_ends_cleanly(model, tokenizer, unsound):
    # the mask alone (closing, which writes its tokens through the matcher, would end
    # the row whole before the mask is asked)
    (c,) = complete(model, tokenizer, "dead =", max_new_tokens=5, masker=unsound, close=False)
    assert c.stop_reason == "dead end" and not c.complete and c.text == ""
    # also when min_new_tokens has masked EOS: sampling must not see a row of -inf
    torch.manual_seed(0)
    (c,) = complete(model, tokenizer, "dead =", max_new_tokens=5, min_new_tokens=3, do_sample=True, top_p=0.9,
                    masker=unsound, close=False)
    assert c.stop_reason == "dead end" and c.text == ""
    (c,) = complete(model, tokenizer, "dead =", max_new_tokens=5, masker=unsound)
    assert c.stop_reason == "closed at budget" and c.complete and c.text == c.closing == " x"


@pytest.mark.parametrize("settings, strategy", [
    ({"do_sample": False}, "auto"), ({"do_sample": True, "top_k": 20}, "auto"), ({"do_sample": True}, "auto"),
    ({"do_sample": True, "top_k": 20}, "sample"), ({"do_sample": True, "top_k": 0}, "sample"),
], ids=["greedy", "top-k", "sampling", "top-k-drawn", "sampling-drawn"])
def test_a_row_that_has_ended_is_left_alone(settings, strategy, model, tokenizer, vocab, unsound):
    """A row that has ended (here a dead end, given EOS) while others go on is not
    judged again: its dead end counts once, and its scores stay finite for
    sampling though min_new_tokens masks EOS."""
    prompts = ["dead =", "main ="]
    processor = ElmGrammarLogitsProcessor(tokenizer, prompts, top_k=settings.get("top_k"), vocab=vocab,
                                          masker=unsound, strategy=strategy)
    tokenizer.padding_side = "left"
    tokenizer.pad_token = tokenizer.eos_token
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    out = model.generate(**batch, logits_processor=LogitsProcessorList([processor]), max_new_tokens=6,
                         min_new_tokens=6, pad_token_id=tokenizer.eos_token_id, **settings)
    new = out[:, batch["input_ids"].shape[1]:].tolist()
    assert new[0] == [tokenizer.eos_token_id] * 6
    assert processor.dead_ends == 1
    assert ElmParseState("declarations", "main =" + tokenizer.decode(new[1])).is_viable()


def test_bench_generate_command(tokenizer_dir, capsys):
    assert main(["bench", "generate", "--config", str(tokenizer_dir), "--new-tokens", "4", "--repeat", "1",
                 "--batch-sizes", "1,2", "--decodings", "greedy,top-k,top-k-set,top-k-full,top-p,top-p-full",
                 "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["decoding"], r["strategy"], r["batch"]) for r in rows] == [
        ("greedy", "lazy", 1), ("greedy", "lazy", 2), ("top-k", "sample", 1), ("top-k", "sample", 2),
        ("top-k-set", "lazy", 1), ("top-k-set", "lazy", 2), ("top-k-full", "full", 1), ("top-k-full", "full", 2),
        ("top-p", "sample", 1), ("top-p", "sample", 2), ("top-p-full", "full", 1), ("top-p-full", "full", 2)]
    for r in rows:
        assert r["unconstrained"] > 0 and r["constrained"] > 0 and r["mask_ms"] > 0 and r["step_ms"] > 0
        # the same median: step_ms (rounded to 0.001 ms) and tokens/s (to 0.1, which on a
        # loaded machine, at a few tokens/s, is more than 1%)
        slowest, fastest = r["unconstrained"] - 0.05, r["unconstrained"] + 0.05
        assert 1000 * r["batch"] / fastest - 0.0006 <= r["step_ms"] <= 1000 * r["batch"] / slowest + 0.0006
        assert r["ratio"] == round(r["constrained"] / r["unconstrained"], 3)


def test_bench_generate_with_the_default_model(capsys):
    """`--model`: a trained model (here the embedded default one, with its own
    tokenizer) instead of a random one; a model or a random config, not both."""
    assert main(["bench", "generate", "--model", "default", "--new-tokens", "4", "--repeat", "1",
                 "--batch-sizes", "1", "--decodings", "top-k,top-k-set", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["model"], r["decoding"], r["strategy"]) for r in rows] == [
        ("default_model", "top-k", "sample"), ("default_model", "top-k-set", "lazy")]
    assert all(r["constrained"] > 0 and r["params"] > 1e6 for r in rows)
    with pytest.raises(SystemExit) as e:
        main(["bench", "generate", "--new-tokens", "4"])
    assert e.value.code == 2 and "one of the arguments --config --model is required" in capsys.readouterr().err


def test_units_end_at_the_next_top_level_item():
    assert unit_end("x =", " 1\n\ny = 2") == 2
    # a blank line inside a let (elm-format's style) does not end the unit
    assert unit_end("x =", "\n    let\n        a = 1\n\n        b = 2\n    in\n    a") is None
    # an incomplete declaration does not end at a column-1 line
    assert unit_end("x =", "\ny = 2") is None
    # a comment at column 1 does not end the unit; a doc comment does
    assert unit_end("x =", " 1\n-- note\n") is None
    assert unit_end("x =", " 1\n\n{-| doc -}\ny = 2") == 2


def test_generate_command(model, tokenizer, tmp_path, capsys):
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert main(["generate", "--model", str(tmp_path), "--prompt", "main =", "--max-new-tokens", "8",
                 "--sample", "--top-k", "20", "--seed", "3", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["prompt"] == "main =" and record["constrained"] is True
    assert ElmParseState("declarations", record["prompt"] + record["text"]).is_viable()


def test_generate_command_refuses_a_prompt_no_program_starts_with_before_loading(tmp_path, capsys):
    # the model folder does not exist either: the prompt is judged first, in a moment
    assert main(["generate", "--model", str(tmp_path / "none"), "--prompt", "view model =\n    f )"]) == 2
    err = capsys.readouterr().err
    assert "--prompt" in err and "2:7: unexpected `)`" in err and "Traceback" not in err
    # unconstrained, any prompt goes (the baseline): then the missing model is the error
    assert main(["generate", "--model", str(tmp_path / "none"), "--prompt", "x = )", "--unconstrained"]) == 2
    assert "no such model folder" in capsys.readouterr().err


@pytest.mark.parametrize("options, problem", [
    (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
    (["--sample", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--num-return-sequences", "2"], "return at most --num-beams sequences"),
    (["--sample", "--temperature", "0"], "--temperature must be positive"),
])
def test_generate_command_refuses_bad_settings_before_loading(options, problem, tmp_path, capsys):
    assert main(["generate", "--model", str(tmp_path / "none"), "--prompt", "main =", *options]) == 2
    assert problem in capsys.readouterr().err


def test_generate_names_a_device_it_cannot_use(model, tokenizer, tmp_path, capsys):
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert main(["generate", "--model", str(tmp_path), "--prompt", "main =", "--device", "nonsense"]) == 2
    assert "--device nonsense: " in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["generate", "--model", str(tmp_path), "--prompt", "main =", "--device", "cuda"]) == 2
        assert "--device cuda: this torch sees no CUDA device" in capsys.readouterr().err


def test_generate_and_replay_name_a_missing_model_or_tokenizer(tmp_path, capsys):
    assert main(["generate", "--model", str(tmp_path), "--prompt", "main ="]) == 2
    assert "has no config.json" in capsys.readouterr().err
    elm = tmp_path / "Main.elm"
    elm.write_text("module Main exposing (x)\n\n\nx =\n    1\n")
    assert main(["replay", "--tokenizer", str(tmp_path), str(elm)]) == 2
    assert f"{tmp_path}: the folder has no tokenizer" in capsys.readouterr().err
    assert main(["replay", "--tokenizer", str(tmp_path / "none"), str(elm)]) == 2
    assert "no such tokenizer folder" in capsys.readouterr().err


def test_processor_names_the_prompt_of_a_batch_that_nothing_completes(model, tokenizer, vocab, masker):
    with pytest.raises(PromptError, match=r"prompt 2 of 3: .*1:5: unexpected `\)`"):
        ElmGrammarLogitsProcessor(tokenizer, ["main =", "x = ) 1", "y ="], vocab=vocab, masker=masker)
    with pytest.raises(PromptError, match=r"starts with this prompt: 1:5: unexpected `\]`"):
        complete(model, tokenizer, "x = ]", max_new_tokens=4)
    # an unfinished lexeme that nothing can finish: placed where it starts
    with pytest.raises(PromptError, match=r"4:5: `\"\"\"abc\ndef\\q` cannot begin anything valid here"):
        check_prompt('x = 1\n\ny =\n    """abc\ndef\\q')


def test_row_histories_follow_rows_that_go_on_and_rows_that_beams_reorder(tokenizer, vocab, masker):
    """Each row's generated ids, the key of its state: extended by one id where the
    rows went on in order, listed afresh where beam search reordered them."""
    processor = ElmGrammarLogitsProcessor(tokenizer, ["main ="], vocab=vocab, masker=masker)
    calls = [[[1, 2], [3, 4]],
             [[1, 2, 5], [3, 4, 6]],            # went on
             [[3, 4, 6, 7], [1, 2, 5, 8]],      # reordered (beams swapped)
             [[3, 4, 6, 7, 9], [3, 4, 6, 7, 9]],  # one beam copied over the other
             [[3, 4, 6, 7, 9, 1], [3, 4, 6, 7, 9, 2]]]
    for ids in calls:
        assert processor._histories(torch.tensor(ids)) == [tuple(row) for row in ids]


def test_no_more_than_two_blank_lines_in_a_row(tokenizer, vocab, masker):
    prompt = "x =\n    f\n\n\n"
    ids = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)["input_ids"]
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    scores = torch.zeros(1, len(vocab))
    scores[0, newline] = 100.0  # the model wants yet another newline
    for strategy in ("lazy", "full"):
        processor = ElmGrammarLogitsProcessor(tokenizer, [prompt], strategy=strategy, top_k=1, vocab=vocab, masker=masker)
        out = processor(ids, scores.clone())
        assert out[0, newline] == float("-inf")
        assert torch.isfinite(out[0]).any()
    unlimited = ElmGrammarLogitsProcessor(tokenizer, [prompt], strategy="lazy", top_k=1, vocab=vocab, masker=masker,
                                          max_blank_lines=None)
    assert unlimited(ids, scores.clone())[0, newline] == 100.0

    # the model's 300 best guesses all start a line: the lazy path looks past them
    # (masked anyway) and finds what the full mask would
    starts_line = torch.tensor(vocab.newline_first)
    scores = torch.randn(1, len(vocab), generator=torch.Generator().manual_seed(0))
    scores[0, torch.nonzero(starts_line).flatten()[:300]] += 50.0
    assert torch.isfinite(scores).all()
    best = {}
    for strategy in ("lazy", "full"):
        out = ElmGrammarLogitsProcessor(tokenizer, [prompt], strategy=strategy, top_k=2, vocab=vocab,
                                        masker=masker)(ids, scores.clone())
        best[strategy] = torch.topk(out[0], 2).indices.tolist()
        assert not starts_line[best[strategy]].any()
    assert best["lazy"] == best["full"]


def test_generate_defaults_to_the_embedded_model(capsys):
    assert main(["generate", "--prompt", "main =", "--max-new-tokens", "6", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["prompt"] == "main =" and 1 <= record["new_tokens"] <= 6
    assert ElmParseState("declarations", record["prompt"] + record["text"]).is_viable()


def test_the_library_names_arguments_and_the_command_line_its_options(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no elm-lora/ here
    with pytest.raises(ModelError) as e:
        load_model(str(default_model_path()), adapter="elm-lora/")
    assert str(e.value) == "adapter 'elm-lora/': no such adapter folder"
    with pytest.raises(ModelError) as e:
        load_model(str(tmp_path / "none"))
    assert str(e.value) == f"model '{tmp_path / 'none'}': no such model folder"
    with pytest.raises(ModelError) as e:
        load_tokenizer(tmp_path)
    assert str(e.value).startswith(f"tokenizer '{tmp_path}': the folder has no tokenizer")
    assert str(settings_problem(max_new_tokens=0)) == "max_new_tokens must be at least 1"
    assert main(["generate", "--adapter", "elm-lora/", "--prompt", "main ="]) == 2
    assert capsys.readouterr().err == "elmgrammar: --adapter elm-lora/: no such adapter folder\n"


def test_a_hub_name_with_no_hub_reachable_fails_at_once_in_one_line(tmp_path):
    # a hub on a closed local port, and an empty hub cache: without the reachability
    # check, huggingface_hub would retry for about a minute
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run([sys.executable, "-m", "elmgrammar.cli", "generate", "--model", "someone/no-such-model",
                           "--prompt", "main ="], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("elmgrammar: --model someone/no-such-model: not a local folder, and not in the local hub "
                           "cache; the model hub cannot be reached (127.0.0.1: ")
    assert "Connection refused" in line
