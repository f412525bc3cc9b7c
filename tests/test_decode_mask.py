"""The grammar mask with the real StarCoder2 tokenizer: sound, exact, and right about EOS."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from elmgrammar import ElmSyntaxError, parse_module
from elmgrammar.cli import main
from elmgrammar.decode.fastmask import FastMasker, VocabIndex
from elmgrammar.decode.vocab import Vocab
from elmgrammar.decode.vocab_index import MULTI, cached_index, index_key
from elmgrammar.decode.masks import Masker
from elmgrammar.decode.memo import MaskMemo
from elmgrammar.decode.models import load_tokenizer
from elmgrammar.decode.replay import replay_file, replay_ids, retokenized
from elmgrammar.decode.state import ElmParseState
from elmgrammar.mutants import mutants
from elmgrammar.starcoder2 import starcoder2_path


@pytest.fixture(scope="module")
def masker(vocab) -> FastMasker:
    return FastMasker(vocab, VocabIndex(vocab))


def test_every_true_token_of_every_real_file_is_allowed(real_files, tokenizer, masker):
    """Soundness by teacher forcing: the true next token is never masked, and EOS
    is allowed at the end."""
    failures = []
    positions = 0
    for path in real_files:
        result = replay_file(masker, tokenizer, path, full=False)
        positions += result.tokens
        if result.rejected or not result.eos_ok:
            failures.append((path.name, result.rejected[:3], result.eos_ok))
    print(f"{len(real_files)} files, {positions} positions, failures: {failures}")
    assert positions > 300_000
    assert failures == []


def test_text_that_spells_a_special_token_replays_as_text(tokenizer, masker, tmp_path):
    """StarCoder2's `<NAME>` is a special token; in a string it is text (the replay
    tokenizes as a model must write it, special tokens split)."""
    path = tmp_path / "Names.elm"
    path.write_text('module Names exposing (x)\n\n\nx =\n    "--name <NAME> <EMAIL>"\n', encoding="utf-8")
    result = replay_file(masker, tokenizer, path)
    assert result.rejected == [] and result.eos_ok
    assert result.tokens > 10


def test_other_tokenizations_of_the_same_text_are_allowed(real_files, tokenizer, masker):
    rng = np.random.default_rng(0)
    failures = []
    for path in real_files[::5]:
        ids = retokenized(tokenizer, path.read_text(encoding="utf-8"), rng, pieces=40)
        result = replay_ids(masker, ids, str(path), full=False)
        if result.rejected or not result.eos_ok:
            failures.append((path.name, result.rejected[:3]))
    assert failures == []


def test_the_full_mask_allows_the_true_tokens_and_eos_only_when_complete(real_files, tokenizer, masker):
    small = sorted(real_files, key=lambda p: p.stat().st_size)[:6]
    for path in small:
        result = replay_file(masker, tokenizer, path, full=True)
        assert result.rejected == [] and result.eos_ok, path


def test_complete_means_the_parser_accepts(real_files):
    """EOS is offered iff the text parses: checked on prefixes of real files and of
    their mutants (which are mostly broken)."""
    rng = random.Random(0)
    disagreements = []
    complete = 0
    for path in real_files[::3]:
        text = path.read_text(encoding="utf-8")
        for candidate in [text] + [m.text for m in mutants(text, per_kind=1)]:
            for cut in [len(candidate)] + [rng.randrange(len(candidate)) for _ in range(2)]:
                prefix = candidate[:cut]
                try:
                    parse_module(prefix)
                    parses = True
                except ElmSyntaxError:
                    parses = False
                complete += parses
                if ElmParseState("module", prefix).is_complete() != parses:
                    disagreements.append((path.name, cut))
    assert complete > 50 and disagreements == []


# States that exercise every branch of the fast mask: names, keywords in the
# making, qualified names, operators, strings, comments, characters, layout.
TRICKY_PREFIXES = [
    "", "view model =", "view model =\n    text model.na", "x =\n    let\n        y = 1\n    i",
    "x = Html.", "x = Html", "x = a |", "x = a -", "x = f -", "x = \"abc", "x = \"", "x = \"\"\"multi\nline",
    "x = 1 -- comment", "x = {- block", "x = {", "{-| doc", "x = '", "x = [gl", "x = 12", "x = 1.",
    "f : Int\nf", "f : Int\n", "type al", "infix left 0 (|>) = apR\ny = f .", "import A as", "x = r.",
    "module A exposing (B(..", "x =\n    case a of\n        A -> 1\n        ", "x = Maybe.Just.", "x = _",
    "x = f 12", "x = 0", "x = 1e", "x = 1.5.", "x = 1e3.", "x = 0x1F.", "x = 0x", "x = [0x1F",
    "infix", "infix left 0 (|>) = apR\ninfix", "x = [ 1 ] ++ [", "x = f '", "x = 'a", "x = 01", "x = 0x1", "x = 1 ",
    'x = """a"', 'x = """a""', 'x = """a\\"', 'x = """a\\""', 'x = """a\\', 'x = """a\\u{12', 'x = """a\\\\',
    'x =\n    [ """a\n  b', 'x = f """""', 'x = "a\\', 'x = "a\\u', 'x = "a\\u{12', "x = '\\u{1",
    "x = '\\", "x = f '\\", "x = '\\'", "x = '\\n", "x = '\\\\", "x = '\\u", "x = '\\u{1F60", "x = '\\u{1F600}",
    "x = Review", "x : Json", "x = Html.Attr", "type alias A = Maybe", "import Json", "x = f Maybe.Just",
    "x = a {-", "x = 1\n\n{-", "x = [ Review", "x = Review.Rule", "x : Node", "x = Node.wild", "x : Node.Wild",
    # definitions whose annotation awaits a name that starts like the names the
    # judges stand in for any name
    "x : Int\n", "x : Int\nx", "xs : List Int\nx", "xs : List Int\n", "yx : Int\ny", "x中 : Int\nx",
    "x =\n    let\n        xy : Int\n        x",
    # names past ASCII (`Été`, `café`; `ǅ` is title case: it starts a type)
    "x = Été", "x = é", "x = Html.É", "x = Été.", "x = r.é", "x = .é", "type T = Ǆ", "x = ǅ", "x = aé", "café : Int\ncaf",
    # the compiler's readings: `( )` only in patterns, `infix` a name once a declaration
    # has begun, no operator that starts with a dot but `(.->)`, digits after a number's dot
    "x = (", "x = ( ", "x = ({- c -}", "x =\n    case a of\n        ( ", "x = 1\n", "x = 1\ninf", "inf",
    "x = a .", "x = (.", "x = (..", "x = 2.",
    # judged by class after a stand-in: an escape then string text, a reserved
    # operator then what follows, a comment opened by `-` or `{-`, a field of a
    # qualified name; the same places at other indentations and nestings
    'x =\n    ( "a\\', 'x =\n    [ """a\n\\', "x = a :", "x : { a :", "x = [ a ] ++ b -", "x = f {", "x = { a |",
    "x =\n    case a of\n        b -> Node.value", "x =\n  let\n    y = a :", "x =\n        let\n            y =\n                [ a",
    "x =\n  let\n    y =\n      [ a", "x =\n  ( let\n      y = f\n    in\n    [ a",
    # inside annotations that await other names (the verdicts are shared between
    # them: the names' values never decide one)
    "foo : Int -> ", "bar : Int -> ", "x : Int -> ", "y : ( Int, ", "xs : Maybe", "x : Int\nx =\n    let\n        foo : Int ->",
    "x : Int\nx =\n    let\n        y : Int ->", "x =\n    let\n        x : ( Int, ",
    # the same places inside other brackets and blocks (the layout's stack is
    # compared as far as a verdict read it)
    "x =\n    ( [ a", "x =\n    [ ( a", "x =\n    { b = ( a", "x =\n    ( case a of\n        b -> [ c",
    "x =\n    [ case a of\n        b -> ( c", "x =\n    if ( a", "x =\n    if a then ( b", "x =\n    ( let\n        y = [ a",
    # the next part of a qualified name, which may go on past a dot (`Html.` +
    # `Attributes.`, `Attr.x)`, `text.x`), where names, types and patterns stand
    "x = A.B.", "import Html.", "x : Html.", "x : { a : Html.", "x = ( Html.", "x =\n    case a of\n        Node.",
    "x = a |> Html.", "x =\n    [ Html.", "type X = A Html.",
    # inside block comments, nested or not: an entry that closes the last one open
    # goes on as code
    "{- a", "x = 1 {- a {- b", "x =\n    {- b -} 1 {- c", "x = 1 {- {- {- a -} -}", "x = [ 1 {- a",
    "x = 1\n{- a -", "{- a {-", "{- {- a -", "{--", "{- {- a {", "{-{", "x = 1 {- a -- b -",
    # after a whole number, where a dot may only begin its fraction
    "x = f 1", "x = [ 1", "x =\n    ( 10", "x = -1", "x = a-1", "x = 0", "x = { a = 7",
    # after a float or a hex number a dot ends it; an exponent goes on with digits
    # (or a sign); `0` + `x` and hex digits is a hex number in the making
    "x = 1.5", "x = [ 3.14", "x = f 2.5e10", "x = ( 1e3", "x = { a = 0.5", "x = 0x1F", "x = [ 0xFF",
    "x = f 1e", "x = [ 1.5e-", "x = ( 2E+", "x = 1E", "x = [ 0", "x = ( 0", "x = f 0", "x = a 0",
    "x = 0.5\n    |> f 1.5e",
    # inside `\u{...}`: hex digits while they may make a code point (4 to 6, at most
    # 10FFFF); `}` closes it, and in a string what follows is string text
    'x = "\\u{', 'x = f "a\\u{1F60', 'x = [ "\\u{1F600', 'x = "\\u{10FFF', 'x = "\\u{10FFFF', 'x = "\\u{FFFFF',
    'x = "\\u{0', 'x = "\\u{2028', 'x = """a\\u{1F6', 'x =\n    """\\u{1F600', 'x = ( "\\u', 'x = """\\u',
    "x = '\\u{", "x = [ '\\u{1F60", "x = '\\u{1F600", "x = f '\\u{E9", "x = [ '\\u{00E9", "x = ( '\\u{10FFFF",
    "x = '\\u{12",
    # `-` + `}` closes the last block comment open: what follows is code
    "{- a -", "x = 1 {- a -", "x =\n    f {- a {- b -} -", "{-| doc -", "x = 1\n\n{-| doc -", "x = [ 1 {- -",
    "module A exposing (..)\n{-| doc -", "x = ( a {--",
]


