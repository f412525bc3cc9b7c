"""``elmgrammar evaluate`` end to end with a tiny random StarCoder2 saved to a folder (the
real architecture and vocabulary, 2 layers): every output is written, the constrained
side never writes invalid Elm, and the completions file judges again the same."""

from __future__ import annotations

import json

import pytest

from elmgrammar.cli import main
from elmgrammar.decode.tiny import tiny_starcoder2
from elmgrammar.finetune import default_model_path

PROMPTS = [
    {"prompt": "update : Msg -> Model -> (Model, Cmd Msg)\nupdate msg model ="},
    {"prompt": "fact : Int -> Int\nfact="},
    {"prompt": "inc : Int -> Int\ninc n =", "reference": "\n    n + 1"},
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer, tokenizer_dir):
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_starcoder2(tokenizer_dir, layers=2, hidden=64, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory, model_dir, compiler):
    """One comparison run: 3 prompts x 2 completions x 3 sides, 20 new tokens at most."""
    root = tmp_path_factory.mktemp("evaluate")
    prompts = root / "test.json"
    prompts.write_text(json.dumps(PROMPTS))
    out = root / "report"
    assert main(["evaluate", str(prompts), "--model", str(model_dir), "--gen-per-prompt", "2",
                 "--max-new-tokens", "20", "--seed", "3", "--out", str(out), "-q"]) == 0
    return out


def test_a_run_writes_json_markdown_png_and_the_completions(report):
    data = json.loads((report / "evaluation.json").read_text())
    records = data["completions"]
    assert len(records) == 18
    assert {r["side"] for r in records} == {"unconstrained", "mask only", "constrained"}
    assert list(data["summary"]) == ["unconstrained", "mask only", "constrained"]
    for r in records:
        assert r["verdict"]["status"] in ("valid", "prefix", "invalid")
        assert {"ours", "compiler", "tree-sitter"} <= set(r["judges"])
        assert 0 < r["new_tokens"] <= 20 and r["stop_reason"]
        assert ("reference_scores" in r) is (r["prompt_index"] == 2)
    summary = (report / "summary.md").read_text()
    assert "| # | prompt | tries | successes | fails | success rate |" in summary
    assert summary.count("| **total** | | **6** |") == 3
    assert "## Comparison" in summary and "| exact match (held-out) |" in summary
    assert "![valid, cut off and invalid completions per side](chart.png)" in summary
    assert (report / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report / "generations.txt").read_text().count("--- Génération ") == 18


def test_the_completions_file_carries_each_completions_verdicts(report):
    records = json.loads((report / "evaluation.json").read_text())["completions"]
    markers = [line for line in (report / "generations.txt").read_text().splitlines()
               if line.startswith("--- Génération ")]
    words = {"valid": "valid (compiler)", "prefix": "cut off, valid prefix (compiler)", "invalid": "invalid (compiler)"}
    assert len(markers) == len(records)
    for marker, r in zip(markers, records):
        verdict = marker.split(" --- ", 1)[1]
        assert verdict.startswith(words[r["verdict"]["status"]]), (marker, r["verdict"])
        assert f"stopped: {r['stop_reason']}; " in verdict and f"; {r['new_tokens']} new tokens" in verdict
        if r["closing"]:
            assert f"; the grammar wrote {r['closing']!r}; " in verdict
        assert "ours " in verdict and "tree-sitter " in verdict


def test_the_report_explains_its_rows_and_sets_the_original_figure_beside_ours(report):
    summary = (report / "summary.md").read_text()
    data = json.loads((report / "evaluation.json").read_text())["summary"]
    assert "Stop reasons: `unit complete`: the declaration was complete" in summary
    assert "so the sides compare by ms per step" in summary
    steps = [data[side]["timing"]["steps"] for side in ("unconstrained", "mask only", "constrained")]
    assert f"| generate steps | {steps[0]} | {steps[1]} | {steps[2]} |" in summary and all(0 < n <= 3 * 20 for n in steps)
    closed = data["constrained"]["closed"]
    assert closed and f"| closed by the grammar (characters it wrote) | – | – | {closed} (" in summary
    assert "| the original report (its fine-tuned model) | 21 | 63 | 10 | 15.87% | a regular expression |" in summary
    constrained = data["constrained"]
    assert (f"| constrained (this run) | 3 | 6 | {constrained['valid']} | {constrained['success_rate']:.2f}% | "
            "the Elm compiler: complete and valid |") in summary


