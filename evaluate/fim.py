"""``elmgrammar evaluate --fim``: fill-in-the-middle, unconstrained, the mask only, and
constrained (the mask and the grammar's closing).

Spans are cut from real files (or held-out units) by :mod:`fim_spans`; the model
writes each middle from the FIM prompt, greedily, with and without the grammar
(the constrained middle may end only where prefix + middle + suffix parses; a
middle cut off by the token budget is shortened, on both sides, to its last place
where the whole text parses, "cut to end"). Per span kind and side: the share of
files the Elm compiler parses (prefix + middle + suffix), of middles the model
ended itself (EOS), of middles the grammar closed, of middles that end within the
budget (EOS, closed or cut to end),
exact match and edit similarity with the true middle. The report is Markdown, JSON
and a PNG chart in the output folder.

>>> from elmgrammar.evaluate.fim import FimOptions, run_fim      # doctest: +SKIP
>>> result = run_fim(FimOptions())                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from elmgrammar.decode.fim import SuffixJudge
from elmgrammar.decode.models import load_model
from elmgrammar.oracles import ElmCompiler

from .errors import EvaluateError
from .fim_spans import KINDS, FimSpan, fim_spans
from .generate import default_model_path
from .heldout import read_units
from .metrics import reference_scores

SIDES = ("unconstrained", "mask only", "constrained")  # constrained: the mask and closing (decode.closing)
NO_PRUNING = "constrained, no pruning"  # run again on the spans where pruning acts (elsewhere it changes nothing)
# The default set: files of elm-review, the default model's test split (never trained on)
DEFAULT_PACKAGE = "elm-review"
DEFAULT_FILES = 8
# what the default model reads of the prefix and of the suffix (its context is 1,024 tokens)
DEFAULT_CONTEXT = 1200


@dataclass
class FimOptions:
    """What a FIM evaluation runs on; the defaults are the small default set."""

    files: list[str] = field(default_factory=list)   # Elm files (module mode); none and no units: the default set
    units: str | None = None                         # held-out units (test.jsonl or its folder), declarations mode
    limit: int = 20                                  # spans at most
    model: str | None = None
    default_model: str | None = None
    tokenizer: str | None = None
    device: str = "auto"
    max_new_tokens: int = 64
    context: int = DEFAULT_CONTEXT
    order: str = "psm"                               # the FIM prompt's layout: psm or spm
    batch_size: int = 4
    out_dir: str = "elmgrammar-report"
    progress: bool = True


@dataclass
class FimEvaluation:
    records: list[dict]
    summary: dict
    meta: dict
    paths: dict[str, Path]


def default_files() -> list[Path]:
    """The default set's files: the smallest of elm-review's that hold spans."""
    from elmgrammar.oracles import tools

    files = [p for p in tools.real_elm_files() if f"/{DEFAULT_PACKAGE}/" in p.as_posix()]
    return sorted(files, key=lambda p: (p.stat().st_size, p.as_posix()))


def collect_spans(options: FimOptions) -> tuple[list[FimSpan], str, str]:
    """The spans, the mode they are judged in, and where they came from."""
    spans: list[FimSpan] = []
    if options.units:
        for unit in read_units(options.units):
            if isinstance(unit.get("text"), str):
                spans += fim_spans(unit["text"], unit.get("name") or "unit")
        return _balanced(spans, options.limit), "declarations", f"held-out units in `{options.units}`"
    paths = [Path(f) for f in options.files] if options.files else default_files()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise EvaluateError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
        spans += fim_spans(text, path.name)
        if not options.files and len({s.source for s in spans}) >= DEFAULT_FILES:
            break
    source = ", ".join(f"`{p}`" for p in options.files) if options.files else \
        f"the {DEFAULT_FILES} smallest files of npm `{DEFAULT_PACKAGE}` that hold spans"
    return _balanced(spans, options.limit), "module", source


def _balanced(spans: list[FimSpan], limit: int) -> list[FimSpan]:
    """At most ``limit`` spans, taking the kinds in turn (deterministic)."""
    by_kind = {k: [s for s in spans if s.kind == k] for k in KINDS}
    out: list[FimSpan] = []
    while len(out) < limit and any(by_kind.values()):
        for k in KINDS:
            if by_kind[k] and len(out) < limit:
                out.append(by_kind[k].pop(0))
    return out


def run_fim(options: FimOptions) -> FimEvaluation:
    """Generate, judge and report (see the module docstring)."""
    import torch
    from tqdm import tqdm

    from elmgrammar.decode.complete import complete
    from elmgrammar.decode.fastmask import FastMasker
    from elmgrammar.decode.vocab import vocab_from_tokenizer

    started = time.perf_counter()
    spans, mode, source = collect_spans(options)
    if not spans:
        raise EvaluateError("no span to fill: the files hold no expression, branch, let block or body that fits")
    embedded = options.model in (None, "default")
    model, tokenizer = load_model(default_model_path(options.default_model) if embedded else options.model,
                                  tokenizer=options.tokenizer, device=options.device)
    masker = FastMasker(vocab_from_tokenizer(tokenizer))
    records: list[dict] = []
    seconds = {}
    pruned = [s for s in spans if SuffixJudge(s.suffix, mode).top_limit is not None]
    with ElmCompiler() as compiler:
        for side, todo in ((SIDES[0], spans), (SIDES[1], spans), (SIDES[2], spans), (NO_PRUNING, pruned)):
            if not todo:
                continue
            began = time.perf_counter()
            bar = tqdm(total=len(todo), desc=f"fim ({side})", unit="middle", disable=not options.progress)
            made = []
            for start in range(0, len(todo), options.batch_size):
                batch = todo[start:start + options.batch_size]
                torch.manual_seed(0)
                made += complete(model, tokenizer, [s.prefix for s in batch], mode=mode,
                                 constrained=side != "unconstrained", masker=masker if side != "unconstrained" else None,
                                 suffix=[s.suffix for s in batch], cut_to_end=True, fim_context=options.context,
                                 fim_order=options.order, prune=side != NO_PRUNING, close=side != "mask only",
                                 max_new_tokens=options.max_new_tokens, do_sample=False)
                bar.update(len(batch))
            bar.close()
            seconds[side] = round(time.perf_counter() - began, 1)
            verdicts = compiler.check_many([s.prefix + r.text + s.suffix for s, r in zip(todo, made)])
            for s, r, v in zip(todo, made, verdicts):
                records.append({**s.as_dict(), "side": side, "text": r.text, "stop_reason": r.stop_reason,
                                "new_tokens": r.new_tokens, "ours": r.complete, "compiler_valid": v.valid,
                                "compiler_error": None if v.valid else v.as_dict(),
                                **reference_scores(r.text, s.middle)})
    summary = summarize_fim(records, options.max_new_tokens)
    meta = {"spans": len(spans), "source": source, "mode": mode, "max_new_tokens": options.max_new_tokens,
            "context_chars": options.context, "decoding": "greedy", "fim_order": options.order,
            "model": "`elmgrammar/finetune/default_model` (the embedded default model)" if embedded
            else f"`{options.model}`", "device": str(model.device), "seconds": seconds,
            "total_seconds": round(time.perf_counter() - started, 1)}
    paths = _write(records, summary, meta, Path(options.out_dir))
    return FimEvaluation(records, summary, meta, paths)


def summarize_fim(records: list[dict], budget: int) -> dict:
    """Per side, per span kind and over all: counts and shares."""
    out: dict = {}
    for side in (*SIDES, NO_PRUNING):
        rows = [r for r in records if r["side"] == side]
        if not rows:
            continue
        out[side] = {kind: _shares([r for r in rows if r["kind"] == kind], budget) for kind in KINDS}
        out[side] = {k: v for k, v in out[side].items() if v["n"]}
        out[side]["all"] = _shares(rows, budget)
    return out


def _shares(rows: list[dict], budget: int) -> dict:
    n = len(rows)
    if not n:
        return {"n": 0}
    ended = [r for r in rows if r["stop_reason"] in ("eos", "cut to end", "closed at eos", "closed at budget")]

    def pct(k: int, whole: int = n) -> float:
        return round(100.0 * k / whole, 1) if whole else 0.0

    return {"n": n, "compiler_valid": pct(sum(r["compiler_valid"] for r in rows)),
            "model_ended": pct(sum(r["stop_reason"] == "eos" for r in rows)),
            "closed": pct(sum(r["stop_reason"].startswith("closed") for r in rows)),
            "ended_within_budget": pct(len(ended)),
            "valid_of_ended": pct(sum(r["compiler_valid"] for r in ended), len(ended)) if ended else None,
            "empty_middles": pct(sum(not r["text"].strip() for r in rows)),
            "dead_ends": sum(r["stop_reason"] == "dead end" for r in rows),
            "exact_match": pct(sum(r["exact_match"] for r in rows)),
            "edit_similarity": round(sum(r["edit_similarity"] for r in rows) / n, 3)}


def fim_table(summary: dict) -> list[str]:
    """The Markdown table: a row per span kind and side."""
    lines = ["| span kind | side | n | compiler-valid | model ended (EOS) | closed by the grammar | ended within budget "
             "| valid of ended | empty middles | dead ends | exact match | edit similarity |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    kinds = [k for k in (*KINDS, "all") if any(k in summary[s] for s in summary)]
    for kind in kinds:
        for side in summary:
            c = summary[side].get(kind)
            if c:
                lines.append(f"| {kind} | {side} | {c['n']} | {c['compiler_valid']}% | {c['model_ended']}% | "
                             f"{c['closed']}% | {c['ended_within_budget']}% | {_pct(c['valid_of_ended'])} | {c['empty_middles']}% | "
                             f"{c['dead_ends']} | {c['exact_match']}% | {c['edit_similarity']} |")
    return lines


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value}%"


def _write(records: list[dict], summary: dict, meta: dict, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "fim.json", "summary": out / "fim.md", "chart": out / "fim.png"}
    paths["json"].write_text(json.dumps({"meta": meta, "summary": summary, "records": records}, indent=1),
                             encoding="utf-8")
    chart = _chart(summary, paths["chart"])
    lines = ["# Fill-in-the-middle", "",
             f"{meta['spans']} spans from {meta['source']} ({meta['mode']} mode); model {meta['model']} on "
             f"{meta['device']}, greedy, at most {meta['max_new_tokens']} new tokens, FIM prompt "
             f"{meta['fim_order'].upper()}; the model reads "
             f"{meta['context_chars']} characters of the prefix and of the suffix; time per side (s): "
             f"{meta['seconds']}.", "",
             "A constrained middle may end only where prefix + middle + suffix parses. A middle the budget cut "
             "off is shortened, on both sides, to its last place where the whole text parses (*cut to end*); "
             "*model ended* counts the middles the model ended itself (EOS); *closed by the grammar*, the "
             "constrained middles the model would have ended, or the budget would have cut off, before the "
             "suffix could join, which the grammar finished with the shortest closing it found. *Ended within "
             "budget*: EOS, closed or cut to end. *Compiler-valid*: the Elm "
             "compiler parses prefix + middle + suffix. *Dead ends*: middles left with no allowed token. "
             f"*{NO_PRUNING}*: the constrained side again, without pruning, on the spans where pruning acts "
             "(the suffix still needs imports or a header: a middle may not begin a declaration).", "", *fim_table(summary), ""]
    if chart:
        lines += [f"![FIM chart]({chart.name})", ""]
    lines += ["## Examples", ""]
    for r in records[:2 * len(KINDS)]:
        lines.append(f"- {r['side']}, {r['kind']} ({r['source']}:{r['line']}), {r['stop_reason']}, "
                     f"{'valid' if r['compiler_valid'] else 'invalid'}: `{r['text'][:80]!r}` "
                     f"(true: `{r['middle'][:60]!r}`)")
    paths["summary"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    if chart is None:
        del paths["chart"]
    return paths


def _chart(summary: dict, path: Path) -> Path | None:
    """Compiler-valid share per span kind, the sides side by side (None without
    matplotlib; the run without pruning covers a few spans: it is in the table only)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    summary = {side: summary[side] for side in SIDES if side in summary}
    kinds = [k for k in (*KINDS, "all") if any(k in summary[s] for s in summary)]
    figure = Figure(figsize=(9, 3.8), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    width = 0.8 / len(summary)
    for i, (side, colour) in enumerate(zip(summary, ("#9e9e9e", "#81c784", "#2e7d32"))):
        xs = [k + (i - (len(summary) - 1) / 2) * width for k in range(len(kinds))]
        axes.bar(xs, [summary[side].get(k, {}).get("compiler_valid", 0) for k in kinds], width=width,
                 color=colour, label=side)
    axes.set_xticks(range(len(kinds)), kinds)
    axes.set_ylim(0, 100)
    axes.set_ylabel("prefix + middle + suffix compiler-valid (%)")
    axes.set_title("Fill-in-the-middle by span kind")
    axes.legend(fontsize=8, frameon=False)
    figure.savefig(path, format="png")
    return path
