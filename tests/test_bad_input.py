"""Bad input gets a clean ElmSyntaxError (or a refusal naming the limit), in bounded time."""

from __future__ import annotations

import time

import pytest

from elmgrammar import ElmSyntaxError, parse_expression, parse_module
from elmgrammar.cli import main
from elmgrammar.parser import MAX_BYTES, MAX_NESTING


def error_of(text) -> ElmSyntaxError:
    start = time.perf_counter()
    with pytest.raises(ElmSyntaxError) as e:
        parse_module(text)
    # generous bound: these must never hang
    assert time.perf_counter() - start < 30
    return e.value


def test_empty_and_blank_input():
    assert error_of("").message.startswith("empty input")
    assert error_of("  \n\n -- only a comment\n").message.startswith("empty input")


def test_binary_input():
    e = error_of("\x7fELF\x02\x01\x01\x00\x00\x00")
    assert "binary" in e.message


def test_non_utf8_bytes():
    e = error_of(b"x = \"caf\xe9\"\n")
    assert "UTF-8" in e.message


def test_huge_input_is_refused_naming_the_limit():
    e = error_of("x = 1\n" + "-- padding\n" * (MAX_BYTES // 10))
    assert f"{MAX_BYTES:,}" in e.message


def test_ten_thousand_nested_parentheses():
    e = error_of("x = " + "(" * 10_000 + "1" + ")" * 10_000 + "\n")
    assert str(MAX_NESTING) in e.message and e.line == 1


def test_ten_thousand_nested_lets_and_cases():
    e = error_of("x = " + "case a of _ -> " * 10_000 + "1\n")
    assert str(MAX_NESTING) in e.message
    e = error_of("x = " + "let a = (" * 10_000 + "1\n")
    assert str(MAX_NESTING) in e.message


def test_long_chains_parse_without_recursion_errors():
    # a chain is not nesting: these are legal and must parse iteratively
    parse_module("x = " + "let y = 1 in " * 10_000 + "y\n")
    parse_module("x = " + "if a then 1 else " * 10_000 + "2\n")
    parse_module("x = " + "a :: " * 20_000 + "b\n")
    parse_expression("\\a -> " * 10_000 + "a")


@pytest.mark.parametrize("text", ['x = "open\n', "x = 'ab'\n", "x = {- open\n", "x = [glsl| open\n",
                                  "x = 1\t+ 2\n", "x = 0xZZ\n", "x = \u00a7\n"])
def test_unfinished_or_illegal_lexemes(text):
    e = error_of(text)
    assert e.line == 1 and e.column >= 1


def test_the_cli_never_shows_a_traceback(tmp_path, capsys):
    deep = tmp_path / "Deep.elm"
    deep.write_text("x = " + "if a then 1 else " * 5_000 + "2\n")
    binary = tmp_path / "Bin.elm"
    binary.write_bytes(b"\x00\x01\x02\xff")
    latin1 = tmp_path / "Latin.elm"
    latin1.write_bytes(b"x = \"caf\xe9\"\n")
    assert main(["check", str(binary), str(latin1)]) == 1
    out = capsys.readouterr().out
    assert f"{binary}:1:1:" in out and f"{latin1}:1:9: not UTF-8" in out
    # printing a very deep tree is refused cleanly
    assert main(["ast", "--json", str(deep)]) in (0, 1)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert main(["check", str(tmp_path / "missing.elm")]) == 2
    assert "no such file" in capsys.readouterr().err
