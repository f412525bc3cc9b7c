"""``elmgrammar bench fim``: what the end check of fill-in-the-middle costs, by
suffix length.

Each span's true middle is teacher-forced token by token through a FIM matcher;
at every position the end question (``SuffixJudge.may_end``: may the middle end
here?) is timed, beside the naive answer (the state after the middle fed the whole
suffix, then asked whether it is complete). The suffix is the file's own, then the
same with 10 k and 100 k characters of filler declarations appended. The judge
parses the suffix's tail once per request (and per top-level parser state); every
other check should cost the same whatever the suffix's length, the naive one grows
with it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Sequence

from elmgrammar.decode.fastmask import FastMasker
from elmgrammar.decode.fim import SuffixJudge
from elmgrammar.decode.matcher import Matcher
from elmgrammar.decode.models import load_tokenizer
from elmgrammar.decode.vocab import vocab_from_tokenizer

from .fim_spans import fim_spans

SIZES = (0, 10_000, 100_000)  # characters of filler appended to the file's own suffix


def _filler(length: int) -> str:
    """Top-level declarations adding up to about ``length`` characters."""
    out, n = [], 0
    while length and sum(map(len, out)) < length:
        out.append(f"\n\nfiller{n} : Int -> Int\nfiller{n} x =\n    x + {n}\n")
        n += 1
    return "".join(out)


def bench_fim_end(tokenizer_dir: str | Path, paths: Sequence[Path], spans_per_size: int = 6,
                  naive_every: int = 4) -> list[dict]:
    """One row per suffix size: end checks timed with the judge and naively."""
    tokenizer = load_tokenizer(tokenizer_dir)
    masker = FastMasker(vocab_from_tokenizer(tokenizer))
    spans = []
    for path in paths:
        spans += [s for s in fim_spans(Path(path).read_text(encoding="utf-8"), Path(path).name)
                  if s.kind in ("declaration body", "let block", "case branch")]
        if len(spans) >= spans_per_size:
            break
    spans = spans[:spans_per_size]
    rows = []
    for size in SIZES:
        judged, naive, tail_ms, chars = [], [], [], []
        for span in spans:
            suffix = span.suffix + _filler(size)
            chars.append(len(suffix))
            judge = SuffixJudge(suffix, "module")
            m = Matcher(masker, "module", span.prefix, suffix_judge=judge)
            for n, token_id in enumerate(tokenizer(span.middle, add_special_tokens=False)["input_ids"] + [None]):
                state = m.state
                tails = judge.tail_parses
                began = time.perf_counter()
                verdict = judge.may_end(state)
                spent = (time.perf_counter() - began) * 1000
                (judged if judge.tail_parses == tails else tail_ms).append(spent)
                if n % naive_every == 0:
                    began = time.perf_counter()
                    probe = state.copy()
                    probe.recognizer.watch = None
                    expected = probe.advance(suffix) and probe.is_complete()
                    naive.append((time.perf_counter() - began) * 1000)
                    if expected != verdict:
                        raise AssertionError(f"the judge and the whole parse disagree on {span.source}:{span.line}")
                if token_id is not None:
                    m.consume_token(token_id)
        rows.append({"suffix_chars": int(statistics.median(chars)), "spans": len(spans), "checks": len(judged),
                     "tail_parses": len(tail_ms), "tail_parse_ms": round(statistics.median(tail_ms), 3) if tail_ms
                     else None,
                     "judge_median_ms": round(statistics.median(judged), 3),
                     "judge_p90_ms": round(sorted(judged)[int(0.9 * (len(judged) - 1))], 3),
                     "judge_max_ms": round(max(judged), 3), "naive_median_ms": round(statistics.median(naive), 3)})
    return rows


def format_fim_end(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    out = ["| suffix chars (median) | spans | end checks | judge median ms | judge p90 ms | judge max ms "
           "| tail parses (once per request and state) | tail parse median ms | whole-suffix parse median ms |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['suffix_chars']:,} | {r['spans']} | {r['checks']} | {r['judge_median_ms']} | "
                   f"{r['judge_p90_ms']} | {r['judge_max_ms']} | {r['tail_parses']} | {r['tail_parse_ms']} | "
                   f"{r['naive_median_ms']} |")
    return "\n".join(out)
