"""The evaluation's judging, without a model: known completions re-judged from both file
formats, the measures beyond syntax, held-out prompts, the compile check inside an
Elm project, clear errors for bad inputs, and the judging benchmark."""

from __future__ import annotations

import json
import random

import pytest

from elmgrammar.cli import main
from elmgrammar.evaluate.generations import (Generation, cut_at_fence, read_generations, read_text_format,
                                             split_program, write_jsonl)
from elmgrammar.evaluate.heldout import heldout_from_units
from elmgrammar.evaluate.metrics import edit_similarity, levenshtein, reference_scores, repetition
from elmgrammar.evaluate.project import ElmProjectCompiler, core_project, error_kind
from elmgrammar.evaluate.prompts import load_prompt_items, seed_prompts
from elmgrammar.evaluate.errors import EvaluateError

# Known completions of the user's prompts, and what every judge must say about them.
KNOWN = [
    # (prompt, completion, verdict that counts, ours, compiler, tree-sitter, elm-format, degenerate)
    ("fact : Int -> Int\nfact=", "\n    \\n -> if n <= 1 then 1 else n * fact (n - 1)\n",
     "valid", "valid", True, True, True, False),
    ("view : Model -> Html Msg\nview model =", "\n    div []\n        [ text model.name\n",
     "prefix", "prefix", False, False, False, False),
    ("update : Msg -> Model -> (Model, Cmd Msg)\nupdate msg model =", "\n    ( model, Cmd.none ))\n",
     "invalid", "invalid", False, False, False, False),
    ("main =", " animation view model modelMsg modelMsg modelMsg modelMsg modelMsg\n",
     "valid", "valid", True, True, True, True),
]


def _records(tmp_path, generations_file, *extra) -> list[dict]:
    out = tmp_path / f"report-{generations_file.stem}"
    assert main(["evaluate", "--generations", str(generations_file), "--out", str(out), "-q", *extra]) == 0
    return json.loads((out / "evaluation.json").read_text())["completions"]


def _check_known(records: list[dict], with_elm_format: bool) -> None:
    assert len(records) == len(KNOWN)
    for record, (prompt, completion, final, mine, comp, ts, fmt, degenerate) in zip(records, KNOWN):
        # a text-format block loses the blank lines that end it
        assert record["prompt"] == prompt and record["completion"].rstrip("\n") == completion.rstrip("\n")
        assert record["verdict"]["status"] == final, record
        assert record["verdict"]["judge"] == "compiler"
        judges = record["judges"]
        assert judges["ours"]["status"] == mine
        assert judges["compiler"]["valid"] is comp
        assert judges["tree-sitter"]["valid"] is ts
        assert ("elm-format" in judges) is with_elm_format
        if with_elm_format:
            assert judges["elm-format"]["valid"] is fmt
        assert record["degenerate"] is degenerate
        assert record["agree"] is (len({comp, ts, mine == "valid"} | ({fmt} if with_elm_format else set())) == 1)
    invalid = records[2]
    # the stray `)` of `( model, Cmd.none ))`: line 3, column 24, for us and the compiler
    assert (invalid["judges"]["ours"]["line"], invalid["judges"]["ours"]["column"]) == (3, 24)
    assert (invalid["verdict"]["line"], invalid["verdict"]["column"]) == (3, 24)
    assert invalid["verdict"]["message"]
    assert records[3]["repetition"]["ngram"] == "modelMsg" and records[3]["repetition"]["repeats"] == 5


def test_rejudging_known_completions_from_json_lines(tmp_path, compiler):
    path = tmp_path / "known.jsonl"
    write_jsonl([Generation(p, c, "given", i) for i, (p, c, *_) in enumerate(KNOWN)], path)
    _check_known(_records(tmp_path, path, "--elm-format"), with_elm_format=True)


