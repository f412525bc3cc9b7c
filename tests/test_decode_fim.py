"""Fill-in-the-middle: the middle keeps prefix + middle viable, never holds a special
token, and may end only where prefix + middle + suffix parses (the compiler agrees on
spans cut from real npm files); bad input is refused with its line and column."""

from __future__ import annotations

import json
import random

import pytest
import torch

from elmgrammar.cli import main
from elmgrammar.decode.complete import complete
from elmgrammar.decode.fastmask import FastMasker
from elmgrammar.decode.fim import SuffixError, SuffixJudge, check_suffix, fim_prompt_ids
from elmgrammar.decode.matcher import Matcher
from elmgrammar.decode.models import load_model
from elmgrammar.decode.processor import ElmGrammarLogitsProcessor
from elmgrammar.decode.state import ElmParseState, PromptError
from elmgrammar.evaluate.fim_spans import fim_spans
from elmgrammar.finetune import default_model_path
from elmgrammar.finetune.fim import FimTokens, fim_ids, split_points


@pytest.fixture(scope="module")
def masker(vocab):
    return FastMasker(vocab)


@pytest.fixture(scope="module")
def spans(real_files):
    """Spans of every kind from the first real files that have them (small files first)."""
    found, kinds = [], set()
    for path in sorted(real_files, key=lambda p: (p.stat().st_size, str(p))):
        for span in fim_spans(path.read_text(encoding="utf-8"), path.name):
            if span.kind not in kinds:
                kinds.add(span.kind)
                found.append(span)
        if len(kinds) == 5:
            break
    return found


def test_allowed_ends_are_where_the_whole_file_parses_and_the_compiler_agrees(spans, tokenizer, masker, compiler):
    """Teacher-force each true middle: every true token is allowed, the end is allowed
    after it, and every place the middle may end gives a file the compiler parses."""
    assert len(spans) == 5
    ends = []
    for span in spans:
        judge = SuffixJudge(span.suffix, "module")
        m = Matcher(masker, "module", span.prefix, suffix_judge=judge)
        ids = tokenizer(span.middle, add_special_tokens=False)["input_ids"]
        for n, token_id in enumerate(ids):
            if m.is_accepting():
                ends.append(span.prefix + m.completion + span.suffix)
            elif n % 4 == 0:  # the end refused: the whole text does not parse
                assert not ElmParseState("module", span.prefix + m.completion + span.suffix).is_complete()
            assert m.consume_token(token_id), (span.kind, span.middle, n)
        assert m.is_accepting() and m.full_mask()[tokenizer.eos_token_id], span.kind
        ends.append(span.prefix + m.completion + span.suffix)
        assert judge.tail_parses <= 2  # the tail, parsed once per top-level state
    verdicts = compiler.check_many(ends)
    assert all(v.valid for v in verdicts), [v for v in verdicts if not v.valid]


def test_the_middle_never_holds_a_special_token(spans, tokenizer, vocab, masker):
    span = spans[0]
    m = Matcher(masker, "module", span.prefix, suffix_judge=SuffixJudge(span.suffix, "module"))
    specials = [i for i in vocab.special_ids if i != vocab.eos_id]
    fim = [tokenizer.convert_tokens_to_ids(t) for t in ("<fim_prefix>", "<fim_middle>", "<fim_suffix>")]
    assert set(fim) <= set(specials)
    for token_id in tokenizer(span.middle, add_special_tokens=False)["input_ids"][:6]:
        mask = m.full_mask()
        assert not mask[specials].any()
        assert not any(m.allowed(t) for t in fim)
        m.consume_token(token_id)


def test_the_prompt_is_laid_out_as_fine_tuning_writes_fim_examples(tokenizer):
    text = "view model =\n    div [] [ text model.name ]\n"
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    for spm in (False, True):
        rng = random.Random(7)
        i, j = split_points(text, random.Random(7))
        trained = fim_ids(text, encode, FimTokens.of(tokenizer), rng, spm=spm)
        prompt = fim_prompt_ids(tokenizer, text[:i], text[j:], "spm" if spm else "psm")
        assert trained == prompt + encode(text[i:j])


def test_a_middle_that_begins_a_declaration_before_the_imports_is_pruned(masker, tokenizer):
    prefix, suffix = "module Main exposing (..)\n\n", "\nimport Html\n\n\nmain =\n    Html.text \"\"\n"
    pruned = Matcher(masker, "module", prefix, suffix_judge=SuffixJudge(suffix, "module"))
    plain = Matcher(masker, "module", prefix, suffix_judge=SuffixJudge(suffix, "module", prune=False))
    x = tokenizer("x", add_special_tokens=False)["input_ids"]
    assert plain.validate_tokens(x) == 1 and pruned.validate_tokens(x) == 0
    assert not pruned.full_mask()[x[0]]
    imp = tokenizer("import Dict", add_special_tokens=False)["input_ids"]
    assert pruned.consume_tokens(imp) and pruned.is_accepting()


@pytest.mark.parametrize("suffix, place", [
    ("1\n\nview = )\n", "3:8: unexpected `)`"),
    ("1\n\nview =\n    [ 1\n", "4:8: the text ends inside an unfinished declaration"),
])
def test_a_suffix_no_middle_can_join_is_refused_with_its_line_and_column(suffix, place, tokenizer, vocab, masker):
    pattern = place.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    with pytest.raises(SuffixError, match=pattern):
        check_suffix(suffix)
    with pytest.raises(SuffixError, match=pattern):
        ElmGrammarLogitsProcessor(tokenizer, "x =", suffixes=suffix, vocab=vocab, masker=masker)


def test_suffixes_a_middle_can_still_join_are_accepted():
    for suffix in (") + 1\n", "\n    in\n    x\n", "1\n\nview = ) -}\n", "x\n"):
        check_suffix(suffix)  # an open bracket, a let, a comment the middle opens