@pytest.mark.parametrize("prefix", TRICKY_PREFIXES)
def test_fast_full_mask_equals_the_one_by_one_mask(prefix, vocab, masker):
    state = ElmParseState("declarations", prefix)
    fast = masker.full_mask(state)
    slow = Masker(vocab).full_mask(state)
    diff = np.flatnonzero(fast != slow)
    assert diff.tolist() == [], [(masker.index.texts[i], bool(slow[i])) for i in diff[:10]]


def test_the_compiled_judge_is_built(masker):
    """The C core of the class judge builds with the package (it is optional, so
    that an install without a compiler still works, slower): here it must be."""
    assert masker._spelled.core is not None


def test_the_compiled_and_the_python_judge_give_the_same_masks(real_files, tokenizer, vocab, masker):
    """Teacher-forced through real files and mutants, the full mask with the class
    judge's feeding compiled equals the one with the Python machines, at every
    position: the verdicts and how far down the stacks they read (which decides
    where later masks reuse them) are the same."""
    python = FastMasker(vocab, masker.index, compiled=False)
    compiled = FastMasker(vocab, masker.index)
    rng = random.Random(3)
    texts = [path.read_text() for path in rng.sample(real_files, 4)]
    texts += [rng.choice(mutants(text, per_kind=1)).text for text in texts[:2]]
    for text in texts:
        state = ElmParseState("module")
        for i, tok in enumerate(tokenizer(text, add_special_tokens=False)["input_ids"][:1500]):
            expected = python.full_mask(state)
            got = compiled.full_mask(state)
            assert np.array_equal(got, expected), (text[:80], i, np.flatnonzero(got != expected)[:10])
            if not state.advance_bytes(vocab.pieces[tok] or b""):
                break


