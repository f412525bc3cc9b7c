"""Our parser against the Elm compiler and tree-sitter-elm on real files and their mutants,
and the `crosscheck` and `bench parse` commands."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from elmgrammar import ElmSyntaxError, check, namechars_table, parse_module
from elmgrammar.cli import main
from elmgrammar.crosscheck import JUDGES, Item, crosscheck, format_verdict
from elmgrammar.evaluate.bench import BENCH_JUDGES
from elmgrammar.lexer import Lexer
from elmgrammar.mutants import mutants

MIN_MUTANT_AGREEMENT = 0.99
MIN_SAME_LINE = 0.90  # our first error on the compiler's line, where both reject
ELM_FORMAT_BUDGET_S = 60.0  # beyond this estimate, elm-format judges every 5th mutant only


def _items(real_files: list[Path]) -> list[Item]:
    return [Item(str(p), p.read_text(encoding="utf-8")) for p in real_files]


def test_every_real_file_the_compiler_parses_we_parse(real_files):
    report = crosscheck(_items(real_files), judges=("ours", "compiler"), progress=False)
    parsed = [f for f in report.files if f.verdicts["compiler"].valid]
    failures = [f for f in parsed if not f.verdicts["ours"].valid]
    for f in failures:
        print(f"REJECTED {f.item.path}: ours={format_verdict(f.verdicts['ours'])}")
    print(f"{len(parsed) - len(failures)}/{len(parsed)} real files the compiler parses are accepted by ours "
          f"({len(real_files)} files in all)")
    assert parsed, "the compiler parsed none of the real files"
    assert not failures


# ---- declaration boundaries -------------------------------------------------------------


def our_declaration_lines(text: str) -> list[tuple[int, int]]:
    """(first line, last line) of each top-level declaration in our AST, with the doc
    comment left out (tree-sitter keeps doc comments as separate nodes); a value's
    annotation stays in, as our span includes it."""
    module = parse_module(text)
    tokens = None
    out = []
    for decl in module.declarations:
        start = decl.span.line
        if getattr(decl, "doc", None) is not None:
            # Our span starts at the doc comment; the declaration proper starts at the
            # first token after it (comments and blank lines give no tokens).
            if tokens is None:
                tokens = list(Lexer().tokenize(text))
                index = {t.start_pos: i for i, t in enumerate(tokens)}
            start = tokens[index[decl.span.offset] + 1].line
        out.append((start, decl.span.end_line))
    return out


def treesitter_declaration_lines(treesitter, text: str) -> list[tuple[int, int]]:
    """tree-sitter's declaration spans with each type annotation merged into the value
    declaration that follows it (our AST has one node for both)."""
    merged: list[list] = []
    for kind, first, last in treesitter.declaration_spans(text):
        if kind == "value_declaration" and merged and merged[-1][0] == "type_annotation":
            merged[-1] = ["annotated value", merged[-1][1], last]
        else:
            merged.append([kind, first, last])
    return [(first, last) for _, first, last in merged]


def test_declaration_boundaries_match_tree_sitter(real_files, treesitter):
    mismatches = []
    for path in real_files:
        text = path.read_text(encoding="utf-8")
        ours = our_declaration_lines(text)
        theirs = treesitter_declaration_lines(treesitter, text)
        if ours != theirs:
            only_ours = sorted(set(ours) - set(theirs))
            only_theirs = sorted(set(theirs) - set(ours))
            mismatches.append(path)
            print(f"BOUNDARIES {path}: {len(ours)} ours vs {len(theirs)} tree-sitter; "
                  f"only ours {only_ours[:5]}, only tree-sitter {only_theirs[:5]}")
    print(f"{len(real_files) - len(mismatches)}/{len(real_files)} real files: same declaration lines as tree-sitter")
    assert not mismatches


# ---- mutants ------------------------------------------------------------------------------


def test_mutants_our_verdict_equals_the_compilers(real_files, elmformat):
    items = []
    for path in real_files:
        text = path.read_text(encoding="utf-8")
        items += [Item(str(path), m.text, mutant=m.description) for m in mutants(text, per_kind=3)]
    report = crosscheck(items, judges=("ours", "compiler", "tree-sitter"), progress=False)

    ours_wrong = [d for d in report.disagreements if d.judge == "ours"]
    for d in ours_wrong:
        print(f"DISAGREE {d.name}: ours={format_verdict(d.verdict)}, compiler={format_verdict(d.reference)}")
    agree, total = report.agreement["ours"]
    ts_agree, ts_total = report.agreement["tree-sitter"]
    same, both = report.same_line["ours"]
    print(f"ours vs compiler on {total} mutants: {agree}/{total} = {100 * agree / total:.2f}% agree "
          f"(same line when both invalid: {same}/{both})")
    print(f"tree-sitter vs compiler (information): {ts_agree}/{ts_total} = {100 * ts_agree / ts_total:.2f}%")

    # elm-format runs a process per text: estimate from the first 100 before judging all.
    by_text = {f.item.text: f.verdicts["compiler"] for f in report.files}
    texts = [f.item.text for f in report.files]
    start = time.perf_counter()
    head = elmformat.check_many(texts[:100])
    estimate = (time.perf_counter() - start) / max(1, len(head)) * len(texts)
    step = 1 if estimate <= ELM_FORMAT_BUDGET_S else 5
    sample = texts[::step]
    verdicts = head + elmformat.check_many(texts[100:]) if step == 1 else elmformat.check_many(sample)
    ef_agree = sum(1 for t, v in zip(sample, verdicts) if v.valid == by_text[t].valid)
    note = "" if step == 1 else f"; every 5th mutant only, all would take ~{estimate:.0f} s"
    print(f"elm-format vs compiler (information{note}): {ef_agree}/{len(sample)} = "
          f"{100 * ef_agree / len(sample):.2f}%")

    assert total == len(items)
    assert agree / total >= MIN_MUTANT_AGREEMENT
    exact, near, both_mutants = report.error_lines["ours"]["mutants"]
    print(f"first error on the compiler's line: {exact}/{both_mutants}, within one line: {near}/{both_mutants}")
    assert both_mutants == both and exact == same
    assert exact / both >= MIN_SAME_LINE


def test_error_line_rates_are_counted_and_printed(compiler):
    """``crosscheck`` compares the lines of the first errors, exactly and within one
    line, for files and for mutants apart."""
    header = "module M exposing (..)\n\n"
    items = [
        Item("Tuple.elm", header + "x = (1,\n"),                      # both: the line of the `,`
        Item("List.elm", header + "x =\n    [ 1\n]\n"),              # both: the line of the `[ 1`
        Item("Valid.elm", header + "x = 1\n"),
        Item("Valid.elm", header + "x = f 2.x\n", mutant="a number's dot"),
        Item("Valid.elm", header + "x = 1\ny = 2\n", mutant="valid"),
    ]
    report = crosscheck(items, judges=("ours", "compiler"), progress=False)
    assert report.error_lines["ours"] == {"files": (2, 2, 2), "mutants": (1, 1, 1)}
    table = report.format_table()
    assert "first error on the compiler's line" in table
    assert "100.00% (2/2)" in table.split("first error on the compiler's line")[1]
    summary = report.summary()["error_lines"]["ours"]
    assert summary["files"] == {"same": 2, "within_one": 2, "both_invalid": 2}


# Names with characters past ASCII: the compiler starts an upper-case name with any
# upper- or title-case letter, a lower-case one with any lower-case letter, and goes
# on with letters of any kind, ASCII digits and `_` (not other digits, not marks), as
# letters were in its older Unicode: not those assigned since (U+AB63 Cherokee, Unicode
# 8; U+1C90 Georgian Mtavruli and U+0560 Armenian, 11), and U+1885 still one.
NON_ASCII_NAMES = [
    "type T\n    = Été\n", "café : Int\ncafé =\n    1\n", "x中 =\n    1\n", "x =\n    Été.foo\n",
    "x r =\n    r.é\n", "x =\n    .é\n", "type alias R =\n    { é : Int }\n", "ǅx =\n    1\n", "ǅx : Int\n",
    "x² =\n    1\n", "x٣ =\n    1\n", "ªx =\n    1\n", "中 =\n    1\n", "x =\n    Ǆ\n", "x =\n    ǅ\n",
    "xʰ =\n    1\n", "x =\n    1é\n", "x =\n    _é\n", "café : Int\ncafè =\n    1\n", "é_1 =\n    1\n",
    "xé\u0301 =\n    1\n", "x =\n    -é\n", "x =\n    a-é\n", "type T\n    = T Ab\u00c0\n",
    "x\uab63 =\n    1\n", "x\u1885 =\n    1\n", "type T\n    = \u1c90x\n", "\u0560x =\n    1\n",
]


@pytest.mark.parametrize("body", NON_ASCII_NAMES)
def test_names_past_ascii_are_judged_as_the_compiler_does(body, compiler):
    text = "module Main exposing (..)\n\n\n" + body
    try:
        parse_module(text)
        ours = True
    except ElmSyntaxError:
        ours = False
    assert ours == compiler.check(text).valid, body


# Reserved words as field names: refused after a dot (`r.type`, `.module`), but
# `alias`, `infix` and `effect` are no reserved words, and a qualified name may end
# in one (`A.module`).
FIELD_WORDS = ["x r =\n    r.type\n", "x =\n    .module\n", "x r =\n    r.a.if\n", "x r =\n    (r).port\n",
               "x r =\n    r.types\n", "x r =\n    r.alias\n", "x r =\n    r.infix\n", "x r =\n    r.effect\n",
               "x =\n    A.module\n", "x r =\n    r.exposing\n", "x r =\n    r.in\n"]


@pytest.mark.parametrize("body", FIELD_WORDS)
def test_reserved_words_as_fields_are_judged_as_the_compiler_does(body, compiler):
    text = "module Main exposing (..)\n\n\n" + body
    assert (not check(text)) == compiler.check(text).valid, body


def test_name_characters_agree_with_the_compiler_at_every_edge(compiler):
    """The table of name characters (measured from the compiler by
    ``elmgrammar.oracles.nameprobe``), through our lexer and parser: at the first and
    last code point of every run of accepted characters, and just outside it."""
    texts = []
    for runs, template in ((namechars_table.INNER, "x{} =\n    1\n"), (namechars_table.LOWER_START, "{}x =\n    1\n"),
                           (namechars_table.UPPER_START, "type T\n    = {}x\n")):
        codes = {c for a, b in runs for c in (a - 1, a, b, b + 1)}
        texts += ["module Main exposing (..)\n\n\n" + template.format(chr(c)) for c in sorted(codes)
                  if not 0xD800 <= c < 0xE000 and c < 0x110000]
    verdicts = compiler.check_many(texts)
    wrong = []
    for text, verdict in zip(texts, verdicts):
        try:
            parse_module(text)
            ours = True
        except ElmSyntaxError:
            ours = False
        if ours != verdict.valid:
            wrong.append(text.splitlines()[-2:])
    accepted = sum(v.valid for v in verdicts)
    print(f"{len(texts)} texts at the edges of the name-character runs, {accepted} valid to the compiler")
    assert 0 < accepted < len(texts)
    assert not wrong, wrong[:10]


# ---- the commands ---------------------------------------------------------------------------


def test_crosscheck_cli_json(real_files, capsys):
    paths = [str(p) for p in real_files[:2]]
    status = main(["crosscheck", "--json", "--mutants", "1", *paths])
    out = capsys.readouterr().out
    assert status == 0
    rows = [json.loads(line) for line in out.splitlines()]
    per_item, summary = rows[:-1], rows[-1]
    assert summary["summary"] is True and summary["files"] == 2
    assert summary["items"] == len(per_item) > 2
    assert {r["path"] for r in per_item} == set(paths)
    for r in per_item:
        assert set(r["verdicts"]) == set(JUDGES)
    originals = [r for r in per_item if r["mutant"] is None]
    assert len(originals) == 2 and all(r["verdicts"]["compiler"]["valid"] for r in originals)


def test_crosscheck_cli_without_tools_says_run_setup(real_files, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ELMGRAMMAR_TOOLS", str(tmp_path / "nothing-here"))
    status = main(["crosscheck", str(real_files[0])])
    err = capsys.readouterr().err
    assert status == 2
    assert "elmgrammar setup" in err and "Traceback" not in err


def test_bench_parse_prints_a_table_naming_every_judge(real_files, capsys):
    status = main(["bench", "parse", "--repeat", "1", *map(str, real_files[:3])])
    out = capsys.readouterr().out
    print(out)
    assert status == 0
    table = out.splitlines()
    for judge in BENCH_JUDGES:
        assert any(line.startswith(judge + " ") for line in table), judge
    assert "lines/s on one core" in out
