"""The three external judges of Elm syntax, on snippets and on real files."""

from __future__ import annotations

import random

import pytest

from elmgrammar.oracles import (
    CompilerTimeout,
    ElmCompiler,
    ToolMissing,
    Verdict,
    VerdictCache,
    tools,
)
from elmgrammar.oracles.compiler import SYNTAX_TITLES

VALID = """module Main exposing (main, Shape(..))

import Html exposing (text)


type Shape
    = Circle Float
    | Square Float


{-| The area. -}
area : Shape -> Float
area shape =
    case shape of
        Circle r ->
            3.14 * r ^ 2

        Square s ->
            let
                side =
                    s
            in
            side * side


main =
    text (String.fromFloat (area (Circle 1)))
"""

UNFINISHED_TUPLE = "module Main exposing (..)\n\nx = (1,\n"

MISALIGNED_LET = """module Main exposing (..)

x =
    let
        a = 1
         b = 2
    in
    a
"""

TAB = "module Main exposing (..)\n\nx =\n\t1\n"


def test_valid_snippet_is_valid_for_all_three(compiler, treesitter, elmformat):
    for judge in (compiler, treesitter, elmformat):
        verdict = judge.check(VALID)
        assert verdict.valid, verdict


def test_unfinished_tuple_is_invalid_where_the_compiler_stops(compiler):
    assert compiler.check(UNFINISHED_TUPLE) == Verdict("compiler", False, 3, 8, "UNFINISHED TUPLE")


def test_misaligned_let_definition_is_invalid_at_its_equals_sign(compiler, elmformat):
    assert compiler.check(MISALIGNED_LET) == Verdict("compiler", False, 6, 12, "UNEXPECTED EQUALS")
    assert not elmformat.check(MISALIGNED_LET).valid


def test_tab_character_is_a_compiler_syntax_error(compiler):
    assert compiler.check(TAB) == Verdict("compiler", False, 4, 1, "NO TABS")


def test_other_judges_report_their_own_positions(treesitter, elmformat):
    assert treesitter.check(UNFINISHED_TUPLE) == Verdict("tree-sitter", False, 3, 1, "ERROR")
    assert elmformat.check(UNFINISHED_TUPLE) == Verdict("elm-format", False, 4, 1, "Unable to parse file")


@pytest.mark.parametrize(
    "text",
    [
        'x : Int\nx = "s"\n',  # no header, unknown type, wrong type: parsed all the same
        'module Main exposing (..)\n\ntype T = T\n\nx : T\nx = "s"\n',
        "module Some.Other.Name exposing (..)\n\nx = 1\n",
        "port module Ports exposing (..)\n\nport out : String -> Cmd msg\n",
        "module Main exposing (..)\n\nimport Does.Not.Exist\n\nx = Does.Not.Exist.y\n",
    ],
    ids=["type-error-no-header", "type-error", "other-module-name", "ports", "unknown-import"],
)
def test_problems_after_parsing_count_as_parsed(compiler, text):
    verdict = compiler.check(text)
    assert verdict.valid, verdict


def test_a_module_needs_a_declaration(compiler):
    # The compiler's parser wants at least one declaration; the lenient judges do not.
    assert compiler.check("module Main exposing (..)\n") == Verdict("compiler", False, 2, 1, "WEIRD DECLARATION")


def test_every_invalid_verdict_carries_a_syntax_title(compiler):
    for text in (UNFINISHED_TUPLE, MISALIGNED_LET, TAB, "module Main exposing (..)\nx = )\n"):
        verdict = compiler.check(text)
        assert not verdict.valid and verdict.message in SYNTAX_TITLES, verdict


def test_compiler_parses_every_real_file(compiler, real_files):
    verdicts = compiler.check_many([p.read_text(encoding="utf-8") for p in real_files])
    rejected = [f"{path}: {v.line}:{v.column} {v.message}" for path, v in zip(real_files, verdicts) if not v.valid]
    assert not rejected, "the compiler rejects real files:\n" + "\n".join(rejected)


def test_real_files_are_the_three_packages_sources(real_files):
    assert len(real_files) >= 100
    assert real_files == sorted(real_files)
    packages = {p.relative_to(tools.tools_dir() / "node_modules").parts[0] for p in real_files}
    assert packages == {"elm-pages", "elm-review", "elm-test"}


