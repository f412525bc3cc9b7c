"""The llguidance baseline of `bench mask`: its Elm CFG approximation and its timings."""

from __future__ import annotations

import pytest

llguidance = pytest.importorskip(
    "llguidance", reason="llguidance is an optional benchmark baseline (pip install llguidance==1.9.1)")

from elmgrammar.decode.baselines import elm_cfg, llguidance_times  # noqa: E402


@pytest.fixture(scope="module")
def matcher_for(tokenizer):
    """A function: Elm text -> (every token consumed, accepting at the end)."""
    import llguidance.hf

    lltok = llguidance.hf.from_tokenizer(tokenizer)
    grammar = llguidance.LLMatcher.grammar_from_lark(elm_cfg())

    def run(text: str) -> tuple[bool, bool]:
        matcher = llguidance.LLMatcher(lltok, grammar, log_level=0)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        consumed = all(matcher.consume_token(t) for t in ids)
        return consumed, consumed and matcher.is_accepting()

    return run


def test_grammar_is_valid_for_llguidance(tokenizer):
    import llguidance.hf

    grammar = llguidance.LLMatcher.grammar_from_lark(elm_cfg())
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(
        grammar, llguidance.hf.from_tokenizer(tokenizer))
    assert not is_error, messages


def test_accepts_valid_elm(matcher_for):
    snippet = (
        "module Main exposing (main, Msg(..))\n\n"
        "import Html exposing (Html)\n\n"
        "{-| A {- nested -} doc comment. -}\n"
        "type Msg\n    = Inc\n    | Set Int\n\n\n"
        "main : Html msg\n"
        "main =\n"
        "    let\n        n = List.sum [ 1, 2 ] -- two\n        ( a, b ) = ( n, -1 )\n    in\n"
        "    case Just n of\n        Just x ->\n            Html.text (String.fromInt (x + a * b))\n\n"
        "        Nothing ->\n            Html.text \"\"\"none\"\"\"\n"
    )
    assert matcher_for(snippet) == (True, True)


@pytest.mark.parametrize("text", [
    "f x = = 1\n",            # two equals
    "x = [ 1, 2,, 3 ]\n",     # an empty list element
    "if = 1\n",               # a keyword as a name
    "x = 'ab'\n",             # a character literal of two characters
])
def test_rejects_invalid_elm(matcher_for, text):
    consumed, _ = matcher_for(text)
    assert not consumed


def test_incomplete_program_is_not_accepting(matcher_for):
    assert matcher_for("x = (1, 2\n") == (True, False)


def test_times_two_real_files(tokenizer, real_files):
    small = sorted(real_files, key=lambda p: p.stat().st_size)[:2]
    run = llguidance_times(tokenizer, small)
    assert run.files == 2 and run.accepted == 2 and not run.rejected
    assert run.positions == len(run.times) > 0
    assert all(t > 0 for t in run.times)
    assert run.setup_s > 0
