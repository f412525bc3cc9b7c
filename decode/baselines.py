"""Other engines' masks over the same teacher-forced files, for `bench mask`.

llguidance (Rust, Earley over a lazy lexer) and XGrammar (C++, Earley over
byte-level rules) cannot express Elm's layout, so they run a context-free
approximation of Elm, ``elm_cfg.lark`` beside this file, whose language is
larger than Elm's. Each function replays the files token by token: at every
timed position it computes the engine's full vocabulary mask into a bitmask,
checks that the true next token is allowed, then consumes it. When the
approximation refuses a true token, the refusal is recorded and the file stops
there (the positions before it still count). ``BASELINES`` says how `bench
mask` runs each engine: llguidance at every position, XGrammar (far slower on
this grammar) at a stride and with a per-file time budget.

>>> from transformers import AutoTokenizer                   # doctest: +SKIP
>>> from elmgrammar import starcoder2_path                   # doctest: +SKIP
>>> tok = AutoTokenizer.from_pretrained(starcoder2_path())   # doctest: +SKIP
>>> run = llguidance_times(tok, real_files)          # doctest: +SKIP
>>> run.accepted, len(run.times)                     # doctest: +SKIP
(149, 359608)
"""

from __future__ import annotations

import importlib.util
import re
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Sequence

from tqdm import tqdm

CFG_PATH = Path(__file__).with_name("elm_cfg.lark")


@dataclass
class BaselineRun:
    """One engine's replay of the files.

    ``times``: seconds per full mask; ``positions``: token positions replayed
    (every ``every``-th one timed); ``accepted``: files replayed to the end with
    EOS allowed there; ``rejected``: (path, position, token text) of the true
    tokens the approximate grammar refused, one per file at most;
    ``out_of_time``: (path, positions replayed) of the files stopped at the
    per-file time budget ``budget_s``."""

    engine: str
    version: str
    files: int = 0
    positions: int = 0
    every: int = 1
    budget_s: float | None = None
    accepted: int = 0
    setup_s: float = 0.0
    times: list[float] = field(default_factory=list)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)
    out_of_time: list[tuple[str, int]] = field(default_factory=list)


def available(engine: str) -> bool:
    """Whether ``engine`` ("llguidance" or "xgrammar") can be imported here."""
    return engine in BASELINES and importlib.util.find_spec(engine) is not None


def elm_cfg(path: str | Path = CFG_PATH) -> str:
    """The text of the context-free approximation of Elm (llguidance's Lark dialect)."""
    return Path(path).read_text(encoding="utf-8")


def xgrammar_cfg(lark: str) -> str:
    """``lark`` for XGrammar's Lark front end, which lacks llguidance's regex
    intersection and negation (`A & ~B`): the exclusions are dropped, which only
    makes the language larger (keywords may then also be names)."""
    return re.sub(r"\s*&\s*~/(?:[^/\\\n]|\\.)*/", "", lark)


def _ids(tokenizer, path: Path) -> list[int]:
    return tokenizer(Path(path).read_text(encoding="utf-8"), add_special_tokens=False, split_special_tokens=True)["input_ids"]


def _allowed(bitmask, token_id: int) -> bool:
    return bool((int(bitmask[0, token_id >> 5]) >> (token_id & 31)) & 1)


def _replay(run: BaselineRun, tokenizer, paths: Sequence[Path], new_matcher: Callable, fill: Callable,
            consume: Callable, bitmask, eos_id: int | None, desc: str) -> BaselineRun:
    """The loop both engines share: time ``fill(matcher, bitmask)`` at every
    ``run.every``-th position, check the true token, ``consume`` it; give up on
    a file after ``run.budget_s`` seconds."""
    timer = time.perf_counter
    every, budget = run.every, run.budget_s
    for path in tqdm(list(paths), desc=desc, unit="file", disable=None):
        ids = _ids(tokenizer, path)
        matcher = new_matcher()
        run.files += 1
        refused = None
        began = timer()
        for k, token_id in enumerate(ids):
            if k % every == 0:
                start = timer()
                fill(matcher, bitmask)
                run.times.append(timer() - start)
                if not _allowed(bitmask, token_id):
                    refused = k
            if refused is None and not consume(matcher, token_id):
                refused = k
            if refused is not None:
                run.positions += k
                run.rejected.append((str(path), k, tokenizer.decode([token_id])))
                break
            if budget is not None and timer() - began > budget and k + 1 < len(ids):
                run.positions += k + 1
                run.out_of_time.append((str(path), k + 1))
                break
        else:
            run.positions += len(ids)
            fill(matcher, bitmask)
            run.accepted += eos_id is not None and _allowed(bitmask, eos_id)
    return run


