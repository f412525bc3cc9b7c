"""vLLM integration: the grammar constraint as a vLLM (V1) logits processor.

vLLM loads the class by itself (``LLM(..., logits_processors=[ElmLogitsProcessor])``,
``vllm serve --logits-processors elmgrammar.decode.vllm:ElmLogitsProcessor``, or
the ``vllm.logits_processors`` entry point). A request opts in through its
sampling parameters; the others are left exactly as they were:

>>> from vllm import LLM, SamplingParams                                            # doctest: +SKIP
>>> llm = LLM(model="bigcode/starcoder2-3b", logits_processors=[ElmLogitsProcessor])  # doctest: +SKIP
>>> params = SamplingParams(max_tokens=256, temperature=0,
...                         extra_args=elm_extra_args("declarations"))            # doctest: +SKIP
>>> out = llm.generate(["view model ="], params)[0].outputs[0].text               # doctest: +SKIP
>>> out[:unit_end("view model =", out)]                                             # doctest: +SKIP

Each opted-in row of vLLM's persistent batch has a
:class:`~elmgrammar.decode.matcher.Matcher`, made from the prompt's token ids
and kept in step with the request's live list of output ids at every step (a
request preempted and recomputed, or re-added, is followed by comparing the
matcher's tokens with that list and rolling back / replaying the difference).
Masks are exact: a greedy row keeps its best allowed token (and those tied
with it), judged in score order; a row sampled at a temperature (with or
without top-k) keeps one token, drawn by the processor from the distribution
the full mask and vLLM's sampler would give (by rejection, with the request's
own seed); a top-k row with top-p or min-p its ``top_k`` best allowed tokens;
any other row (top-p alone, penalties, which vLLM applies after the processors)
gets the full mask. Once a row's unit has ended
(``stop_at_unit_end``, the default) or its program is over, only EOS is
allowed. vLLM cannot cut the text where the unit ended: the completion then
ends with the start of the next item, which ``unit_end(prompt, completion)``
says where to cut (``elmgrammar generate --engine vllm`` cuts it).
"""

from __future__ import annotations

import logging
import itertools
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from .closing import Closer, eos_probability
from .fastmask import FastMasker
from .matcher import Matcher
from .sampling import draw_from_set, draw_lazily, row_judges
from .scores import best_per_row, candidates, keep_only
from .state import MODES, ElmParseState, PromptError
from .vocab import vocab_from_tokenizer

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig

logger = logging.getLogger(__name__)

# the key of SamplingParams.extra_args under which a request opts in
OPTION_KEY = "elm"
# vLLM's own bound: a temperature below it is greedy search
_GREEDY_BELOW = 1e-5
# greedy rows: candidates judged one by one (in score order) before the full mask
_LAZY = 16
# top-k rows: candidates judged together (by class) before the full mask
_NEAR = 256
# rows the processor draws for: the best candidates through which the model's
# distribution is sampled, the draws made before the row takes its exact set, and
# the entries judged one by one before its candidates are judged by class
_CANDIDATES = 64
_DRAWS = 64
_DRAW_BUDGET = 16


@dataclass(frozen=True)
class ElmOptions:
    """What an opted-in request asks for: ``mode`` ("module", "declarations" or
    "expression"); ``stop_at_unit_end``: only EOS once the unit has ended;
    ``max_blank_lines``: tokens that would start a line after that many blank
    lines in a row are masked (None: no limit), as the Hugging Face processor does;
    ``close``: the grammar writes the closing where the model would end before its
    program is whole or the request's ``max_tokens`` would cut it off
    (``closing.py``), as ``complete(close=True)`` does."""

    mode: str = "declarations"
    stop_at_unit_end: bool = True
    max_blank_lines: int | None = 2
    close: bool = True


def elm_extra_args(mode: str = "declarations", stop_at_unit_end: bool = True,
                   max_blank_lines: int | None = 2, close: bool = True) -> dict:
    """The ``SamplingParams.extra_args`` with which a request opts in.

    >>> elm_extra_args("expression")
    {'elm': {'mode': 'expression', 'stop_at_unit_end': True, 'max_blank_lines': 2, 'close': True}}
    """
    return {OPTION_KEY: {"mode": mode, "stop_at_unit_end": stop_at_unit_end, "max_blank_lines": max_blank_lines,
                         "close": close}}


