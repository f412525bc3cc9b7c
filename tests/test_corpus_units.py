"""Code units cut from the syntax tree: on every real npm Elm file each unit parses on its
own, its lines agree with tree-sitter-elm's declaration nodes, and the options (doc
comments, comments inside bodies, module header and imports as context) do what they say."""

from __future__ import annotations

import json
from functools import partial

import pytest

from elmgrammar import parse_module
from elmgrammar.cli import main
from elmgrammar.corpus.comments import strip_comments
from elmgrammar.corpus.parallel import default_jobs, ordered_map
from elmgrammar.corpus.units import UNIT_KEYS, UnitOptions, comment_spans, split_units
from elmgrammar.lexer import Lexer

OPTIONS = [
    UnitOptions(),
    UnitOptions(doc=False),
    UnitOptions(comments=False),
    UnitOptions(doc=False, comments=False, context=True),
]

SAMPLE = '''module Sample exposing (..)

{-| The module's doc.
-}

import Html exposing (Html, text) -- why
import Dict


{-| A value's doc. -}
answer : Int -- the type
answer =
    {- before -} 40 {- between -} + 2 -- after


-- a comment between declarations

type Shape
    = Circle Float -- radius
    | Square Float

type alias Point =
    { x : Float, y : Float }

port send : String -> Cmd msg

view : Html msg
view =
    let
        -- the text
        label = "a -- not a comment {- nor this -}"
    in
    text label
'''


def _tokens(text: str) -> list[tuple[str, str]]:
    return [(t.type, t.value) for t in Lexer().tokenize(text)]