def llguidance_times(tokenizer, paths: Sequence[str | Path], every: int = 1,
                     budget_s: float | None = None, grammar: str | None = None) -> BaselineRun:
    """Teacher-force ``paths`` through llguidance with the Elm CFG approximation.

    ``tokenizer``: a fast Hugging Face tokenizer; ``every``: time the mask at
    every N-th position (1: all of them, as in decoding); ``budget_s``: seconds
    per file before giving up on it (None: no limit); ``grammar``: Lark text in
    place of ``elm_cfg.lark``. Setup (wrapping the tokenizer, compiling the
    grammar) is timed apart, in ``setup_s``."""
    import llguidance
    import llguidance.hf
    import llguidance.numpy

    start = time.perf_counter()
    lltok = llguidance.hf.from_tokenizer(tokenizer)
    compiled = llguidance.LLMatcher.grammar_from_lark(grammar if grammar is not None else elm_cfg())
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(compiled, lltok)
    if is_error:
        raise ValueError(f"llguidance refuses the grammar: {messages[0]}")
    run = BaselineRun("llguidance", _version("llguidance"), every=every, budget_s=budget_s)
    run.setup_s = time.perf_counter() - start
    bitmask = llguidance.numpy.allocate_token_bitmask(1, lltok.vocab_size)
    return _replay(run, tokenizer, [Path(p) for p in paths],
                   new_matcher=lambda: llguidance.LLMatcher(lltok, compiled, log_level=0),
                   fill=llguidance.numpy.fill_next_token_bitmask,
                   consume=lambda m, t: m.consume_token(t),
                   bitmask=bitmask, eos_id=lltok.eos_token, desc="bench llguidance")


def xgrammar_times(tokenizer, paths: Sequence[str | Path], every: int = 1,
                   budget_s: float | None = None, grammar: str | None = None) -> BaselineRun:
    """Teacher-force ``paths`` through XGrammar with the Elm CFG approximation
    (converted by :func:`xgrammar_cfg`). Arguments as :func:`llguidance_times`.

    Without a lexer, XGrammar's Earley parser meets every juxtaposition of this
    grammar as an ambiguity (``contextWith`` may be ``context`` applied to
    ``With``): masks cost from milliseconds to seconds and consuming a token up
    to ~100 ms deep inside large files, so a whole-corpus replay takes hours.
    Benchmarks therefore run it with a stride and a per-file budget."""
    import xgrammar

    start = time.perf_counter()
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer)
    compiled = xgrammar.GrammarCompiler(info).compile_grammar(
        xgrammar.Grammar.from_lark(xgrammar_cfg(grammar if grammar is not None else elm_cfg())))
    run = BaselineRun("xgrammar", _version("xgrammar"), every=every, budget_s=budget_s)
    run.setup_s = time.perf_counter() - start
    bitmask = xgrammar.allocate_token_bitmask(1, info.vocab_size)  # a CPU torch tensor
    stops = info.stop_token_ids
    return _replay(run, tokenizer, [Path(p) for p in paths],
                   new_matcher=lambda: xgrammar.GrammarMatcher(compiled),
                   fill=lambda m, b: m.fill_next_token_bitmask(b), consume=lambda m, t: m.accept_token(t),
                   bitmask=bitmask, eos_id=stops[0] if stops else None, desc="bench xgrammar")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


# engine -> (function, the keyword arguments `bench mask` runs it with)
BASELINES: dict[str, tuple[Callable[..., BaselineRun], dict]] = {
    "llguidance": (llguidance_times, {"every": 1}),
    "xgrammar": (xgrammar_times, {"every": 10, "budget_s": 1.0}),
}