def test_a_remembered_mask_is_the_mask_worked_out_afresh(real_files, tokenizer, vocab, masker):
    """Masks are remembered by the part of the state they depend on (``context_key``
    and the stack suffix they read): teacher-forced through real files, every mask
    the memo gives equals the one worked out without it."""
    remembering = FastMasker(vocab, masker.index)
    afresh = FastMasker(vocab, masker.index)
    afresh.memo = MaskMemo(capacity=0)
    for path in random.Random(5).sample(real_files, 4):
        state = ElmParseState("module")
        for i, tok in enumerate(tokenizer(path.read_text(), add_special_tokens=False)["input_ids"][:1500]):
            got = remembering.full_mask(state)
            expected = afresh.full_mask(state)
            assert np.array_equal(got, expected), (path.name, i, state.text[-60:], np.flatnonzero(got != expected)[:10])
            assert state.advance_bytes(vocab.pieces[tok] or b"")
    assert remembering.memo.hits > 100


def test_a_mask_among_some_entries_judges_them_as_the_full_mask(vocab, masker):
    """``full_mask(state, among)`` (the lazy path's second stage) equals the full
    mask on the selected entries, and allows nothing else."""
    rng = np.random.default_rng(0)
    states = [ElmParseState("declarations", prefix) for prefix in TRICKY_PREFIXES]
    unfinished = ElmParseState("declarations")  # bytes of a character still to come
    assert unfinished.advance_bytes('x = "\u2713'.encode()[:-1])
    for state in states + [unfinished]:
        full = masker.full_mask(state)
        for size in (1, 300, 5000):
            among = np.zeros(len(vocab), dtype=bool)
            among[rng.choice(len(vocab), size, replace=False)] = True
            among[rng.choice(np.flatnonzero(full), min(5, int(full.sum())), replace=False)] = True
            assert np.array_equal(masker.full_mask(state, among), full & among), (state.text, size)