def test_treesitter_finds_declarations_in_every_real_file(treesitter, real_files):
    for path in real_files:
        spans = treesitter.declaration_spans(path.read_text(encoding="utf-8"))
        assert spans, path
        for kind, start, end in spans:
            assert kind in {
                "value_declaration",
                "type_annotation",
                "type_declaration",
                "type_alias_declaration",
                "port_annotation",
                "infix_declaration",
            }
            assert 1 <= start <= end, (path, kind, start, end)
        starts = [start for _, start, _ in spans]
        ends = [end for _, _, end in spans]
        assert all(e < s for e, s in zip(ends, starts[1:])), path


def test_declaration_spans_leave_out_comments_around_a_declaration(treesitter):
    text = (
        "module M exposing (..)\n\n{-| doc -}\nx : Int\nx =\n    1\n\n-- trailing\n\n"
        "type T\n    = A\n    | B\n\n\n\n-- SECTION\n\n\ny = 2\n"
    )
    assert treesitter.declaration_spans(text) == [
        ("type_annotation", 4, 4),
        ("value_declaration", 5, 6),
        ("type_declaration", 10, 12),
        ("value_declaration", 19, 19),
    ]


def test_disk_cache_returns_the_same_verdict(tmp_path):
    first = ElmCompiler(cache=tmp_path)
    texts = [UNFINISHED_TUPLE, VALID]
    verdicts = first.check_many(texts)
    for text in texts:
        assert (tmp_path / VerdictCache.key(text)[:2] / f"{VerdictCache.key(text)}.json").is_file()
    again = ElmCompiler(cache=tmp_path)
    again.elm = tools.tools_dir() / "no-such-elm"  # any cache miss would now fail loudly
    assert again.check_many(texts) == verdicts


def test_batched_verdicts_equal_one_file_at_a_time(real_files):
    source = real_files[0].read_text(encoding="utf-8")
    rnd = random.Random(7)
    texts = []
    for _ in range(12):
        i = rnd.randrange(len(source))
        texts.append(source[:i] + source[i + rnd.randrange(1, 8) :])
    texts += [UNFINISHED_TUPLE, MISALIGNED_LET, TAB, VALID, VALID]
    batched = ElmCompiler(cache=False).check_many(texts)
    single = [ElmCompiler(cache=False).check(t) for t in texts]
    assert batched == single
    assert any(not v.valid for v in batched) and any(v.valid for v in batched)


def test_a_compiler_that_runs_too_long_raises_a_clear_error():
    with pytest.raises(CompilerTimeout, match="did not finish"):
        ElmCompiler(cache=False, timeout=0.001).check(VALID)


def test_missing_tools_raise_toolmissing_naming_setup(tmp_path):
    with pytest.raises(ToolMissing, match="elmgrammar setup"):
        tools.elm_binary(tmp_path)
    with pytest.raises(ToolMissing, match="elmgrammar setup"):
        tools.real_elm_files(tmp_path)


def test_verdict_round_trips_through_a_dict():
    verdict = Verdict("compiler", False, 3, 8, "UNFINISHED TUPLE")
    assert verdict.as_dict() == {
        "judge": "compiler",
        "valid": False,
        "line": 3,
        "column": 8,
        "message": "UNFINISHED TUPLE",
    }
    assert Verdict.from_dict(verdict.as_dict()) == verdict


def test_nameprobe_asks_the_compiler_and_writes_a_table_that_loads(compiler, tmp_path):
    """The probe behind elmgrammar/namechars_table.py, on a few code points: é (Ll),
    É (Lu), ǅ (Lt), ª (Lo), U+0301 (a mark), U+AB63 (a letter since Unicode 8)."""
    from elmgrammar.oracles import nameprobe

    codes = [0xE9, 0xC9, 0x1C5, 0xAA, 0x301, 0xAB63]
    found = {name: nameprobe.probe(compiler, codes, template, progress=False)
             for name, template in nameprobe.PROBES.items()}
    assert found == {"INNER": [0xE9, 0xC9, 0x1C5, 0xAA], "LOWER_START": [0xE9], "UPPER_START": [0xC9, 0x1C5]}
    table = {name: nameprobe.runs(codes) for name, codes in found.items()}
    path = tmp_path / "table.py"
    path.write_text(nameprobe.render(table), encoding="utf-8")
    loaded: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), loaded)
    assert {name: loaded[name] for name in table} == {name: tuple(runs) for name, runs in table.items()}