def test_a_prefix_no_program_starts_with_is_refused(tokenizer, vocab, masker):
    with pytest.raises(PromptError, match="2:7"):
        ElmGrammarLogitsProcessor(tokenizer, "view =\n    f )", suffixes="\n", vocab=vocab, masker=masker)


@pytest.fixture(scope="module")
def default_model():
    return load_model(str(default_model_path()), device="cpu")


def test_constrained_middles_that_end_compile_with_prefix_and_suffix(spans, default_model, compiler):
    model, tokenizer = default_model
    results = complete(model, tokenizer, [s.prefix for s in spans], mode="module", suffix=[s.suffix for s in spans],
                       max_new_tokens=24, cut_to_end=True)
    ended = [(s, r) for s, r in zip(spans, results)
             if r.stop_reason in ("eos", "cut to end", "closed at eos", "closed at budget")]
    assert len(ended) == len(results)  # closing ends every middle within the budget
    for s, r in zip(spans, results):
        assert "<fim_" not in r.text and "<|endoftext|>" not in r.text
        assert ElmParseState("module", s.prefix + r.text).is_viable()
    for s, r in ended:
        assert r.complete
    verdicts = compiler.check_many([s.prefix + r.text + s.suffix for s, r in ended])
    assert all(v.valid for v in verdicts), [v for v in verdicts if not v.valid]


def test_a_middle_the_model_would_end_too_soon_is_closed_so_that_the_suffix_joins(tokenizer, vocab, masker):
    eos = tokenizer.eos_token_id
    processor = ElmGrammarLogitsProcessor(tokenizer, "f =\n    g (h [ 1 +", suffixes=" ] )\n", vocab=vocab,
                                          masker=masker, top_k=1, close=True)
    scores = torch.zeros((1, len(vocab)))
    scores[0, eos] = 10.0  # the model would end the middle at once
    ids, written = torch.zeros((1, 2), dtype=torch.long), []
    while not written or written[-1] != eos:
        out = processor(ids, scores)
        assert torch.isfinite(out[0]).sum() == 1
        written.append(int(out[0].argmax()))
        ids = torch.cat([ids, torch.tensor([written[-1:]])], dim=1)
    assert tokenizer.decode(written[:-1]) == " x"  # the operand the suffix cannot give


def test_generate_command_with_a_suffix(tmp_path, capsys):
    suffix_file = tmp_path / "after.elm"
    suffix_file.write_text("\n\nmain =\n    view 1\n", encoding="utf-8")
    assert main(["generate", "--prompt", "view x =\n    ", "--suffix-file", str(suffix_file), "--max-new-tokens", "6",
                 "--cut-to-end", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["suffix"] == suffix_file.read_text() and record["prompt"] == "view x =\n    "
    assert ElmParseState("declarations", record["prompt"] + record["text"]).is_viable()
    if record["stop_reason"] in ("eos", "cut to end"):
        assert record["complete"]


def test_generate_command_refuses_a_bad_suffix_before_loading(tmp_path, capsys):
    assert main(["generate", "--model", str(tmp_path / "none"), "--prompt", "x =", "--suffix", " 1\n\ny = ]\n"]) == 2
    err = capsys.readouterr().err
    assert "--suffix" in err and "3:5: unexpected `]`" in err and "Traceback" not in err
    assert main(["generate", "--prompt", "x =", "--suffix", "1", "--suffix-file", "f"]) == 2
    assert "not both" in capsys.readouterr().err


ELM = '''module Main exposing (main)


view : Int -> List String
view n =
    case n of
        0 ->
            []

        _ ->
            let
                half =
                    n // 2
            in
            String.fromInt half :: view (n - 1)


main =
    text (String.fromInt (1 + 2))
'''


def test_spans_of_every_kind_are_cut_from_the_syntax_tree():
    spans = fim_spans(ELM, "Main.elm")
    assert {s.kind: s.middle for s in spans} == {
        "expression": "(n - 1)",
        "case branch": "0 ->\n            []",
        "let block": "half =\n                    n // 2",
        "body line": "0 ->",
        "declaration body": "text (String.fromInt (1 + 2))",
    }
    assert all(s.prefix + s.middle + s.suffix == ELM for s in spans)
    assert fim_spans("x = )") == []


def test_evaluate_fim_writes_the_report(real_files, tmp_path, capsys):
    path = next(p for p in sorted(real_files, key=lambda p: p.stat().st_size) if len(fim_spans(p.read_text())) >= 2)
    assert main(["evaluate", "--fim", str(path), "--fim-spans", "2", "--max-new-tokens", "4", "--out", str(tmp_path),
                 "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the run without pruning only where pruning acts (an import span, the suffix holding imports)
    assert set(out["summary"]) - {"constrained, no pruning"} == {"unconstrained", "mask only", "constrained"}
    assert out["summary"]["constrained"]["all"]["n"] == 2
    assert out["summary"]["mask only"]["all"]["valid_of_ended"] in (None, 100.0)  # None: none ended
    records = json.loads((tmp_path / "fim.json").read_text())["records"]
    ended = [r for r in records if r["side"] in ("mask only", "constrained")
             and r["stop_reason"] in ("eos", "cut to end", "closed at eos", "closed at budget")]
    assert all(r["compiler_valid"] for r in ended)
    # closed by the grammar where the budget of 4 tokens would cut the middle off
    constrained = [r for r in records if r["side"] == "constrained"]
    assert out["summary"]["constrained"]["all"]["valid_of_ended"] == 100.0
    assert any(r["stop_reason"].startswith("closed") for r in constrained)
    assert "| span kind | side |" in (tmp_path / "fim.md").read_text()