def test_an_unfinished_character_is_allowed_only_where_some_completion_is(vocab, masker):
    # b"\xe2\x9c" only completes to dingbats (U+2700-U+273F): symbols, which cannot
    # continue a name; b"\xc3" completes to letters too (é continues a name)
    dingbat, latin = vocab.pieces.index(b"\xe2\x9c"), vocab.pieces.index(b"\xc3")
    slow = Masker(vocab)
    cases = [("x = VR", dingbat, False), ('x = "VR', dingbat, True), ("x = -- VR", dingbat, True),
             ("x = ab", latin, True), ("x = 1", latin, False)]
    for prefix, token, allowed in cases:
        state = ElmParseState("declarations", prefix)
        assert slow.allowed(state, token) == allowed, prefix
        assert masker.full_mask(state)[token] == allowed, prefix
        if allowed:  # and the character can then be finished: no dead end
            after = state.copy()
            after.advance_bytes(vocab.pieces[token])
            fast = masker.full_mask(after)
            assert fast.any() and np.array_equal(fast, slow.full_mask(after)), prefix


def test_a_split_character_of_a_name_an_annotation_awaits_is_judged_by_itself(vocab, masker):
    """A definition repeats its annotation's name exactly, so there the character a
    piece leaves unfinished counts, not just its class: `café : Int` then `caf` +
    the first byte of é is viable (é finishes the name), as is `x中 : Int` then `x`
    + the first two bytes of 中, though other characters of their classes do not fit."""
    slow = Masker(vocab)
    for prefix, first, last, other in (("café : Int\ncaf", b"\xc3", b"\xa9", "à"),
                                       ("x中 : Int\nx", b"\xe4\xb8", b"\xad", "一")):
        start, finish = vocab.pieces.index(first), vocab.pieces.index(last)
        state = ElmParseState("declarations", prefix)
        assert not state.copy().advance(other), prefix
        assert slow.allowed(state, start) and masker.full_mask(state)[start], prefix
        after = state.copy()
        assert after.advance_bytes(first)
        fast = masker.full_mask(after)
        assert fast[finish] and np.array_equal(fast, slow.full_mask(after)), prefix
        assert after.advance_bytes(last) and after.advance(" = 1") and after.is_complete(), prefix


