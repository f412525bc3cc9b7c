"""Closing: the shortest text that makes a partial program whole, and generation
that ends whole instead of cut off (``complete(close=True)``)."""

from __future__ import annotations

import random

import pytest
import torch

from elmgrammar import parse_module
from elmgrammar.decode.closing import closing_text, eos_probability
from elmgrammar.decode.complete import complete
from elmgrammar.decode.state import ElmParseState
from elmgrammar.decode.tiny import tiny_starcoder2
from elmgrammar.evaluate.prompts import seed_prompts


@pytest.mark.parametrize("prefix, closing", [
    ("view model =\n    f (g [ a", " ] )"),
    ("f x =\n    if x then", " x else x"),
    ('f =\n    "abc', '"'),
    ("f =\n    {- a comment", " -} x"),
    ("f =\n    let\n        y =", " x in x"),
    ("f x =\n    case x of", " x -> x"),
    ("f =\n    \\a", " -> x"),
    ("f : Int -> Int", "\nf = x"),
    ("f =\n    { model | count", " = x }"),
    ("module Main expos", "ing (..)\nx = x"),
    ("f = 1.", "0"),
    ("f =\n    x\n\ng = 2", ""),
])
def test_closing_examples(prefix, closing):
    assert closing_text(ElmParseState("declarations" if not prefix.startswith("module") else "module",
                                      prefix)) == closing


def test_no_closing_for_a_dead_state():
    assert closing_text(ElmParseState("declarations", "f = )")) is None


def _cuts(real_files, seed: int, per_file: int) -> list[str]:
    rng = random.Random(seed)
    cuts = []
    for path in real_files:
        text = path.read_text(encoding="utf-8")
        cuts += [text[:cut] for cut in sorted(rng.sample(range(len(text)), min(per_file, len(text))))]
    return cuts


def test_closings_of_real_files_parse_and_the_compiler_agrees(real_files, compiler):
    """Cut every npm corpus file at random places: nearly every viable prefix gets a
    closing, each closed text parses (ours and the compiler's verdict)."""
    closed, missing = [], []
    for prefix in _cuts(real_files, seed=0, per_file=4):
        state = ElmParseState("module", prefix)
        if not state.is_viable():
            continue
        closing = closing_text(state)
        if closing is None:
            missing.append(prefix[-60:])
            continue
        closed.append(prefix + closing)
    assert len(missing) <= len(closed) // 100, missing  # a search bounded in size may give up, rarely
    for text in closed:
        parse_module(text)
    verdicts = compiler.check_many(closed)
    assert all(v.valid for v in verdicts), [(t[-80:], v) for t, v in zip(closed, verdicts) if not v.valid][:3]


@pytest.fixture(scope="module")
def model(tokenizer_dir):
    return tiny_starcoder2(tokenizer_dir, layers=2, hidden=64, seed=0)


@pytest.mark.parametrize("settings", [
    dict(do_sample=True, top_k=50, temperature=0.8),   # the processor samples
    dict(do_sample=False),                              # greedy: the lazy mask
    dict(num_beams=2, do_sample=False),                 # beams: the full mask
], ids=["sample", "greedy", "beams"])
def test_closed_generation_ends_whole_within_its_budget(settings, model, tokenizer, compiler):
    """A random model seldom ends by itself: the constrained rows are closed at their
    budget (or happen to be whole there), and the compiler accepts every one; a
    closing is the text's end."""
    torch.manual_seed(0)
    results = complete(model, tokenizer, seed_prompts(), max_new_tokens=24, **settings)
    for c in results:
        assert c.complete, (c.prompt, c.text, c.stop_reason)
        assert c.new_tokens <= 24
        assert c.stop_reason not in ("dead end", "cut to end"), c.stop_reason
        if c.stop_reason.startswith("closed"):
            assert c.closing is not None and c.text.endswith(c.closing)
    assert any(c.stop_reason == "closed at budget" for c in results)
    verdicts = compiler.check_many([c.prompt + c.text for c in results])
    assert all(v.valid for v in verdicts), [v for v in verdicts if not v.valid]


def test_without_closing_rows_run_to_the_budget(model, tokenizer):
    torch.manual_seed(0)
    results = complete(model, tokenizer, seed_prompts(), max_new_tokens=24, close=False, do_sample=True, top_k=50)
    assert not any(c.stop_reason.startswith("closed") or c.closing for c in results)
    assert sum(c.stop_reason == "max_new_tokens" for c in results) > len(results) // 2


def test_a_model_that_would_end_is_closed_there(tokenizer, vocab):
    """Where the model's choice is EOS but the program is open, the grammar closes it
    at once ("closed at eos"), not at the budget."""
    from elmgrammar.decode.processor import ElmGrammarLogitsProcessor

    eos = tokenizer.eos_token_id
    prompt = "view model =\n    f (g [ a"
    processor = ElmGrammarLogitsProcessor(tokenizer, [prompt], vocab=vocab, top_k=1, close=True, close_within=64)
    ids = torch.zeros((1, 3), dtype=torch.long)
    scores = torch.zeros((1, len(vocab)))
    scores[0, eos] = 10.0  # the model would end here
    out = processor(ids, scores)
    forced = int(out[0].argmax())
    assert torch.isfinite(out[0]).sum() == 1
    written = [forced]
    while forced != eos:
        ids = torch.cat([ids, torch.tensor([[forced]])], dim=1)
        out = processor(ids, scores)
        forced = int(out[0].argmax())
        written.append(forced)
    text = tokenizer.decode(written[:-1])
    assert text == " ] )"
    key = (0, tuple(written[:-1]))
    assert processor.closer.closed[key] == ("eos", " ] )")


def test_a_closing_forced_where_an_earlier_processor_masked_its_tokens(model, tokenizer):
    # min_new_tokens masks EOS until the budget: the closing's EOS must stay drawable
    torch.manual_seed(0)
    (c,) = complete(model, tokenizer, "view model =\n    f (g [ a", max_new_tokens=6, min_new_tokens=6,
                    do_sample=True, top_k=50)
    assert c.complete and c.stop_reason == "closed at budget" and c.text.endswith(c.closing)


@pytest.mark.parametrize("top_k", [None, 5, 50])
def test_eos_probability_is_the_softmax_within_the_cut(top_k):
    """EOS's probability (at the temperature, within the top-k cut) against the
    softmax of the cut scores, on rows where EOS is masked, within the cut, tied at
    its edge or outside it, as a batch and row by row."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 1000, generator=generator) * 3
    eos = 7
    logits[0, eos] = float("-inf")            # masked (min_new_tokens)
    logits[1, eos] = logits[1].max() + 1      # the best
    logits[2, eos] = -20.0                    # far outside any cut
    if top_k:
        edge = torch.topk(logits[3], top_k).values[-1]
        logits[3, eos] = edge                 # tied with the last one kept
        logits[4, eos] = torch.topk(logits[4], top_k + 1).values[-1]  # just outside
    expected = []
    for row in logits.double() / 0.7:
        kept = row.clone()
        if top_k:
            kept[kept < torch.topk(kept, top_k).values[-1]] = float("-inf")
        expected.append(float(torch.softmax(kept, dim=-1)[eos]))
    found = eos_probability(logits, eos, 0.7, top_k)
    assert found.shape == (6,)
    assert torch.allclose(found.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6), (found, expected)
    assert [float(eos_probability(row, eos, 0.7, top_k)) for row in logits] == pytest.approx(expected, abs=1e-6)
    assert found[0] == 0 and found[2] < 1e-6 and found[1] > 0