def elm_options(params: "SamplingParams") -> ElmOptions | None:
    """The request's options (None: it did not opt in). A bad value raises
    ``ValueError`` naming the option and what it may be.

    ``extra_args["elm"]`` is an object (``elm_extra_args``) or, shorter, the mode's
    name. A served request's ``vllm_xargs`` (the OpenAI-style body's field that
    vLLM turns into ``extra_args``) takes flat values only: ``{"elm": "declarations",
    "elm_stop_at_unit_end": 0, "elm_max_blank_lines": -1, "elm_close": 0}`` (-1: no limit)."""
    extra = getattr(params, "extra_args", None) or {}
    if OPTION_KEY not in extra:
        return None
    given = extra[OPTION_KEY]
    where = f"extra_args[{OPTION_KEY!r}]"
    if isinstance(given, str):
        given = {"mode": given}
    elif not isinstance(given, dict):
        raise ValueError(f"{where} must be a mode name or an object such as {{\"mode\": \"declarations\"}}, "
                         f"not {given!r}")
    given = dict(given)
    flat = {name: f"{OPTION_KEY}_{name}" for name in ("stop_at_unit_end", "max_blank_lines", "close")}
    for name, key in flat.items():
        if key in extra:
            value = extra[key]
            if name in ("stop_at_unit_end", "close") and value in (0, 1) and not isinstance(value, bool):
                value = bool(value)
            if name == "max_blank_lines" and value == -1:
                value = None
            given[name] = value
    unknown = sorted(set(given) - {"mode", "stop_at_unit_end", "max_blank_lines", "close"})
    if unknown:
        raise ValueError(f"{where}: unknown option {unknown[0]!r} (known: mode, stop_at_unit_end, max_blank_lines, "
                         "close)")
    mode = given.get("mode", "declarations")
    if mode not in MODES:
        raise ValueError(f"{where}['mode'] must be one of {', '.join(MODES)}, not {mode!r}")
    stop, close = given.get("stop_at_unit_end", True), given.get("close", True)
    for name, value in (("stop_at_unit_end", stop), ("close", close)):
        if not isinstance(value, bool):
            raise ValueError(f"{where}[{name!r}] must be true or false, not {value!r}")
    blank = given.get("max_blank_lines", 2)
    if blank is not None and (isinstance(blank, bool) or not isinstance(blank, int) or blank < 0):
        raise ValueError(f"{where}['max_blank_lines'] must be a whole number >= 0 or null, not {blank!r}")
    return ElmOptions(mode, stop, blank, close)


