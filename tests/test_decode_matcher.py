"""The matcher's API with the real StarCoder2 tokenizer: consume, roll back, fork,
validate a draft, fill a packed bitmask, accept and stop where the program does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from elmgrammar.decode.exactness import compare, draw_states
from elmgrammar.decode.fastmask import FastMasker
from elmgrammar.decode.matcher import _KEEP, Matcher, allocate_bitmask, unpack_bitmask
from elmgrammar.decode.state import PromptError
from elmgrammar.decode.stopping import unit_end

PROGRAM = "module Main exposing (main)\n\n\nmain =\n    List.map (\\x -> x + 1) [ 1, 2 ]\n"
TWO = "view model =\n    text model.name\n\n\nupdate msg model =\n    model\n"


@pytest.fixture(scope="module")
def masker(vocab) -> FastMasker:
    return FastMasker(vocab)


def ids_of(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_tokens_of_a_valid_program_are_consumed_and_it_ends_accepting(tokenizer, masker):
    m = Matcher(masker, "module")
    ids = ids_of(tokenizer, PROGRAM)
    assert m.consume_tokens(ids)
    assert m.tokens == ids and m.completion == PROGRAM
    assert m.is_accepting() and not m.is_stopped()
    assert m.consume_token(tokenizer.eos_token_id)
    assert m.is_stopped()
    assert not m.consume_token(ids[0]) and not m.consume_token(tokenizer.eos_token_id)
    assert not m.full_mask().any()  # nothing after EOS


def test_a_refused_token_changes_nothing(tokenizer, masker):
    m = Matcher(masker, "declarations", prompt="x =")
    before = m.full_mask()
    bad = ids_of(tokenizer, " )")[0]
    assert not before[bad]
    assert not m.consume_token(bad)
    assert m.tokens == [] and np.array_equal(m.full_mask(), before)
    assert not m.consume_token(tokenizer.eos_token_id)  # `x =` is no whole program
    assert not m.is_accepting()


def test_rollback_returns_to_the_earlier_state(tokenizer, masker):
    m = Matcher(masker, "module")
    ids = ids_of(tokenizer, PROGRAM)
    m.consume_tokens(ids[:10])
    mask10 = m.full_mask()
    m.consume_tokens(ids[10:])
    m.rollback(len(ids) - 10)
    assert m.tokens == ids[:10]
    assert np.array_equal(m.full_mask(), mask10)
    with pytest.raises(ValueError):
        m.rollback(11)


def test_a_long_text_keeps_few_states_and_rolls_back_far(real_files, tokenizer, masker):
    """A state holds the whole text so far: the matcher keeps the recent ones and a
    checkpoint now and then (memory linear, not quadratic, in the tokens), and a
    rollback past them replays from the nearest checkpoint."""
    text = max((p.read_text(encoding="utf-8") for p in real_files), key=len)
    ids = ids_of(tokenizer, text)
    assert len(ids) > 4 * _KEEP
    m = Matcher(masker, "module")
    assert m.consume_tokens(ids) and m.is_accepting()
    kept = sum(step.state is not None for step in m._steps)
    assert kept <= _KEEP + len(ids) // _KEEP + 2
    back = len(ids) - 3 * _KEEP // 2 - 7  # to a step whose state was thinned out
    m.rollback(len(ids) - back)
    fresh = Matcher(masker, "module")
    fresh.consume_tokens(ids[:back])
    assert m.tokens == ids[:back] and m.state.text == fresh.state.text
    assert np.array_equal(m.full_mask(), fresh.full_mask())
    assert m.consume_tokens(ids[back:]) and m.is_accepting() and m.state.text == text


def test_a_fork_goes_its_own_way(tokenizer, masker):
    m = Matcher(masker, "declarations", prompt="x =")
    fork = m.fork()
    assert fork.consume_tokens(ids_of(tokenizer, " 1"))
    assert m.tokens == [] and fork.completion == " 1"
    assert fork.is_accepting() and not m.is_accepting()


def test_validate_tokens_counts_the_accepted_part_of_a_draft_and_consumes_nothing(tokenizer, masker):
    m = Matcher(masker, "declarations", prompt="x =")
    good = ids_of(tokenizer, " f (a, b)")
    bad = ids_of(tokenizer, " )")
    assert m.validate_tokens(good) == len(good)
    assert m.validate_tokens(good + bad + good) == len(good)
    assert m.tokens == []
    assert m.allowed(good[0]) and not m.allowed(bad[0])


def test_fill_bitmask_packs_the_full_mask(tokenizer, masker):
    m = Matcher(masker, "declarations", prompt="view model =\n    case model of\n        ")
    mask = m.full_mask()
    bitmask = allocate_bitmask(3, m.vocab_size)
    assert bitmask.shape == (3, (m.vocab_size + 31) // 32) and bitmask.dtype == np.int32
    m.fill_bitmask(bitmask, 1)
    assert np.array_equal(unpack_bitmask(bitmask[1], m.vocab_size), mask)
    assert not bitmask[0].any() and not bitmask[2].any()
    for t in np.flatnonzero(mask)[:50].tolist():  # bit t % 32 of word t // 32
        assert (int(bitmask[1, t // 32]) >> (t % 32)) & 1
    # a torch tensor (vLLM's, wider than the vocabulary): the same bits, the rest cleared
    wide = torch.full((2, bitmask.shape[1] + 2), -1, dtype=torch.int32)
    m.fill_bitmask(wide, 0)
    assert np.array_equal(wide[0, :bitmask.shape[1]].numpy(), bitmask[1])
    assert not wide[0, bitmask.shape[1]:].any() and (wide[1] == -1).all()


def test_special_tokens_never_and_eos_only_where_the_program_is_whole(tokenizer, masker):
    m = Matcher(masker, "declarations", prompt="x = 1")
    mask = m.full_mask()
    assert mask[tokenizer.eos_token_id]
    fim = tokenizer.convert_tokens_to_ids("<fim_middle>")
    assert not mask[fim] and not m.consume_token(fim)
    m.consume_tokens(ids_of(tokenizer, " +"))
    assert not m.full_mask()[tokenizer.eos_token_id]


def test_a_dead_end_is_a_state_that_offers_eos_alone(tokenizer, masker):
    m = Matcher(masker, "declarations", prompt="x = )", strict=False)
    mask = m.full_mask()
    assert np.flatnonzero(mask).tolist() == [tokenizer.eos_token_id]
    assert not m.consume_token(ids_of(tokenizer, "1")[0])


def test_a_prompt_no_program_starts_with_is_refused_with_its_place(masker):
    with pytest.raises(PromptError, match="2:5"):
        Matcher(masker, "declarations", prompt="x =\n    )")


def test_the_unit_rule_stops_at_the_next_top_level_item(tokenizer, masker):
    prompt, rest = TWO[:len("view model =")], TWO[len("view model ="):]
    m = Matcher(masker, "declarations", prompt=prompt, stop_at_unit_end=True)
    ids = ids_of(tokenizer, rest)
    taken = 0
    for t in ids:
        if m.is_stopped():
            break
        assert m.consume_token(t)
        taken += 1
    assert m.is_stopped() and taken < len(ids)
    assert m.unit_end == unit_end(prompt, m.completion) == len("\n    text model.name")
    assert np.flatnonzero(m.full_mask()).tolist() == [tokenizer.eos_token_id]


def test_the_bitmask_equals_the_one_by_one_judgement_on_random_states(real_files, tokenizer, masker):
    """The property `elmgrammar bench exact` sweeps over many states, on a few."""
    states = draw_states(real_files, tokenizer, 12, seed=1, masker=masker)
    assert sum(s.mutant is not None for s in states) >= 3
    result = compare(masker, states)
    assert result.states == 12
    assert result.mismatches == []