def _merge_annotations(spans: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """tree-sitter lists a type annotation as its own node before the value: join them."""
    merged, pending = [], None
    for kind, first, last in spans:
        if kind == "type_annotation":
            pending = first
            continue
        merged.append((pending if pending is not None and kind == "value_declaration" else first, last))
        pending = None
    return merged


def _split(text: str, options: UnitOptions):
    return split_units(text, options)


@pytest.fixture(scope="module")
def real_texts(real_files):
    return [(path, path.read_text(encoding="utf-8")) for path in real_files]


@pytest.fixture(scope="module")
def real_units(real_texts):
    """options -> [(path, text, FileUnits)] for every real file, cut on all CPUs once."""
    texts = [text for _, text in real_texts]
    return {options: list(zip([p for p, _ in real_texts], texts,
                              ordered_map(partial(_split, options=options), texts, jobs=default_jobs())))
            for options in OPTIONS}


def test_every_unit_of_the_real_corpus_parses_on_its_own_with_every_option(real_units):
    counted = 0
    for options, files in real_units.items():
        for path, text, result in files:
            # split_units re-parsed each unit alone (one declaration, same kind and name);
            # nothing may have been dropped for failing that
            assert result.dropped == [], (path, result.dropped)
            counted += len(result.units)
    # and independently of that check: every unit of the default cut, parsed here
    for path, text, result in real_units[UnitOptions()]:
        assert len(result.units) == len(parse_module(text).declarations), path
        for unit in result.units:
            # a unit is a module's body: a port declaration stands alone there, not as a file
            # (the compiler reads a file that starts with `port` as a port module)
            header = "port module M exposing (..)\n\n" if unit.kind == "port" else ""
            module = parse_module(header + unit.text)
            assert len(module.declarations) == 1 and module.imports == [], (path, unit.name)
            assert (module.header is None) == (header == ""), (path, unit.name)
    assert counted > 4 * 1500


def test_unit_lines_match_tree_sitter_declaration_nodes(real_units, treesitter):
    disagreements = []
    for path, text, result in real_units[UnitOptions(doc=False)]:
        ours = [(u.start_line, u.end_line) for u in result.units]
        theirs = _merge_annotations(treesitter.declaration_spans(text))
        if ours != theirs:
            disagreements.append((path, sorted(set(ours) ^ set(theirs))[:5]))
    assert disagreements == []


def test_unit_text_is_the_exact_source_slice(real_units):
    for path, text, result in real_units[UnitOptions()]:
        lines = text.splitlines()
        for unit in result.units:
            first = "\n".join(lines[unit.start_line - 1:unit.end_line])
            assert first.startswith(unit.text), (path, unit.name)  # the slice ends at the last token


def test_removing_comments_keeps_every_token_of_every_real_unit(real_units):
    with_comments = 0
    stripped_files = real_units[UnitOptions(comments=False)]
    for (path, text, kept), (_, _, stripped) in zip(real_units[UnitOptions()], stripped_files, strict=True):
        for a, b in zip(kept.units, stripped.units, strict=True):
            assert _tokens(a.text) == _tokens(b.text), (path, a.name)
            assert comment_spans(b.text) == [], (path, a.name)
            with_comments += a.text != b.text
    assert with_comments > 100  # the real code has comments to remove


def test_context_units_of_the_real_corpus_carry_their_header(real_units):
    for path, text, result in real_units[OPTIONS[3]][:30]:
        module = parse_module(text)
        for unit in result.units:
            again = parse_module(unit.text)
            assert [i.module for i in again.imports] == [i.module for i in module.imports]
            assert (again.header and again.header.name) == (module.header and module.header.name)


def test_sample_units_kinds_names_and_lines():
    units = split_units(SAMPLE).units
    assert [(u.kind, u.name, u.start_line, u.end_line) for u in units] == [
        ("value", "answer", 10, 13),
        ("type", "Shape", 18, 20),
        ("type_alias", "Point", 22, 23),
        ("port", "send", 25, 25),
        ("value", "view", 27, 33),
    ]
    assert units[0].text.startswith("{-| A value's doc. -}\nanswer : Int -- the type\n")
    assert "-- after" not in units[0].text  # after the last token: not part of the declaration
    assert "a comment between" not in "".join(u.text for u in units)


def test_an_infix_declaration_alone_is_no_unit():
    # the compiler reads infix declarations between the imports and the first
    # declaration, and a module of infix declarations alone is none
    result = split_units("module M exposing (..)\n\ninfix left 0 (|>) = apR\n\nx = 1\n")
    assert [(u.kind, u.name, u.start_line, u.text) for u in result.units] == [("value", "x", 5, "x = 1")]
    (dropped,) = result.dropped
    assert dropped.startswith("3: infix (|>): does not parse on its own") and "declaration" in dropped


def test_doc_comments_dropped_on_request():
    units = split_units(SAMPLE, UnitOptions(doc=False)).units
    assert units[0].text.startswith("answer : Int")
    assert units[0].start_line == 11
    assert all("{-|" not in u.text for u in units)


def test_comments_inside_bodies_removed_cleanly():
    units = split_units(SAMPLE, UnitOptions(comments=False)).units
    answer, shape, view = units[0], units[1], units[-1]
    assert answer.text == "{-| A value's doc. -}\nanswer : Int\nanswer =\n    40 + 2"
    assert shape.text == "type Shape\n    = Circle Float\n    | Square Float"
    assert view.text == 'view : Html msg\nview =\n    let\n        label = "a -- not a comment {- nor this -}"\n    in\n    text label'


def test_context_puts_header_and_imports_first_and_keeps_declaration_lines():
    units = split_units(SAMPLE, UnitOptions(context=True, comments=False)).units
    head = "module Sample exposing (..)\n\nimport Html exposing (Html, text)\nimport Dict\n\n"
    assert all(u.text.startswith(head) for u in units)
    assert units[0].start_line == 10 and units[0].end_line == 13
    module = parse_module(units[0].text)
    assert module.header.name == "Sample" and [i.module for i in module.imports] == ["Html", "Dict"]
    # a file with no header: imports alone, or nothing
    assert split_units("import A\nx = 1\n", UnitOptions(context=True)).units[0].text == "import A\n\nx = 1"
    assert split_units("x = 1\n", UnitOptions(context=True)).units[0].text == "x = 1"


@pytest.mark.parametrize("source, expected", [
    # a comment before the first `let` definition on its line: its column is kept
    ("f =\n    let\n        {- c -} a = 1\n                b = 2\n    in\n    a\n", "f =\n    let\n                a = 1\n                b = 2\n    in\n    a"),
    # a comment over several lines between tokens keeps the line break and the column
    ("f =\n    let\n        a = 1 {- one\n  two -} + 1\n        b = 2\n    in\n    a\n", None),
    # comments that join tokens must leave a space
    ("f =\n    g{- x -}h\n", "f =\n    g h"),
    # CRLF line endings stay CRLF
    ("f =\r\n    -- c\r\n    1 -- d\r\n", "f =\r\n    1"),
    # nested block comments
    ("f =\n    {- a {- b -} c -}\n    1\n", "f =\n    1"),
])
def test_comment_removal_edge_cases_stay_parseable(source, expected):
    unit = split_units(source, UnitOptions(comments=False)).units[0]
    assert comment_spans(unit.text) == []
    assert _tokens(unit.text) == _tokens(source.rstrip())
    if expected is not None:
        assert unit.text == expected


def test_column_exact_removal_is_the_fallback_when_layout_would_change():
    # `let {- c -} a = 1` then `b` aligned with `a`: moving `a` left would break the block
    source = "f =\n    let {- c -} a = 1\n                b = 2\n    in\n    a\n"
    result = split_units(source, UnitOptions(comments=False))
    assert result.comment_fallbacks == 1 and result.dropped == []
    assert result.units[0].text == "f =\n    let         a = 1\n                b = 2\n    in\n    a"
    tidy = strip_comments(source, comment_spans(source))
    assert tidy.startswith("f =\n    let a = 1")  # what the tidy way alone would give


def test_units_json_command(tmp_path, capsys):
    (tmp_path / "Sample.elm").write_text(SAMPLE)
    (tmp_path / "Bad.elm").write_text("module Bad exposing (..)\n\nx =\n    (1\n")
    code = main(["units", "--json", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1  # one file did not parse
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["name"] for r in rows] == ["answer", "Shape", "Point", "send", "view"]
    assert all(tuple(r) == UNIT_KEYS for r in rows)
    assert rows[0]["path"].endswith("Sample.elm") and rows[0]["start_line"] == 10
    assert f"{tmp_path / 'Bad.elm'}:5:1:" in captured.err or f"{tmp_path / 'Bad.elm'}:4:" in captured.err
    assert "Traceback" not in captured.err

    assert main(["units", "--no-doc", "--no-comments", str(tmp_path / "Sample.elm")]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].endswith("Sample.elm:11-13: value answer")