def test_rejudging_known_completions_in_the_users_text_format(tmp_path, compiler):
    """The notebook's generation_output: whole programs under `--- Génération K ---`."""
    blocks = []
    for i, (prompt, completion, *_) in enumerate(KNOWN, 1):
        blocks.append(f"--- Prompt {i} ---\n{prompt}\n\n--- Génération 1 ---\n{prompt}{completion}\n")
    path = tmp_path / "generation_output.txt"
    path.write_text("\n".join(blocks), encoding="utf-8")
    _check_known(_records(tmp_path, path), with_elm_format=False)
    summary = (tmp_path / "report-generation_output" / "summary.md").read_text()
    assert "| **total** | | **4** | **2** | **2** | **50.00%** |" in summary


def test_text_format_blocks_sides_and_continuations():
    text = ("=== constrained ===\r\n--- Prompt 2 ---\r\nx =\r\n--- Génération 1 ---\r\nx = 1\r\n"
            "--- Generation 2 ---\n 2\n\n--- Prompt 3 ---\ny =\n--- Génération 1 ---\n  y = 3\n")
    got = read_text_format(text)
    assert [(g.side, g.prompt_index, g.sample, g.prompt, g.completion) for g in got] == [
        ("constrained", 1, 0, "x =\r", " 1\r"),
        ("constrained", 1, 1, "x =\r", " 2"),
        ("constrained", 2, 0, "y =", " 3"),
    ]
    with pytest.raises(EvaluateError, match="no `--- Prompt N ---`"):
        read_text_format("just some text\n")


