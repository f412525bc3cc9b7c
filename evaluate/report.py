"""Counting the records and writing them up: the summary (numbers, for JSON) and the
Markdown report (the user's per-prompt table per side, the comparison, the judges).

The per-prompt table keeps the user's columns and order (successes, fails, success
rate, then the totals); a success is a complete program that the judge that counts
(the Elm compiler) accepts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import mean

from .judges import JUDGES, STATUSES
from .project import KINDS

SIDE_ORDER = ("unconstrained", "mask only", "constrained")


def sides_of(records: Sequence[dict]) -> list[str]:
    """The sides present, the baseline first."""
    present = list(dict.fromkeys(r["side"] for r in records))
    return sorted(present, key=lambda s: (SIDE_ORDER.index(s) if s in SIDE_ORDER else len(SIDE_ORDER), present.index(s)))


def _rate(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _per_prompt(records: list[dict]) -> list[dict]:
    rows: dict[int, dict] = {}
    for r in records:
        row = rows.setdefault(r["prompt_index"], {"prompt_index": r["prompt_index"], "prompt": r["prompt"], "tries": 0,
                                                  "successes": 0, "prefix": 0, "invalid": 0, "degenerate": 0})
        row["tries"] += 1
        status = r["verdict"]["status"]
        row["successes" if status == "valid" else status] += 1
        row["degenerate"] += r["degenerate"]
    out = []
    for index in sorted(rows):
        row = rows[index]
        row["fails"] = row["tries"] - row["successes"]
        row["success_rate"] = _rate(row["successes"], row["tries"])
        out.append(row)
    return out


def summarize_side(records: list[dict]) -> dict:
    """The counts of one side's records (see :func:`summarize`)."""
    n = len(records)
    statuses = Counter(r["verdict"]["status"] for r in records)
    summary: dict = {
        "completions": n,
        **{s: statuses.get(s, 0) for s in STATUSES},
        "success_rate": _rate(statuses.get("valid", 0), n),
        "degenerate": sum(r["degenerate"] for r in records),
        "valid_not_degenerate": sum(r["verdict"]["status"] == "valid" and not r["degenerate"] for r in records),
        "all_judges_agree": sum(r["agree"] for r in records),
        "stop_reasons": dict(Counter(r["stop_reason"] for r in records if r.get("stop_reason"))),
        "closed": sum(r.get("closing") is not None for r in records),
        "closing_chars": sum(len(r.get("closing") or "") for r in records),
        "mean_chars": round(mean(r["length"]["chars"] for r in records), 1) if records else 0.0,
    }
    tokens = [r["length"]["new_tokens"] for r in records if r["length"].get("new_tokens") is not None]
    summary["mean_new_tokens"] = round(mean(tokens), 1) if tokens else None
    judges: dict[str, dict] = {}
    for name in JUDGES:
        with_judge = [r for r in records if name in r["judges"]]
        if not with_judge:
            continue
        row = {"valid": sum(r["judges"][name]["valid"] for r in with_judge)}
        if name != "compiler":
            both = [r for r in with_judge if "compiler" in r["judges"]]
            if both:
                row["agrees_with_compiler"] = sum(r["judges"][name]["valid"] == r["judges"]["compiler"]["valid"]
                                                  for r in both)
        judges[name] = row
    summary["judges"] = judges
    scored = [r["reference_scores"] for r in records if "reference_scores" in r]
    if scored:
        summary["reference"] = {"completions": len(scored), "exact_match": sum(s["exact_match"] for s in scored),
                                "mean_edit_similarity": round(mean(s["edit_similarity"] for s in scored), 4)}
    compiled = [r["compile"] for r in records if "compile" in r]
    if compiled:
        kinds = Counter(c["kind"] for c in compiled if not c["ok"])
        summary["compile"] = {"ok": sum(c["ok"] for c in compiled), **{k: kinds.get(k, 0) for k in KINDS}}
    summary["per_prompt"] = _per_prompt(records)
    return summary