# A state inside a character (its first bytes appended), for each way a character
# can be cut: its lead byte of two, three or four; the first two of three or four.
UNFINISHED = [("x = ab", "é", 1), ('x = "', "中", 1), ("x = ab", "中", 2), ("x = 1 + a", "中", 2),
              ('x = "a', "😀", 1), ("x = a", "𝐀", 2), ("x = '", "😀", 3), ("x = -- ", "✓", 2),
              ("café : Int\ncaf", "é", 1), ("x中 : Int\nx", "中", 2), ("type A = B", "é", 1),
              ("x = ", "é", 1), ("x = Html.", "É", 1), ("x = ", "ǅ", 1), ("x = f 1 ", "é", 1)]


@pytest.mark.parametrize("prefix,char,cut", UNFINISHED)
def test_the_pieces_after_an_unfinished_character_are_judged_as_one_by_one(prefix, char, cut, vocab, masker):
    """After a piece that ends inside a character, the pieces that go on with it
    are judged in groups (alike completed character, same text after it): the
    mask equals the one-by-one mask, also among a selection."""
    state = ElmParseState("declarations", prefix)
    assert state.advance_bytes(char.encode()[:cut])
    fast = masker.full_mask(state)
    slow = Masker(vocab).full_mask(state)
    diff = np.flatnonzero(fast != slow)
    assert diff.tolist() == [], [(vocab.pieces[i], bool(slow[i])) for i in diff[:10]]
    assert fast.any() or not state.is_viable()
    among = np.zeros(len(vocab), dtype=bool)
    among[np.random.default_rng(cut).choice(len(vocab), 20_000, replace=False)] = True
    assert np.array_equal(masker.full_mask(state, among), fast & among)


def test_a_qualified_name_with_a_lower_case_last_part_is_no_type(vocab, masker):
    # `init : Node.name` can never become a type: the mask must refuse `name` after
    # `Node.` there (it once let a model into that dead end), and allow it in an expression
    token = vocab.pieces.index(b"name")
    for prefix, allowed in (("init : Node.", False), ("init = Node.", True), ("init : List Node.", False),
                            ("init : Maybe.Node.", False), ("init = f Node.", True)):
        state = ElmParseState("declarations", prefix)
        assert Masker(vocab).allowed(state, token) == allowed, prefix
        assert masker.full_mask(state)[token] == allowed, prefix


@pytest.mark.parametrize("literal", ["'\\u{", '"a\\u{', '"""a\\u{'], ids=["char", "string", "multi-line"])
def test_a_code_point_escape_past_the_last_code_point_is_not_viable(literal, vocab, masker):
    """`\\u{110000}` and above is an error once the literal closes: six digits past
    10FFFF are already a dead end (found by random walks: `'\\u{ccbdbd}` then nothing)."""
    for digits, viable in (("10FFFF", True), ("FFFFF", True), ("110000", False), ("ccbdbd", False)):
        state = ElmParseState("declarations", "x = " + literal + digits)
        assert state.is_viable() == viable, digits
        if viable:
            assert masker.full_mask(state).any(), digits
    closed = ElmParseState("declarations", "x = " + literal + "10FFFF}")
    assert closed.is_viable() and masker.full_mask(closed).any()
    assert not ElmParseState("declarations", "x = " + literal + "110000}").is_viable()