class _Request:
    """One opted-in row: its matcher, the live output list vLLM appends to, the
    ids the matcher consumed (a prefix of it), and how the row is masked."""

    __slots__ = ("matcher", "output", "consumed", "refused", "options", "keep", "draw", "offered", "number", "draws",
                 "temperature", "top_k", "max_tokens")

    def __init__(self, matcher: Matcher, output: list[int], options: ElmOptions, keep: int, number: int,
                 params: "SamplingParams") -> None:
        self.matcher = matcher
        self.output = output
        self.consumed: list[int] = []
        self.refused: int | None = None  # an output id the matcher refused (the mask was not obeyed)
        self.options = options
        self.keep = keep  # 1: greedy; k > 1: top-k sampling; 0: the full mask
        self.draw = _drawn(params)  # the processor draws the row's token itself
        # closing: the request's place in the closer's keys, and its own random stream
        # for "would the model end here?" (seeded as the request is)
        self.number = number
        self.draws = random.Random(params.seed)
        self.temperature, self.top_k, self.max_tokens = params.temperature, params.top_k, params.max_tokens
        # the states after the tokens the last mask judged one by one: the next token
        # is one of them as a rule, and is then consumed without being judged again
        self.offered: dict[int, ElmParseState] = {}

    def sync(self) -> None:
        """Bring the matcher in step with the output list: roll back to the longest
        common prefix where the list changed under it (preemption, recomputation),
        then consume the ids it has not seen."""
        out, consumed = self.output, self.consumed
        n = len(consumed)
        if len(out) < n or out[:n] != consumed:
            common = next((i for i, (a, b) in enumerate(zip(out, consumed)) if a != b), min(len(out), n))
            self.matcher.rollback(n - common)
            self.offered = {}
            del consumed[common:]
            self.refused, n = None, common
        if self.refused is not None:
            if len(out) > n and out[n] == self.refused:
                return
            self.refused = None
        offered, self.offered = self.offered, {}
        for token_id in out[n:]:
            if token_id < 0:
                break  # a placeholder for an id not known yet
            after = offered.pop(token_id, None) if len(consumed) == n else None
            if after is not None:
                self.matcher.consume_judged(token_id, after)
            elif not self.matcher.consume_token(token_id):
                self.refused = token_id
                break
            consumed.append(token_id)

    def key(self) -> tuple:
        """The request's key for the closer: its number and the ids it consumed
        (so a plan follows rollbacks by itself)."""
        return (self.number, tuple(self.consumed))

    def wants_eos(self, logits: torch.Tensor, eos: int) -> bool:
        """Would the model end here, left to itself? Greedy: EOS is its best token;
        sampled: a draw with EOS's probability at the request's temperature, within
        its top-k cut."""
        if self.temperature < _GREEDY_BELOW:
            return best_per_row(logits[None], [0], len(logits))[0].token_id == eos
        p = float(eos_probability(logits, eos, self.temperature, max(self.top_k, 0)))
        return self.draws.random() < p

    def ended(self) -> bool:
        """Only EOS may follow: the unit or program ended, or an id was refused."""
        return self.refused is not None or self.matcher.is_stopped()

    def blank_capped(self) -> bool:
        """Has the text reached the limit of consecutive blank lines?"""
        limit = self.options.max_blank_lines
        if limit is None:
            return False
        tail = self.matcher.state.text[-(limit + 8) * 8:].rstrip(" \r")
        return len(tail) - len(tail.rstrip("\n")) > limit


def _drawn(params: "SamplingParams") -> bool:
    """May the processor draw the row's token itself (``ElmLogitsProcessor._draws``)?
    Sampling at a temperature, with or without top-k, and nothing else that vLLM
    applies after the processors (top-p, min-p, penalties)."""
    return params.temperature >= _GREEDY_BELOW and params.top_p >= 1.0 and not params.min_p and not _penalised(params)


def _penalised(params: "SamplingParams") -> bool:
    """Does vLLM apply penalties to the row (after the processors: they can reorder
    its scores)?"""
    return params.repetition_penalty != 1.0 or bool(params.presence_penalty) or bool(params.frequency_penalty)


def _keep_count(params: "SamplingParams") -> int:
    """How a row may be masked exactly: 1 (greedy: its best allowed token), k
    (top-k sampling: its k best allowed tokens) or 0 (the full mask). vLLM applies
    penalties after the processors: they can reorder the scores, so such rows
    take the full mask."""
    if _penalised(params):
        return 0
    if params.temperature < _GREEDY_BELOW:
        return 1
    return params.top_k if 0 < params.top_k <= _NEAR // 4 else 0