def summarize(records: Sequence[dict]) -> dict[str, dict]:
    """Per side: ``completions``, ``valid`` / ``prefix`` / ``invalid`` counts,
    ``success_rate`` (%), ``degenerate``, ``valid_not_degenerate``, ``all_judges_agree``,
    ``stop_reasons``, mean lengths, per-judge ``valid`` and ``agrees_with_compiler``,
    ``reference`` (exact match, mean edit similarity) and ``compile`` (ok and counts by
    error kind) when measured, and ``per_prompt`` rows (the user's table)."""
    return {side: summarize_side([r for r in records if r["side"] == side]) for side in sides_of(records)}


# ---- Markdown ---------------------------------------------------------------------------------


def _cell(text: str, width: int = 48) -> str:
    """A prompt as a table cell: one line, short, no pipe or backtick to break the table."""
    flat = " ⏎ ".join(line.strip() for line in text.strip().splitlines())
    flat = flat.replace("|", "\\|").replace("`", "'")
    return "`" + (flat if len(flat) <= width else flat[:width - 1] + "…") + "`"


def _count(part: int, whole: int) -> str:
    return f"{part} / {whole} ({_rate(part, whole):.1f}%)"


def per_prompt_table(side: dict) -> list[str]:
    """The user's table for one side: a row per prompt, then the totals."""
    lines = ["| # | prompt | tries | successes | fails | success rate | cut off (valid prefix) | invalid | degenerate |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in side["per_prompt"]:
        lines.append(f"| {row['prompt_index'] + 1} | {_cell(row['prompt'])} | {row['tries']} | {row['successes']} | "
                     f"{row['fails']} | {row['success_rate']:.2f}% | {row['prefix']} | {row['invalid']} | "
                     f"{row['degenerate']} |")
    n = side["completions"]
    lines.append(f"| **total** | | **{n}** | **{side['valid']}** | **{n - side['valid']}** | "
                 f"**{side['success_rate']:.2f}%** | {side['prefix']} | {side['invalid']} | {side['degenerate']} |")
    return lines


def comparison_table(summary: dict[str, dict]) -> list[str]:
    """The sides side by side."""
    sides = list(summary)
    lines = ["| | " + " | ".join(sides) + " |", "|---|" + "---:|" * len(sides)]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(summary[s]) for s in sides) + " |")

    row("complete and valid (compiler)", lambda s: _count(s["valid"], s["completions"]))
    row("cut off, valid prefix", lambda s: _count(s["prefix"], s["completions"]))
    row("invalid", lambda s: _count(s["invalid"], s["completions"]))
    row("valid and not degenerate", lambda s: _count(s["valid_not_degenerate"], s["completions"]))
    row("degenerate repetition", lambda s: _count(s["degenerate"], s["completions"]))
    row("all judges agree", lambda s: _count(s["all_judges_agree"], s["completions"]))
    row("mean new tokens", lambda s: "–" if s["mean_new_tokens"] is None else f"{s['mean_new_tokens']:.1f}")
    row("mean length (characters)", lambda s: f"{s['mean_chars']:.1f}")
    if all("timing" in s for s in summary.values()):
        row("generation time (s)", lambda s: f"{s['timing']['seconds']:.1f}")
        row("tokens / s", lambda s: "–" if s["timing"]["tokens_per_s"] is None else f"{s['timing']['tokens_per_s']:.1f}")
        row("generate steps", lambda s: str(s["timing"].get("steps", "–")))
        row("ms per step", lambda s: "–" if s["timing"].get("ms_per_step") is None else f"{s['timing']['ms_per_step']:.1f}")
    row("stop reasons", lambda s: ", ".join(f"{k} {v}" for k, v in sorted(s["stop_reasons"].items())) or "–")
    if any(s.get("closed") for s in summary.values()):
        row("closed by the grammar (characters it wrote)",
            lambda s: f"{s['closed']} ({s['closing_chars']} of {round(s['mean_chars'] * s['completions'])})"
            if s.get("closed") else "–")
    if any("reference" in s for s in summary.values()):
        row("exact match (held-out)", lambda s: _count(s["reference"]["exact_match"], s["reference"]["completions"])
            if "reference" in s else "–")
        row("mean edit similarity (held-out)", lambda s: f"{s['reference']['mean_edit_similarity']:.3f}"
            if "reference" in s else "–")
    if any("compile" in s for s in summary.values()):
        row("compiles in the project", lambda s: _count(s["compile"]["ok"], s["completions"]) if "compile" in s else "–")
        for kind in KINDS:
            row(f"&nbsp;&nbsp;{kind} errors", lambda s, k=kind: str(s["compile"][k]) if "compile" in s else "–")
    return lines