def test_random_walks_reach_no_dead_end_and_the_masks_agree(vocab, masker):
    """Walk by allowed tokens picked at random (a third from the whole vocabulary,
    the rest from ASCII pieces so that walks go deep into the syntax): every state
    reached allows something, and the fast mask equals the one-by-one mask."""
    rng = random.Random(7)
    slow = Masker(vocab)
    ascii_pieces = np.array([p is not None and p.isascii() for p in vocab.pieces])
    prompts = ["main =", "view : Model -> Html Msg\nview model =", "type Msg\n    =", "x =\n    case m of\n"]
    for walk in range(8):
        state = ElmParseState("declarations", prompts[walk % len(prompts)])
        for step in range(30):
            mask = masker.full_mask(state)
            assert mask.any(), f"dead end after {state.text!r}"
            if step % 10 == 9:
                diff = np.flatnonzero(mask != slow.full_mask(state))
                assert diff.tolist() == [], (state.text, [(vocab.pieces[i], bool(mask[i])) for i in diff[:10]])
            pool = np.flatnonzero(mask if rng.random() < 1 / 3 else mask & ascii_pieces)
            token = int(rng.choice(pool if len(pool) else np.flatnonzero(mask)))
            if token == vocab.eos_id:
                break
            assert state.advance_bytes(vocab.pieces[token]), state.text


def test_special_tokens_are_never_allowed_and_eos_only_when_complete(vocab, masker):
    incomplete = ElmParseState("declarations", "view model =")
    complete = ElmParseState("declarations", "view model = 1")
    for state, eos in ((incomplete, False), (complete, True)):
        mask = masker.full_mask(state)
        assert mask[vocab.eos_id] == eos
        others = [i for i in vocab.special_ids if i != vocab.eos_id]
        assert others and not mask[others].any()


@pytest.mark.parametrize("content", [b"\x80\x05\x95", b"cno_such_module\nVocabIndex\n.", b"(dp0\n."],
                         ids=["cut short", "another code layout", "not an index"])
def test_an_unreadable_index_cache_is_rebuilt(content, vocab, tmp_path):
    path = tmp_path / f"{index_key(vocab)}.pickle"
    path.write_bytes(content)
    index = cached_index(vocab, tmp_path)
    assert isinstance(index, VocabIndex) and index.size >= len(vocab)
    assert isinstance(cached_index(vocab, tmp_path), VocabIndex) and path.read_bytes() != content


def test_replay_command_json(real_files, tokenizer_dir, capsys):
    small = sorted(real_files, key=lambda p: p.stat().st_size)[:2]
    assert main(["replay", "--json", "--tokenizer", str(tokenizer_dir), *map(str, small)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert set(line) == {"path", "tokens", "rejected", "eos_ok", "full_ms", "lazy_ms"}
        assert line["rejected"] == 0 and line["eos_ok"] and line["tokens"] > 0
        assert set(line["full_ms"]) >= {"median", "p90", "p99", "max"}


def test_the_name_starcoder2_is_the_tokenizer_shipped_with_the_package(real_files, capsys):
    tokenizer = load_tokenizer("starcoder2")
    assert len(tokenizer) == 49_152
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<fim_prefix>", "<fim_middle>",
                                                         "<fim_suffix>")] == [0, 1, 2, 3]
    assert (starcoder2_path() / "config.json").is_file()
    # the command line's default and its name for it
    small = min(real_files, key=lambda p: p.stat().st_size)
    assert main(["replay", "--json", "--tokenizer", "starcoder2", str(small)]) == 0
    named = json.loads(capsys.readouterr().out)
    assert main(["replay", "--json", str(small)]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == named["tokens"] > 0 and named["rejected"] == 0


def test_an_entry_ending_in_a_lexeme_that_may_be_several_tokens_is_judged_one_by_one(tmp_path):
    """`` [gl`` may open ``[glsl|`` or be ``[`` and a name: its class does not spell
    out tokens, and its entries are judged one by one."""
    pieces = (b"x", b" =", b" [", b" [gl", b"sl|", b" f", b" 1", b"\n", b"]", None)
    vocab = Vocab(pieces, len(pieces) - 1, frozenset({len(pieces) - 1}), "opaque-class-test")
    fast = FastMasker(vocab, cache_dir=tmp_path)
    assert any(c[0] == MULTI and len(c) == 2 for c in fast.index.classes)
    slow = Masker(vocab)
    for prefix in ("x =", "x = f", "x =\n    [ 1", "x = [ [ 1 ]"):
        state = ElmParseState("declarations", prefix)
        assert fast.full_mask(state).tolist() == slow.full_mask(state).tolist(), prefix