def test_the_report_names_the_embedded_model_by_its_place_in_the_package(tmp_path, compiler):
    assert main(["evaluate", "--no-compare", "--greedy", "--gen-per-prompt", "1", "--max-new-tokens", "4",
                 "--out", str(tmp_path), "-q"]) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "- model: `elmgrammar/finetune/default_model` (the embedded default model) on " in summary
    assert "1 torch thread(s), load average " in summary  # --cpu-threads 1, the default, and the conditions
    assert str(default_model_path()) not in summary and str(default_model_path()) not in \
        (tmp_path / "evaluation.json").read_text()


def test_the_constrained_sides_write_no_invalid_completion(report):
    records = json.loads((report / "evaluation.json").read_text())["completions"]
    constrained = [r for r in records if r["side"] in ("mask only", "constrained")]
    assert all(r["judges"]["ours"]["status"] != "invalid" for r in constrained), constrained
    assert all(r["verdict"]["status"] != "invalid" for r in constrained), constrained
    # closed by the grammar, the constrained side's completions end whole (the compiler says so)
    assert all(r["verdict"]["status"] == "valid" for r in records if r["side"] == "constrained")
    baseline = [r for r in records if r["side"] == "unconstrained"]
    assert sum(r["verdict"]["status"] == "invalid" for r in baseline) >= len(baseline) // 2


def test_the_completions_file_is_judged_again_the_same(report, tmp_path):
    assert main(["evaluate", "--generations", str(report / "generations.txt"), "--out", str(tmp_path), "-q"]) == 0
    first = json.loads((report / "evaluation.json").read_text())["completions"]
    again = json.loads((tmp_path / "evaluation.json").read_text())["completions"]
    assert [(r["side"], r["prompt_index"], r["sample"], r["verdict"]) for r in again] == \
        [(r["side"], r["prompt_index"], r["sample"], r["verdict"]) for r in first]


def test_one_side_greedy_with_json_lines_output(model_dir, tmp_path):
    out = tmp_path / "gen.jsonl"
    assert main(["evaluate", "--model", str(model_dir), "--no-compare", "--greedy", "--gen-per-prompt", "1",
                 "--max-new-tokens", "8", "--generation-output", str(out), "--out", str(tmp_path), "-q"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 9 and {r["side"] for r in rows} == {"constrained"}
    assert all(r["verdict"].split(" (")[0] in ("valid", "cut off, valid prefix", "invalid") for r in rows)
    assert "## Per prompt: unconstrained" not in (tmp_path / "summary.md").read_text()


def test_top_k_0_samples_from_every_token():
    """`evaluate --top-k 0` is top-k off: generate is told so (given no top-k it would
    take its own, 50), and the constrained side draws from every allowed token."""
    from transformers import GenerationConfig

    from elmgrammar.decode.complete import processor_settings
    from elmgrammar.evaluate.generate import Sampling

    kwargs = Sampling(top_k=None).generate_kwargs()
    assert kwargs["top_k"] == 0
    assert processor_settings(GenerationConfig(), kwargs) == {"strategy": "sample", "top_k": None, "top_p": None,
                                                              "temperature": 0.8}
    assert processor_settings(GenerationConfig(), Sampling().generate_kwargs())["top_k"] == 50


def test_one_side_the_mask_only(model_dir, tmp_path, capsys):
    out = tmp_path / "gen.jsonl"
    assert main(["evaluate", "--model", str(model_dir), "--no-compare", "--mask-only", "--greedy", "--gen-per-prompt",
                 "1", "--max-new-tokens", "8", "--generation-output", str(out), "--out", str(tmp_path), "-q"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["side"] for r in rows} == {"mask only"} and not any(r["closing"] for r in rows)
    assert main(["evaluate", "--no-compare", "--mask-only", "--unconstrained", "--out", str(tmp_path)]) == 2
    assert "--unconstrained and --mask-only each pick one side" in capsys.readouterr().err