# The original report's figure: 21 prompts, 3 completions each, of its fine-tuned model,
# counted valid by a regular expression (no parser, no compiler).
USER_FIGURE = {"completions": 63, "valid": 10, "prompts": 21, "judge": "a regular expression"}


def user_figure_table(summary: dict[str, dict]) -> list[str]:
    """The original report's success rate beside each side's (said with what judged each)."""
    user = USER_FIGURE
    lines = ["| | prompts | completions | counted valid | rate | judged by |", "|---|---:|---:|---:|---:|---|",
             f"| the original report (its fine-tuned model) | {user['prompts']} | {user['completions']} | "
             f"{user['valid']} | {_rate(user['valid'], user['completions']):.2f}% | {user['judge']} |"]
    for side, s in summary.items():
        judge = "the Elm compiler" if "compiler" in s["judges"] else "our grammar"
        lines.append(f"| {side} (this run) | {len(s['per_prompt'])} | {s['completions']} | {s['valid']} | "
                     f"{s['success_rate']:.2f}% | {judge}: complete and valid |")
    return lines


STOP_REASONS = (
    "Stop reasons: `unit complete`: the declaration was complete and the model began the next "
    "top-level item (a line at column 1), so generation stopped and the completion ends with the "
    "declaration; `eos`: the model ended the text itself; `max_new_tokens`: cut off at the token "
    "budget (then it is complete only if it happens to parse there); `closed at eos`: the model "
    "would have ended here (its choice was EOS) with something still open, and the grammar wrote "
    "a short closing (the shortest its search found) (brackets, quotes, keywords, `x` where an expression is "
    "missing) and ended it; `closed at budget`: the budget left only just held the closing, and the "
    "grammar wrote it. Sides: `mask only` masks every token that would make the program "
    "unparseable; `constrained` also closes (the default of constrained generation); 'closed by "
    "the grammar' counts the completions it closed, and the characters it wrote of all theirs.")

SPEED = (
    "Speed: tokens / s is a side's new tokens over its generation time. Prompts go in batches, and "
    "a batch takes as many generate steps as its longest row needs (a row that stops early waits "
    "for the others), so the sides compare by ms per step: the model's forward pass on all, plus "
    "the mask on the constrained side. A side with fewer tokens in as many steps shows fewer tokens "
    "/ s for the same work. On a CPU shared with other work, times move with the load from run to "
    "run: compare sides within one run.")


def judges_table(summary: dict[str, dict]) -> list[str]:
    """Per side and judge: how many it found valid and how often it agrees with the compiler."""
    lines = ["| side | judge | valid | agrees with the compiler |", "|---|---|---:|---:|"]
    for side, s in summary.items():
        for name, row in s["judges"].items():
            agrees = "(reference)" if name == "compiler" else \
                _count(row["agrees_with_compiler"], s["completions"]) if "agrees_with_compiler" in row else "–"
            lines.append(f"| {side} | {name} | {_count(row['valid'], s['completions'])} | {agrees} |")
    return lines


def _verdict_word(v: dict) -> str:
    if v.get("status"):
        return v["status"]
    return "valid" if v["valid"] else "invalid"


def _where(v: dict) -> str:
    if v.get("line") is None:
        return ""
    return f" {v['line']}:{v['column']}"