class _ElmMasking:
    """What the processors for vLLM's two model runners share: one ``_Request`` per
    opted-in row (``rows``: logits row -> request, kept by each processor its own
    way), and the masking of those rows (``_constrain``).

    The tokenizer is the model's (vLLM's ``model_config.tokenizer``); its
    vocabulary's precomputation is cached on disk. ``dead_ends`` counts rows
    left with no allowed token (a sound mask never has one; they get EOS)."""

    def _setup(self, vllm_config: "VllmConfig") -> None:
        from transformers import AutoTokenizer

        model_config = vllm_config.model_config
        tokenizer = AutoTokenizer.from_pretrained(model_config.tokenizer,
                                                  revision=getattr(model_config, "tokenizer_revision", None),
                                                  trust_remote_code=model_config.trust_remote_code)
        self.vocab = vocab_from_tokenizer(tokenizer)
        self.masker = FastMasker(self.vocab)
        self.eos_id = self.vocab.eos_id
        self.rows: dict[int, _Request] = {}
        self.dead_ends = 0
        self._newline_first = self.vocab.newline_first
        # one closer for all requests (each with its own budget, set as it is asked)
        self.closer = Closer(lambda text: tokenizer.encode(text, add_special_tokens=False), self.eos_id,
                             self.vocab.pieces) \
            if self.eos_id is not None else None
        self._numbers = itertools.count()

    def _request(self, params: "SamplingParams", prompt_ids: list[int] | None, output: list[int]) -> _Request | None:
        options = elm_options(params)
        if options is None:
            return None
        pieces = self.vocab.pieces
        prompt = b"".join(pieces[t] or b"" for t in prompt_ids or () if 0 <= t < len(pieces))
        text = prompt.decode("utf-8", "replace")
        try:
            matcher = Matcher(self.masker, options.mode, text, options.stop_at_unit_end)
        except PromptError as e:
            # the engine must not fail for one request: this one gets EOS at once
            logger.warning("elmgrammar: a request's prompt cannot start a program (%s): it ends at once", e)
            matcher = Matcher(self.masker, options.mode, text, options.stop_at_unit_end, strict=False)
        return _Request(matcher, output, options, _keep_count(params), next(self._numbers), params)

    def _constrain(self, logits: torch.Tensor) -> torch.Tensor:
        """Mask the opted-in rows of ``logits`` (``rows``; in place, the others are untouched)."""
        if not self.rows:
            return logits
        width = min(logits.shape[1], len(self.vocab))
        rows = sorted(r for r in self.rows if r < logits.shape[0])
        keep: dict[int, list[int] | np.ndarray] = {}
        lazy: list[int] = []
        drawn: list[int] = []
        skip: set[int] = set()
        for r in rows:
            request = self.rows[r]
            request.sync()
            if request.ended():
                if self.eos_id is not None:  # (a vocabulary without EOS: nothing to end with)
                    keep[r] = [self.eos_id]
                else:
                    skip.add(r)
                continue
            forced = self._closing(request, logits[r, :width]) if request.options.close else None
            if forced is not None:
                keep[r] = [forced]
            elif request.draw:
                drawn.append(r)
            elif request.keep:
                lazy.append(r)
        if self.closer is not None:  # (only closing rows have plans to keep)
            self.closer.retain([self.rows[r].key() for r in rows if self.rows[r].options.close])
            self.closer.closed.clear()  # (the engine's outputs say how a request ended)
        if lazy:
            keep.update(self._lazy(logits, lazy, width))
        if drawn:
            keep.update(self._draws(logits, drawn, width))
        for r in rows:
            if r not in keep and r not in skip:
                keep[r] = self._full(self.rows[r], width)
        self._mask(logits, keep)
        return logits

    def _closing(self, request: _Request, logits: torch.Tensor) -> int | None:
        """The token a row must take because it is being closed, or closed now (the
        model would end it unfinished, or its budget left only just holds the closing)."""
        closer = self.closer
        if closer is None:
            return None
        key = request.key()
        token = closer.forced(key)
        matcher = request.matcher
        if token is None and request.wants_eos(logits, self.eos_id):
            token = closer.at_eos(key, matcher)
        if token is None:
            # the output list may end in placeholders of ids not known yet (asynchronous
            # scheduling): they count against the budget too
            unknown = len(request.output) - len(request.consumed)
            token = closer.budget_due(key, matcher, request.max_tokens - unknown)
        return token

    def _lazy(self, logits: torch.Tensor, rows: list[int], width: int) -> dict[int, list[int] | np.ndarray]:
        """The best allowed tokens of greedy and top-k rows, judged in score order
        (ties with the last one kept are kept too: greedy takes the lowest id among
        tied best scores, vLLM's top-k keeps every tie, so the choice is what the
        full mask would leave). A row the candidates do not decide takes the full mask.
        A greedy row whose best token is allowed and tied with none keeps it without
        further candidates being fetched (the common case, and much the cheapest)."""
        found: dict[int, list[int] | np.ndarray] = self._best_alone(
            logits, [r for r in rows if self.rows[r].keep == 1], width)
        rows = [r for r in rows if r not in found]
        if not rows:
            return found
        depth = min(width, _LAZY if all(self.rows[r].keep == 1 for r in rows) else _NEAR)
        top = torch.topk(logits[rows, :width], depth, dim=-1)
        for r, ids, values in zip(rows, top.indices.tolist(), top.values.tolist()):
            request = self.rows[r]
            capped = request.blank_capped()
            k = request.keep
            state = request.matcher.state
            if k == 1:
                order = [t for t in ids[:_LAZY] if not (capped and self._newline_first[t])]
                judged = self.masker.lazy_advanced(state, order, 1)
                chosen = [t for t, _ in judged]
                request.offered = {t: after for t, after in judged if after is not None}

                def judge(tied: list[int]) -> list[int]:
                    found = self.masker.lazy_advanced(state, tied, len(tied))
                    request.offered.update((t, after) for t, after in found if after is not None)
                    return [t for t, _ in found]
            else:
                among = np.zeros(self.masker.size, dtype=bool)
                among[ids] = True
                allowed = self._allowed(request, width, among)
                chosen = [t for t in ids if allowed[t]][:k]

                def judge(tied: list[int]) -> list[int]:
                    return [t for t in tied if allowed[t]]
            kept = self._with_ties(chosen, k, ids, values, capped, depth, judge)
            if kept is not None:
                found[r] = kept
        return found

    def _draws(self, logits: torch.Tensor, rows: list[int], width: int) -> dict[int, list[int]]:
        """Rows sampled at a temperature (with or without top-k): the processor draws
        each one's token itself and keeps it alone, so that vLLM's sampler takes it.
        Drawn by rejection from the model's distribution (``sampling.py``: a token
        drawn is kept if allowed and within the top-k of the allowed ones), with the
        request's own random stream, which gives the distribution of the full mask
        followed by vLLM's temperature and top-k, for a judgement or two per row. A
        row the draws leave undecided draws from its exact set; one with nothing to
        draw (every score masked, or nothing allowed) is left to the full mask."""
        found: dict[int, list[int]] = {}
        depth = min(width, max([_CANDIDATES] + [self.rows[r].top_k for r in rows]))
        temperatures = [self.rows[r].temperature for r in rows]
        for r, best in zip(rows, candidates(logits, rows, width, depth, temperatures)):
            if best.lse == float("-inf"):
                continue
            request = self.rows[r]
            top_k = request.top_k if 0 < request.top_k < width else None
            state = request.matcher.state
            judge, allowed_among, after = row_judges(
                lambda token_id: self.masker.lazy_advanced(state, [token_id], 1),
                lambda among: self._allowed(request, width, among), self.masker.size,
                self._newline_first if request.blank_capped() else None)
            uniforms = [request.draws.random() for _ in range(_DRAWS + 2)]
            drawn = draw_lazily(best.ids, best.values, best.cumulative, best.lse, top_k, None, uniforms[:_DRAWS],
                                judge, allowed_among, _DRAW_BUDGET)
            token = drawn.token
            if token is None:
                members = np.flatnonzero(self._allowed(request, width))
                values = logits[r, :width].float().cpu().numpy()[members] / request.temperature
                if top_k and len(members) > top_k:
                    inside = values >= np.partition(values, -top_k)[-top_k]  # the top_k best, with ties
                    members, values = members[inside], values[inside]
                token = draw_from_set(members, values, set(best.ids), drawn, best.lse, best.cumulative[-1],
                                      uniforms[_DRAWS], uniforms[_DRAWS + 1])
            if token is not None:
                found[r] = [token]
                request.offered = {token: after[token]} if after.get(token) is not None else {}
        return found

    def _best_alone(self, logits: torch.Tensor, rows: list[int], width: int) -> dict[int, list[int]]:
        """The greedy rows of ``rows`` whose best token is allowed and tied with no
        other: that token alone (what the full mask and argmax would leave), its
        state offered for the next step. The other rows are not in the result."""
        found: dict[int, list[int]] = {}
        if not rows:
            return found
        for r, best in zip(rows, best_per_row(logits, rows, width)):
            request = self.rows[r]
            if best.tied or not best.score > float("-inf") or \
                    (self._newline_first[best.token_id] and request.blank_capped()):
                continue
            judged = self.masker.lazy_advanced(request.matcher.state, [best.token_id], 1)
            if judged:
                token_id, after = judged[0]
                request.offered = {token_id: after} if after is not None else {}
                found[r] = [token_id]
        return found

    def _with_ties(self, chosen: list[int], k: int, ids: list[int], values: list[float], capped: bool,
                   depth: int, judge) -> list[int] | None:
        """``chosen`` (the first allowed candidates) and the allowed candidates tied
        with the last of them; None where the candidates do not decide (too few
        allowed, a tie that may run past them, or scores already masked)."""
        if len(chosen) < k:
            return None
        i = ids.index(chosen[-1])
        if values[i] == float("-inf"):
            return None
        end = i + 1
        while end < len(ids) and values[end] == values[i]:
            end += 1
        if end == len(ids) and depth < len(self.vocab):
            return None
        tied = [t for t in ids[i + 1:end] if not (capped and self._newline_first[t])]
        return chosen + judge(tied) if tied else chosen

    def _full(self, request: _Request, width: int) -> np.ndarray:
        """The full mask of a row; EOS alone at a dead end."""
        allowed = self._allowed(request, width)
        if not allowed.any():
            self.dead_ends += 1
            allowed = np.zeros(width, dtype=bool)
            if self.eos_id is not None and self.eos_id < width:
                allowed[self.eos_id] = True
        return allowed

    def _allowed(self, request: _Request, width: int, among: np.ndarray | None = None) -> np.ndarray:
        """The allowed tokens over the first ``width`` ids (with ``among``: judged
        there only), with the blank-line limit."""
        allowed = self.masker.full_mask(request.matcher.state, among)[:width]
        if request.blank_capped():
            allowed = allowed & ~self.vocab.newline_first[:width]
        return allowed

    def _mask(self, logits: torch.Tensor, keep: dict[int, list[int] | np.ndarray]) -> None:
        """Set every score not kept to -inf, in place: rows that keep a few ids through
        ``scores.keep_only`` (a token kept alone, EOS or a closing's, gets a finite
        score even where an earlier processor such as min_tokens masked it, so that
        sampling never sees a row of -inf), rows with a full mask by one masked fill each."""
        keep_only(logits, {r: ids for r, ids in keep.items() if not isinstance(ids, np.ndarray)})
        for r, allowed in keep.items():
            if isinstance(allowed, np.ndarray):
                row = logits[r]
                row[:len(allowed)].masked_fill_(torch.from_numpy(~allowed).to(row.device), float("-inf"))
                row[len(allowed):] = float("-inf")


