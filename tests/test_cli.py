"""The command-line program: output formats and exit statuses users script against."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from elmgrammar.cli import main
from elmgrammar.parser import MAX_BYTES, MAX_NESTING

VALID = "module A exposing (x)\n\nx : Int\nx =\n    1 + 2\n"
INVALID = "module B exposing (y)\n\ny =\n    let\n        a = 1\n         b = 2\n    in\n    a\n"


def test_check_json_lines_and_summary(tmp_path, capsys):
    (tmp_path / "A.elm").write_text(VALID)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "B.elm").write_text(INVALID)
    (tmp_path / "elm-stuff").mkdir()
    (tmp_path / "elm-stuff" / "Skipped.elm").write_text("not elm")
    assert main(["check", "--json", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines[:-1]]
    assert [(r["path"].endswith("A.elm"), r["valid"]) for r in records] == [(True, True), (False, False)]
    assert records[1]["error"]["line"] == 6 and records[1]["error"]["column"] == 12
    assert set(records[1]["error"]) == {"line", "column", "message"}
    assert lines[-1] == "checked 2 files: 1 valid, 1 invalid"


def test_check_exit_status_and_readable_errors(tmp_path, capsys):
    a = tmp_path / "A.elm"
    a.write_text(VALID)
    assert main(["check", str(a)]) == 0
    assert capsys.readouterr().out.strip() == "checked 1 file: 1 valid, 0 invalid"
    b = tmp_path / "B.elm"
    b.write_text(INVALID)
    assert main(["check", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert f"{b}:6:12: unexpected `=`" in out


def test_ast_readable_and_json(tmp_path, capsys):
    a = tmp_path / "A.elm"
    a.write_text(VALID)
    assert main(["ast", str(a)]) == 0
    out = capsys.readouterr().out
    assert "ValueDeclaration x" in out and "BinOp +" in out
    assert main(["ast", "--json", str(a)]) == 0
    tree = json.loads(capsys.readouterr().out)
    decl = tree["declarations"][0]
    assert decl["node"] == "ValueDeclaration" and decl["body"]["op"] == "+"
    assert decl["span"]["line"] == 3 and decl["span"]["end_line"] == 5


def test_console_script_and_help():
    result = subprocess.run([sys.executable, "-m", "elmgrammar.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("check", "ast", "crosscheck", "bench", "setup"):
        assert command in result.stdout


def test_check_on_a_folder_with_no_elm_file_says_so_and_fails(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no Elm here")
    assert main(["check", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"elmgrammar check: no .elm files in {tmp_path}\n" and captured.out == ""


def test_check_reports_the_parsers_limits_as_limits_not_syntax_errors(tmp_path, capsys):
    big = tmp_path / "Big.elm"
    big.write_text("x = 1\n" + "-- padding\n" * (MAX_BYTES // 10))
    deep = tmp_path / "Deep.elm"
    deep.write_text("module Deep exposing (x)\n\nx =\n    " + "(" * 300 + "1" + ")" * 300 + "\n")
    (tmp_path / "Good.elm").write_text(VALID)
    assert main(["check", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{big}: too large to check ({len(big.read_text()):,} characters; the limit is 5,000,000 characters)",
        f"{deep}:4:{4 + MAX_NESTING + 1}: nested too deeply to check (more than 200 levels of brackets, `let` and "
        "`case`; the limit is 200)",
        "checked 3 files: 1 valid, 0 invalid, 2 over a limit (not checked)"]
    assert main(["check", "--json", str(deep)]) == 1
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["error"]["limit"] == "nesting"


def test_check_modes_in_the_library():
    from elmgrammar import MODES, check

    assert MODES == ("module", "declarations", "expression")
    assert check(VALID) == [] and check(VALID, mode="declarations") == []
    (error,) = check(INVALID)
    assert (error.line, error.column) == (6, 12)
    assert check("f x |> g", mode="expression") == []
    (error,) = check("f x |> g", mode="module")  # no declaration has an expression alone
    assert error.line == 1
    (error,) = check("x = 1\n", mode="expression")
    assert (error.line, error.column) == (1, 3)
    with pytest.raises(ValueError, match="mode must be one of"):
        check("x = 1\n", mode="statement")


def test_check_mode_on_the_command_line(tmp_path, capsys):
    e = tmp_path / "Expr.elm"
    e.write_text("case m of\n    Just x -> x\n    Nothing -> 0\n")
    assert main(["check", "--mode", "expression", str(e)]) == 0
    assert capsys.readouterr().out.strip() == "checked 1 file: 1 valid, 0 invalid"
    assert main(["check", str(e)]) == 1
    assert f"{e}:1:1: " in capsys.readouterr().out
    assert main(["check", "--mode", "declarations", "--json", str(e)]) == 1
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["valid"] is False and record["error"]["line"] == 1
    with pytest.raises(SystemExit):
        main(["check", "--mode", "statement", str(e)])
    assert "invalid choice" in capsys.readouterr().err