def examples(records: Sequence[dict], limit: int = 10) -> list[str]:
    """Tables of the first disagreements between judges and the first invalid completions."""
    lines: list[str] = []
    disagreements = [r for r in records if not r["agree"]]
    if disagreements:
        names = [n for n in JUDGES if any(n in r["judges"] for r in disagreements)]
        lines += ["", f"### Judges disagree ({len(disagreements)}; first {min(limit, len(disagreements))})", "",
                  "| side | prompt | # | " + " | ".join(names) + " |", "|---|---:|---:|" + "---|" * len(names)]
        for r in disagreements[:limit]:
            cells = [(_verdict_word(r['judges'][n]) + _where(r['judges'][n])) if n in r["judges"] else "–"
                     for n in names]
            lines.append(f"| {r['side']} | {r['prompt_index'] + 1} | {r['sample'] + 1} | " + " | ".join(cells) + " |")
    invalid = [r for r in records if r["verdict"]["status"] == "invalid"]
    if invalid:
        lines += ["", f"### Invalid completions ({len(invalid)}; first {min(limit, len(invalid))})", "",
                  "| side | prompt | # | where | error |", "|---|---:|---:|---|---|"]
        for r in invalid[:limit]:
            v = r["verdict"]
            message = (v["message"] or "").replace("|", "\\|")
            lines.append(f"| {r['side']} | {r['prompt_index'] + 1} | {r['sample'] + 1} | {_where(v).strip()} | {message} |")
    return lines


STATUS_WORDS = {"valid": "valid", "prefix": "cut off, valid prefix", "invalid": "invalid"}


def verdict_line(record: dict) -> str:
    """One record's verdicts in a line: the one that counts, each judge's, the stop and
    the measures (written after each completion in ``generations.txt``)."""
    v = record["verdict"]
    where = f" at {v['line']}:{v['column']}: {v['message']}" if v["status"] == "invalid" and v.get("line") else ""
    judges = ", ".join(f"{name} {_verdict_word(j)}" for name, j in record["judges"].items())
    parts = [f"{STATUS_WORDS[v['status']]} ({v['judge']}){where}", judges]
    if record.get("stop_reason"):
        parts.append(f"stopped: {record['stop_reason']}")
    if record.get("closing"):
        parts.append(f"the grammar wrote {record['closing']!r}")
    if record["length"].get("new_tokens") is not None:
        parts.append(f"{record['length']['new_tokens']} new tokens")
    if record["degenerate"]:
        parts.append(f"degenerate: {record['repetition']['ngram']!r} x {record['repetition']['repeats']}")
    return "; ".join(parts)


def markdown(records: Sequence[dict], summary: dict[str, dict], meta: dict, chart: str | None = None) -> str:
    """The whole report: settings, the user's table per side, the comparison, the judges,
    examples, and the chart when one was written (``chart`` is its path relative to the
    report)."""
    out = ["# Elm completion report", ""]
    for key, value in meta.get("described", {}).items():
        out.append(f"- {key}: {value}")
    out += ["", "A success is a complete program that the Elm 0.19.1 compiler's parser accepts "
            "(our grammar alone when the compiler is not installed); our grammar tells a cut-off "
            "but valid prefix from an invalid completion. Degenerate: one piece of code repeated "
            "back to back (4 times, or 3 times over 6 tokens or more), or glued into one word "
            "(`ToServerToServerToServerToServer`)."]
    for side, s in summary.items():
        out += ["", f"## Per prompt: {side}", ""] + per_prompt_table(s)
    out += ["", "## Comparison", ""] + comparison_table(summary)
    out += ["", STOP_REASONS]
    if all("timing" in s for s in summary.values()):
        out += ["", SPEED]
    out += ["", "## Beside the original report", "",
            "The original report published a success rate over its 21 prompts (only 9 of them were "
            "published: they are the seed prompts here), counted by a regular expression, which "
            "tells neither a cut-off program nor a syntax error from valid Elm:", ""] + user_figure_table(summary)
    out += ["", "## Judges", ""] + judges_table(summary)
    out += examples(records)
    if chart:
        out += ["", f"![valid, cut off and invalid completions per side]({chart})"]
    return "\n".join(out) + "\n"