class ElmLogitsProcessor(_ElmMasking, LogitsProcessor):
    """Masks, for the requests that opt in (see ``elm_options``), every token that
    would make the program unparseable; see the module docstring. The V1
    interface (``vllm.v1.sample.logits_processor``): vLLM's CPU build, and its GPU
    build with ``VLLM_USE_V2_MODEL_RUNNER=0``; Model Runner V2 takes
    ``vllm_v2.ElmLogitsProcessorV2``."""

    def __init__(self, vllm_config: "VllmConfig", device: torch.device, is_pin_memory: bool) -> None:
        self._setup(vllm_config)

    @classmethod
    def validate_params(cls, sampling_params: "SamplingParams") -> None:
        """Refuse bad options (a ``ValueError``: HTTP 400 when serving)."""
        elm_options(sampling_params)

    def is_argmax_invariant(self) -> bool:
        """The mask changes greedy search's choice: always applied."""
        return False

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        """Follow the batch: rows removed, added (a matcher each, for opted-in
        requests; an added row replaces whatever was at its index), moved or
        swapped, in that order (vLLM's)."""
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.rows.pop(index, None)
        for index, params, prompt_ids, output in batch_update.added:
            request = self._request(params, prompt_ids, output)
            if request is None:
                self.rows.pop(index, None)
            else:
                self.rows[index] = request
        for a, b, direction in batch_update.moved:
            first, second = self.rows.pop(a, None), self.rows.pop(b, None)
            if first is not None:
                self.rows[b] = first
            if second is not None and direction == MoveDirectionality.SWAP:
                self.rows[a] = second

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Mask the opted-in rows of ``logits`` (in place; the others are untouched)."""
        return self._constrain(logits)
