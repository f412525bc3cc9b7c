"""The lexer and layout run incrementally: text fed in any pieces gives the same tokens."""

from __future__ import annotations

import random

import pytest

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.layout import Layout
from elmgrammar.lexer import Lexer, make_token
from elmgrammar.parser import layout_tokens


def _key(tokens):
    return [(t.type, t.value, t.start_pos, t.line, t.column, t.end_line, t.end_column) for t in tokens]


def _pieces(text: str, rng: random.Random):
    i = 0
    while i < len(text):
        n = rng.choice([1, 1, 2, 3, 5, 8, 20])
        yield text[i:i + n]
        i += n


def test_feeding_pieces_gives_the_same_tokens_on_real_files(real_files):
    for path in real_files:
        text = path.read_text(encoding="utf-8")
        whole = _key(Lexer().tokenize(text))
        rng = random.Random(str(path.name))
        lexer = Lexer()
        tokens = []
        for piece in _pieces(text, rng):
            tokens += lexer.feed(piece)
            if rng.random() < 0.05:
                lexer = lexer.copy()  # a copy carries on exactly where the original was
        tokens += lexer.finish()
        assert _key(tokens) == whole, path


def test_lexemes_split_anywhere():
    text = 'view model = Html.text (String.fromInt model.count) -- c\n    |> f """a"b""" -1 [glsl| x |] {- c -} 0x1F 1.5e-3'
    whole = _key(Lexer().tokenize(text))
    for cut in range(1, len(text)):
        lexer = Lexer()
        assert _key(lexer.feed(text[:cut]) + lexer.feed(text[cut:]) + lexer.finish()) == whole, cut


def test_pending_lexeme_is_held_back():
    lexer = Lexer()
    assert [t.value for t in lexer.feed("x = Html.")] == ["x", "="]
    assert lexer.pending == "Html."
    assert [t.type for t in lexer.feed("text")] == []
    assert [t.type for t in lexer.finish()] == ["QLOWER"]


def test_a_lexer_copy_carries_every_field_and_goes_on_alone():
    lexer = Lexer(keep_comments=True)
    lexer.feed('x = {- a -} "abc')
    fork = lexer.copy()
    assert all(getattr(fork, name) == getattr(lexer, name) for name in Lexer.__slots__)
    assert [t.type for t in fork.feed('"') + fork.finish()] == ["STRING"]
    assert lexer.pending == '"abc' and len(lexer.comments) == 1
    fork.feed(" -- b\n")
    assert len(fork.comments) == 2 and len(lexer.comments) == 1


def test_layout_copy_is_independent():
    tokens = Lexer().tokenize("x =\n    case a of\n        A -> 1\n        B -> 2\n")
    layout = Layout()
    for t in tokens[:6]:
        layout.process(t)
    fork = layout.copy()
    rest_a = [v.type for t in tokens[6:] for v in layout.process(t)]
    rest_b = [v.type for t in tokens[6:] for v in fork.process(t)]
    assert rest_a == rest_b and "_SEP" in rest_a
    assert [t.type for t in layout_tokens("x = 1\ny = 2\n")] == ["_D", "LOWER", "EQUALS", "INT", "_D", "LOWER", "EQUALS", "INT"]


def _outcome(lexer: Lexer, piece: str, earlier: list | None = None) -> tuple:
    """What feeding ``piece`` gives: every token so far (``earlier`` ones first),
    then what the held-back lexeme may become (as the decoder asks after every
    model token); or the error."""
    try:
        tokens = (earlier or []) + _key(lexer.feed(piece))
    except ElmSyntaxError as e:
        return ("error", str(e))
    alternatives = lexer.pending_candidates()
    return (tokens, None if alternatives is None else [[t.type for t in seq] for seq in alternatives])


@pytest.mark.parametrize("opening", ['x = "', 'x = """', "x = 1\n{- ", "x = 1\n{-| "])
def test_long_literals_fed_in_pieces_are_judged_as_if_fed_whole(opening):
    """A held-back string or comment is not scanned again from its start at every
    piece (that made decoding quadratic): the judgement must not change for it."""
    rng = random.Random(opening)
    alphabet = ["a", " ", "\\", '"', "u", "{", "}", "1", "F", "0", "n", "'", "-", "\n", "x", "\\u{", "-}", "{-"]
    for _ in range(40):
        text = opening + "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 80)))
        lexer = Lexer()
        fed, tokens = 0, []
        for piece in _pieces(text, rng):
            fed += len(piece)
            incremental = _outcome(lexer, piece, tokens)
            assert incremental == _outcome(Lexer(), text[:fed]), repr(text[:fed])
            if incremental[0] == "error":
                break
            tokens = incremental[0]
            if rng.random() < 0.2:
                lexer = lexer.copy()


def test_the_layout_reads_its_stack_no_deeper_than_its_watch_records():
    """What the layout makes of tokens depends on its stack only as deep as its
    ``watch`` records, and on the open blocks: brackets and keywords further down
    change nothing (the fast full mask shares verdicts on this)."""
    rng = random.Random(7)
    markers = ["(", "[", "{", "if", "then", "case?"]
    types = ["LOWER", "RPAR", "RBRACK", "RBRACE", "COMMA", "IN", "THEN", "ELSE", "OF", "LPAR", "LBRACK", "LET", "CASE", "IF", "OP"]

    def run(stack, pending, tokens):
        layout = Layout()
        layout.stack, layout.pending = list(stack), pending
        layout.watch = watch = [0, len(stack) - 1]
        try:
            out = [(v.type, v.column) for t in tokens for v in layout.process(t)]
        except ElmSyntaxError as e:
            out = ("error", str(e))
        return out, layout.stack, layout.pending, watch[1]

    checked = 0
    for _ in range(3000):
        stack, indent = [("top", 1)], 1
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.6:
                stack.append((rng.choice(markers), 0))
            else:
                indent += rng.randint(1, 4)
                stack.append((rng.choice(["let", "case"]), indent))
        pending = rng.choice([None, None, ("let", indent), ("case", indent)])
        column = rng.randint(1, indent + 6)
        tokens = []
        for _ in range(rng.randint(1, 3)):
            tokens.append(make_token(rng.choice(types), "x", 0, 1, column, 1, column, 0))
            column += rng.randint(1, 3)
        out, after, after_pending, low = run(stack, pending, tokens)
        if low == 0:
            continue  # read to the bottom: nothing below to change
        # markers dropped or added below what was read; the blocks stay as they are
        below = [entry for entry in stack[:low] if entry[0] not in markers or rng.random() < 0.5]
        for _ in range(rng.randint(0, 2)):
            below.insert(rng.randint(1, len(below)), (rng.choice(markers), 0))
        if below == stack[:low]:
            continue
        other, other_after, other_pending, _ = run(below + stack[low:], pending, tokens)
        assert (other, other_pending) == (out, after_pending), (stack, below, tokens)
        assert other_after[len(below):] == after[low:] and other_after[:len(below)] == below
        checked += 1
    assert checked > 1000