def test_json_lines_accept_whole_programs_and_say_where_a_line_is_broken(tmp_path):
    good = tmp_path / "g.jsonl"
    good.write_text(json.dumps({"prompt": "x =", "generation": "x = 1", "constrained": True}) + "\n"
                    + json.dumps({"prompt": "x =", "completion": " 2"}) + "\n")
    got = read_generations(good)
    assert [(g.side, g.completion, g.prompt_index, g.sample) for g in got] == [("constrained", " 1", 0, 0),
                                                                               ("given", " 2", 0, 0)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x =", "completion": " 1"}\n{"prompt": "x =", "completion": }\n')
    with pytest.raises(EvaluateError, match=r"bad.jsonl:2:33: not valid JSON"):
        read_generations(bad)


def test_repetition_flags_loops_not_ordinary_code():
    assert repetition("main = animation view model modelMsg modelMsg modelMsg modelMsg").degenerate
    assert repetition("f x =\n    g x\n    g x\n    g x\n").degenerate
    glued = repetition("main =ToServerToServerToServerToServerToServer")
    assert (glued.degenerate, glued.unit, glued.ngram, glued.repeats) == (True, "characters", "ToServer", 5)
    assert not repetition("-- ------------------------------\nx = \"        \"\n").degenerate
    assert not repetition("view model =\n    div [] [ text model.name ]").degenerate
    assert not repetition("origin = ( 0, 0, 0 )").degenerate
    assert not repetition("x = a\n\ny = a\n").degenerate


def test_edit_similarity_and_exact_match():
    rng = random.Random(0)

    def slow(a: str, b: str) -> int:
        row = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            prev, row[0] = row[0], i
            for j, cb in enumerate(b, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        return row[-1]

    for _ in range(300):
        a = "".join(rng.choice("ab \n") for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice("ab \n") for _ in range(rng.randint(0, 40)))
        assert levenshtein(a, b) == slow(a, b)
    assert edit_similarity("", "") == 1.0
    assert reference_scores("\n    x + 1  \n", "\n    x + 1") == {"exact_match": True, "edit_similarity": 1.0}
    assert reference_scores(" x + 2", " x + 1") == {"exact_match": False, "edit_similarity": 0.8}


def test_heldout_prompts_are_annotation_and_head_with_the_body_as_reference(tmp_path):
    units = [
        {"text": "{-| Add one = plus one -}\ninc : Int -> Int\ninc n = -- n = 0?\n    n + 1", "kind": "function", "name": "inc"},
        {"text": "type T = A", "kind": "type", "name": "T"},
        {"text": "zero =\n    0", "kind": "value", "name": "zero"},
    ]
    items = heldout_from_units(units)
    assert [(i.prompt, i.reference, i.name) for i in items] == [
        ("{-| Add one = plus one -}\ninc : Int -> Int\ninc n =", " -- n = 0?\n    n + 1", "inc"),
        ("zero =", "\n    0", "zero"),
    ]
    split = tmp_path / "test.jsonl"
    split.write_text("".join(json.dumps(u) + "\n" for u in units))
    out = tmp_path / "heldout.json"
    assert main(["evaluate", "--heldout", str(tmp_path), "--write-heldout", str(out)]) == 0
    assert [i.reference for i in load_prompt_items(out)] == [" -- n = 0?\n    n + 1", "\n    0"]


def test_elm_project_compile_check_sorts_errors_by_kind(tmp_path, compiler):
    project, home = core_project(tmp_path / "core")
    programs = {
        "ok": "type A = A\n\nf : A\nf = A\n",
        "type": "type A = A\ntype B = B\n\nf : A\nf =\n    B\n",
        "naming": "f =\n    g\n",
        "syntax": "f =\n    (\n",
        "header": "module Whatever exposing (f)\n\ntype A = A\n\nf : A\nf =\n    A\n",
    }
    with ElmProjectCompiler(project, elm_home=home) as judge:
        results = dict(zip(programs, judge.check_many(list(programs.values()))))
    assert results["ok"].ok and results["header"].ok
    assert [results[k].kind for k in ("type", "naming", "syntax")] == ["type", "naming", "syntax"]
    assert results["type"].problems[0]["title"] == "TYPE MISMATCH"
    assert (results["type"].problems[0]["line"], results["naming"].problems[0]["line"]) == (6, 2)
    assert error_kind("NAMING ERROR") == "naming" and error_kind("MISSING PATTERNS") == "other"

    # the same through the command, with a prelude that brings the types in
    prelude = tmp_path / "prelude.elm"
    prelude.write_text("type A = A\ntype B = B\n")
    path = tmp_path / "typed.jsonl"
    write_jsonl([Generation("f : A\nf =", " B\n"), Generation("f : A\nf =", " A\n"),
                 Generation("f : A\nf =", " c\n")], path)
    records = _records(tmp_path, path, "--elm-project", str(project), "--elm-home", str(home),
                       "--elm-prelude", str(prelude))
    assert [r["compile"]["kind"] for r in records] == ["type", None, "naming"]
    summary = (tmp_path / "report-typed" / "summary.md").read_text()
    assert "| compiles in the project | 1 / 3 (33.3%) |" in summary


@pytest.mark.parametrize("options, problem", [
    (["--temperature", "0"], "--temperature must be positive"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--top-k", "-3"], "--top-k must be 0 (no limit) or more"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
])
def test_bad_settings_are_refused_before_any_model_loads(options, problem, tmp_path, capsys):
    # the model folder does not exist: the settings are judged first
    assert main(["evaluate", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "r"), *options]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err


def test_bad_inputs_are_one_clear_line_not_a_traceback(tmp_path, capsys):
    broken = tmp_path / "test.json"
    broken.write_text('[\n  {"prompt": "main ="},\n  {"prompt" "x ="}\n]\n')
    assert main(["evaluate", str(broken), "--model", str(tmp_path)]) == 2
    assert f"{broken}:3:13: not valid JSON" in capsys.readouterr().err
    wrong = tmp_path / "wrong.json"
    wrong.write_text('[{"text": "main ="}]')
    assert main(["evaluate", str(wrong)]) == 2
    assert 'item 1 is not an object with a "prompt" string' in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "no-such-model"), "--out", str(tmp_path / "r")]) == 2
    assert "no such model folder" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "has no config.json" in capsys.readouterr().err
    unfinishable = tmp_path / "unfinishable.json"
    unfinishable.write_text('[{"prompt": "main ="}, {"prompt": "view model =\\n    f )"}]')
    # judged before the model is looked for (the model folder does not exist)
    assert main(["evaluate", str(unfinishable), "--model", str(tmp_path / "no-such-model"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "item 2: no valid Elm (declarations) starts with this prompt: 2:7: unexpected `)`" in \
        capsys.readouterr().err
    assert main(["evaluate", "--generations", str(tmp_path / "missing.txt")]) == 2
    assert "no such generations file" in capsys.readouterr().err
    assert main(["evaluate", "--elm-project", str(tmp_path), "--generations", str(broken)]) == 2
    assert "not an Elm project (no elm.json)" in capsys.readouterr().err
    assert main(["evaluate", "--greedy", "--model", str(tmp_path)]) == 2
    assert "greedy search gives one completion per prompt" in capsys.readouterr().err
    assert len(seed_prompts()) == 9


def test_bench_evaluate_prints_a_table_per_judge(capsys, compiler):
    assert main(["bench", "evaluate", "--corpus", "--count", "12",
                 "--judges", "ours,compiler,tree-sitter,project,measures"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["judge", "completions", "seconds", "ms", "each"]
    assert [line.split()[0] for line in out[1:]] == ["ours", "compiler", "tree-sitter", "project", "measures"]
    assert all(line.split()[1] == "12" for line in out[1:])


# A chat model's answers to three of the seed prompts, as the original notebook wrote them:
# whole programs that repeat the prompt with their own spacing (elm-format's, and a
# decoder's), inside Markdown code fences with prose after them.
CHATTY = """--- Prompt 4 ---
fact : Int -> Int
fact=

--- Génération 1 ---
fact : Int -> Int
fact =
    \\n -> if n <= 1 then 1 else n * fact (n - 1)
```

This function computes the factorial recursively.

--- Prompt 5 ---
simpleSum : (Int, Int) -> Int
simpleSum =

--- Génération 1 ---
```elm
simpleSum : ( Int, Int ) -> Int
simpleSum =
    \\( a, b ) -> a + b
```
Here is how it works: the tuple is taken apart.

--- Génération 2 ---
simpleSum : ( Int, Int ) -> Int
simpleSum =
    \\( a, b ) -> a +
```
Cut short.

--- Prompt 6 ---
listLength =

--- Génération 1 ---
listLength =
    {- An example in a comment is code, not the end of the answer:
    ```
    listLength [ 1, 2 ] == 2
    ```
    -}
    List.length
```
"""


def test_the_users_text_cut_at_code_fences_with_the_prompt_repeated_once(tmp_path, compiler):
    path = tmp_path / "generation_output.txt"
    path.write_text(CHATTY, encoding="utf-8")
    records = _records(tmp_path, path)
    assert [(r["prompt_index"], r["sample"], r["verdict"]["status"]) for r in records] == [
        (3, 0, "valid"), (4, 0, "valid"), (4, 1, "prefix"), (5, 0, "valid")]
    assert [r["completion"] for r in records] == [
        "\n    \\n -> if n <= 1 then 1 else n * fact (n - 1)\n",
        "\n    \\( a, b ) -> a + b\n",
        "\n    \\( a, b ) -> a +\n",
        "\n    {- An example in a comment is code, not the end of the answer:\n    ```\n    listLength [ 1, 2 ] == 2\n"
        "    ```\n    -}\n    List.length\n"]
    # the annotation is judged once, as the prompt wrote it
    assert all((r["prompt"] + r["completion"]).count(" : ") <= 1 for r in records)


def test_a_repeated_prompt_is_found_whatever_its_spacing():
    assert split_program("fact : Int -> Int\nfact=", "fact : Int -> Int\nfact =\n    1") == "\n    1"
    assert split_program("simpleSum : (Int, Int) -> Int\nsimpleSum =",
                         "  simpleSum : ( Int, Int ) -> Int\n simpleSum =\n    0") == "\n    0"
    assert split_program("x =", " 1") == " 1"                      # a continuation stays as it is
    assert split_program("fact : Int -> Int\nfact=", "fact : Int -> Int\nfact n =\n    1") == \
        "fact : Int -> Int\nfact n =\n    1"                        # not the prompt: kept whole
    assert cut_at_fence('x = """\n```\n"""\n```\nprose') == 'x = """\n```\n"""\n'
    assert cut_at_fence("```\n") == "" and cut_at_fence("x = 1") == "x = 1"
