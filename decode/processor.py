"""Hugging Face integration: a LogitsProcessor that never lets the model write
unparseable Elm (the stopping rule that ends a sequence at the end of its unit is
in ``stopping.py``).

The processor keeps one parse state per generated sequence, keyed by the tokens
generated so far, so it follows greedy search, sampling, beam search (whose rows
are reordered every step), ``num_return_sequences`` and batches of different
prompts with left padding alike. The mask is built on the CPU once per step and
applied to the scores with one masked fill, on the scores' own device.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor

from .closing import Closer, eos_probability
from .fastmask import FastMasker
from .fim import SuffixError, SuffixJudge, check_suffix
from .masks import Masker
from .matcher import Matcher
from .rows import Histories, Row, RowTable
from .sampling import Draw, draw_from_set, draw_lazily, nucleus, row_judges
from .scores import best_per_row, candidates
from .state import ElmParseState, PromptError
from .vocab import Vocab, vocab_from_tokenizer


# Past this many entries judged one by one for a row, judging its best candidates
# by class costs less (so also for a top_k above it).
_LAZY_BUDGET = 16
# Candidates judged together (by lexical class) before the whole vocabulary is.
_NEAR = 256
# Sampling by rejection ("sample"): the best candidates through which the model's
# distribution is sampled, and the draws a row makes before it takes its exact set
# (a token drawn again after a refusal costs nothing; new tokens judged count
# against _LAZY_BUDGET).
_CANDIDATES = 64
_DRAWS = 64


class ElmGrammarLogitsProcessor(LogitsProcessor):
    """Masks every token that would make the program unparseable.

    ``prompts``: the prompt text of each batch entry (rows beyond them, from
    ``num_return_sequences`` or beams, are matched to prompts in order). A prompt
    that no valid program starts with raises :class:`PromptError` (with the line
    and column in it): nothing could be allowed after it.
    ``strategy``: "lazy" keeps the ``top_k`` best allowed tokens, judging candidates
    in score order (a row whose best candidates are refused, or a ``top_k`` over
    16, takes them from the full mask instead: cheaper then); exact for greedy
    search, and for top-k sampling left to generate. "full" keeps every allowed
    token (needed for beam search). "sample" draws each row's token here, from the
    allowed tokens (the ``top_k`` best of them, then their nucleus ``top_p``; with
    neither, all) at ``temperature``, with exactly the probabilities generate's
    sampling would give them after the full mask, and keeps that token alone
    (generate takes it, whatever its own settings: give the processor the top-k and
    top-p cuts, and generate no other warper that should cut the set, such as
    min-p); a model that writes Elm usually has a token or two judged per step (see
    ``sampling.py``). Random numbers come from torch's global generator:
    ``torch.manual_seed`` repeats a run. "auto" picks sample when ``top_p`` is
    given, lazy when ``top_k`` is, else full. ``complete()`` picks by itself.

    A dead end (no token allowed) cannot happen with a sound mask; if it does, the
    row is allowed EOS only, so generation ends cleanly, and ``dead_ends`` counts it.

    ``max_blank_lines`` (default 2, None for no limit): tokens that would start a
    further line after that many blank lines in a row are masked too, so a weak
    model cannot fill its budget with newlines (valid Elm, but never written).

    ``stop_at_unit_end``: once a row's unit has ended (its program is complete and
    the next top-level item begins), only EOS is allowed. A ``UnitStop`` given this
    processor ends such rows at once and reads the same matchers.

    ``suffixes``: fill-in-the-middle, the text after the middle of each prompt (the
    prompt is the prefix; lay the model's input out with ``fim.fim_prompt_ids``):
    EOS is allowed only where prefix + middle + suffix parses in the mode, and
    tokens after which no middle can join the suffix are masked (``prune=False``:
    the end rule only). A suffix no middle can join raises
    :class:`~elmgrammar.decode.fim.SuffixError` with its line and column.

    ``close``: where the model would end a row (its choice is EOS: the best token
    in greedy search and beams, a draw with EOS's probability when the processor
    samples) but the program is not whole yet, the row is finished with the
    shortest closing (``closing.py``: the brackets, quotes, keywords and
    placeholders it lacks), forced token by token, then EOS; ``close_within``
    (generate's ``max_new_tokens``): also where the budget left only just holds
    the closing, so that rows end whole instead of cut off. ``closer.closed`` says
    which rows were closed, why and with what text.

    Each row is a :class:`~elmgrammar.decode.matcher.Matcher` (``rows`` finds them).
    """

    def __init__(self, tokenizer, prompts: list[str] | str, mode: str = "declarations",
                 strategy: str = "auto", top_k: int | None = None, vocab: Vocab | None = None,
                 masker: Masker | None = None, max_blank_lines: int | None = 2,
                 top_p: float | None = None, temperature: float = 1.0, stop_at_unit_end: bool = False,
                 suffixes: list[str] | str | None = None, prune: bool = True, close: bool = False,
                 close_within: int | None = None) -> None:
        if strategy not in ("auto", "lazy", "full", "sample"):
            raise ValueError("strategy must be auto, lazy, full or sample")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.top_p = top_p if top_p is not None and top_p < 1 else None
        self.temperature = temperature
        if self.top_p is not None and strategy == "auto":
            strategy = "sample"
        if self.top_p is not None and strategy != "sample":
            raise ValueError("top_p is a cut of the processor's own draws (strategy 'sample'); with a mask, "
                             "give it to generate")
        self.prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        self.mode = mode
        self.vocab = vocab or vocab_from_tokenizer(tokenizer)
        self.masker = masker or FastMasker(self.vocab)
        self.strategy = "lazy" if strategy == "auto" and top_k else strategy
        if self.strategy == "auto":
            self.strategy = "full"
        self.top_k = top_k or (0 if self.strategy == "sample" else 1)  # sample: 0 is every allowed token
        self.eos_id = self.vocab.eos_id
        judges = _suffix_judges(suffixes, len(self.prompts), mode, prune)
        self.suffix_judges = judges
        self.rows = RowTable([_prompt_matcher(self.masker, p, mode, i, len(self.prompts), stop_at_unit_end, judge)
                              for i, (p, judge) in enumerate(zip(self.prompts, judges))])
        self._prompt_len: int | None = None
        self._histories = Histories()
        self.dead_ends = 0
        # Blank lines are always valid Elm, so a weak model can emit them forever;
        # elm-format never writes more than two in a row: neither may the model.
        self.max_blank_lines = max_blank_lines
        self._newline_first = self.vocab.newline_first
        self.closer = None
        if close or close_within is not None:
            if self.eos_id is None:
                raise ValueError("closing ends rows with EOS: the tokenizer has none")
            self.closer = Closer(lambda text: tokenizer.encode(text, add_special_tokens=False), self.eos_id,
                                 self.vocab.pieces, close_within)

    def _blank_capped(self, row: Row) -> bool:
        """Has this row's text reached the limit of consecutive blank lines?"""
        if self.max_blank_lines is None:
            return False
        tail = row.matcher.state.text[-(self.max_blank_lines + 8) * 8:].rstrip(" \r")
        return len(tail) - len(tail.rstrip("\n")) > self.max_blank_lines

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, length = input_ids.shape
        if self._prompt_len is None:
            self._prompt_len = length
        histories = self._histories(input_ids[:, self._prompt_len:])
        width = min(scores.shape[1], len(self.vocab))
        keys = [self.rows.key(r, rows, generated) for r, generated in enumerate(histories)]
        states = [self.rows.get(r, rows, generated) for r, generated in enumerate(histories)]
        # keep only the rows of live sequences (the parents of the next step)
        self.rows.retain(keys)
        # per row: the ids it keeps, or its full mask (a row that has ended: nothing
        # here, a finite score for its last token below; a row whose unit ended: EOS)
        keep: list[list[int] | np.ndarray] = [[] for _ in states]
        for r, row in enumerate(states):
            if not row.ended and row.matcher.is_stopped():
                keep[r] = [self.eos_id]
        forced: list[tuple[int, int]] = []
        if self.closer is not None:
            self.closer.retain(keys)
            forced = self._close(states, keys, scores, width, keep)
        going = [r for r, row in enumerate(states) if not row.ended and not keep[r]]
        if going:
            sub = scores if len(going) == rows else scores[torch.tensor(going, device=scores.device)]
            for r, kept in zip(going, self._keep([states[r] for r in going], [keys[r] for r in going], sub, width)):
                keep[r] = kept
        dead = [r for r in going if not _any(keep[r])]
        self.dead_ends += len(dead)
        out = _masked(scores, keep)
        # EOS for a dead end, the last token for a row that has ended: finite even where
        # an earlier processor (min_new_tokens) masked it, so that sampling never sees
        # a row of -inf (generate ignores what an ended row picks) and the row ends cleanly
        fixed = [(r, self.eos_id) for r in dead if self.eos_id is not None]
        fixed += [(r, histories[r][-1]) for r, row in enumerate(states) if row.ended]
        # a closing's token too: an earlier processor (min_new_tokens, bad words) may have masked it
        fixed += [(r, token) for r, token in forced if scores[r, token] == float("-inf")]
        if fixed:
            fixed_rows, fixed_cols = torch.tensor(fixed, device=scores.device).T
            out[fixed_rows, fixed_cols] = 0.0
        return out

    def _close(self, states: list[Row], keys: list[tuple], scores: torch.FloatTensor, width: int,
               keep: list) -> list[tuple[int, int]]:
        """The rows being closed, or to be closed now, keep their closing's next token;
        returns them, (row, token) each."""
        closer = self.closer
        forced: list[tuple[int, int]] = []
        wants_eos = self._wants_eos(scores, width)
        for r, row in enumerate(states):
            if row.ended or keep[r]:
                continue
            token = closer.forced(keys[r])
            if token is None and wants_eos[r]:
                token = closer.at_eos(keys[r], row.matcher)
            if token is None:
                token = closer.budget_due(keys[r], row.matcher)
            if token is not None:
                keep[r] = [token]
                forced.append((r, token))
        return forced

    def _wants_eos(self, scores: torch.FloatTensor, width: int) -> list[bool]:
        """Per row, would the model end here, left to itself? Sampled by the
        processor: a draw with EOS's probability (at the temperature, within the
        top-k cut); otherwise: EOS is the best token."""
        eos = self.eos_id
        if eos >= width:
            return [False] * scores.shape[0]
        if self.strategy != "sample":
            return [best.token_id == eos for best in best_per_row(scores, range(scores.shape[0]), width)]
        p = eos_probability(scores[:, :width], eos, self.temperature, self.top_k)
        return (torch.rand(len(p)) < p.cpu()).tolist()

    def _keep(self, states: list[Row], keys: list[tuple], scores: torch.FloatTensor,
              width: int) -> list[list[int] | np.ndarray]:
        """What each row keeps (``scores``: one row per state), by the strategy."""
        if self.strategy == "sample":
            return self._draws(states, keys, scores, width)
        if self.strategy == "lazy":
            return self._lazy(states, keys, scores, width)
        return [self._full_allowed(row, width) for row in states]

    def _lazy(self, states: list[Row], keys: list[tuple], scores: torch.FloatTensor, width: int) -> list[list[int]]:
        """The first ``top_k`` allowed tokens of each row, in score order, and the
        allowed ones tied with the last of them: greedy search takes the lowest id
        among tied best scores and the top-k warper keeps every tie (bf16 models tie
        often), so this leaves exactly the choice the full mask would. The best few
        candidates of all rows come from one ``topk`` (one small transfer to the
        CPU). A row whose first 16 judged candidates do not suffice (a weak model's
        guesses refused, a place where little is allowed), or whose ties run past
        the candidates fetched, has its best 256 candidates judged together, by
        class (about as much as judging 20 one by one), then if need be the full
        mask; with a masker that has no fast full mask it looks 16 times deeper
        instead.
        The states the judging made are kept for the next step (it extends each row
        by one of them)."""
        chosen: list[list[tuple[int, ElmParseState | None]]] = [[] for _ in states]
        looking = list(range(len(states)))
        seen, depth = 0, min(width, max(16, 4 * self.top_k))
        judged = [0] * len(states)  # entries judged one by one, per row
        fast = isinstance(self.masker, FastMasker)
        if fast and self.top_k > _LAZY_BUDGET:
            looking = []  # so many allowed tokens to find: judging by class is cheaper
            chosen = self._best_allowed(states, list(range(len(states))), scores, width)
        elif self.top_k == 1:
            # greedy: a row whose best token is allowed and tied with none needs no
            # other candidate (the common case, and much cheaper than a topk)
            for r, best in enumerate(best_per_row(scores, looking, width)):
                if not best.tied and best.score > float("-inf") and \
                        not (self._newline_first[best.token_id] and self._blank_capped(states[r])):
                    chosen[r] = states[r].matcher.lazy_advanced([best.token_id], 1)
            looking = [r for r in looking if not chosen[r]]
        while looking:
            subset = scores[:, :width] if len(looking) == len(states) else \
                scores[torch.tensor(looking, device=scores.device), :width]
            top = torch.topk(subset, depth, dim=-1)
            candidates, values = top.indices.tolist(), top.values.tolist()
            still, fallback = [], []
            for r, ranked, value in zip(looking, candidates, values):
                row = states[r]
                capped = self._blank_capped(row)
                # candidates masked anyway (newlines past the blank-line limit) cost nothing
                order = [c for c in ranked[seen:] if not (capped and self._newline_first[c])]
                if fast:
                    order = order[:_LAZY_BUDGET - judged[r]]
                    judged[r] += len(order)
                chosen[r] += row.matcher.lazy_advanced(order, self.top_k - len(chosen[r]))
                if len(chosen[r]) == self.top_k:
                    ties = self._ties(row, chosen[r][-1][0], ranked, value, capped, depth < width)
                    if ties is None:
                        fallback.append(r)
                    else:
                        chosen[r] += ties
                elif depth < width:
                    if fast and judged[r] >= _LAZY_BUDGET:
                        fallback.append(r)
                    else:
                        still.append(r)
            if fallback:
                for r, found in zip(fallback, self._best_allowed(states, fallback, scores, width)):
                    chosen[r] = found
            looking, seen, depth = still, depth, min(width, depth * 16)
        keep = []
        for r, found in enumerate(chosen):
            for token_id, after in found:
                if after is not None:
                    self.rows.offer(keys[r], token_id, states[r].matcher.child(token_id, after))
            keep.append([token_id for token_id, _ in found])
        return keep

    def _ties(self, row: Row, last: int, ranked: list[int], value: list[float], capped: bool,
              more: bool) -> list[tuple[int, ElmParseState | None]] | None:
        """The allowed candidates ranked after ``last`` (the last token kept) with
        the same score, judged; None when the tie may go on past the candidates
        fetched (``more``: the vocabulary has more)."""
        i = ranked.index(last)
        end = _tie_end(value, i)
        if end == len(ranked) and more:
            return None
        tied = [c for c in ranked[i + 1:end] if not (capped and self._newline_first[c])]
        return row.matcher.lazy_advanced(tied, len(tied)) if tied else []

    def _draws(self, states: list[Row], keys: list[tuple], scores: torch.FloatTensor,
               width: int) -> list[list[int]]:
        """Each row's token drawn from its allowed set by rejection (strategy
        "sample", see ``sampling.py``); the rows left undecided draw from their
        exact set: the ``top_k`` best allowed (found as the lazy path finds them) or
        the full mask."""
        top_k = self.top_k if self.top_k < width else 0
        depth = min(width, max(_CANDIDATES, top_k))
        # the candidates' logits at the temperature, as generate's temperature warper makes them
        found = candidates(scores, range(len(states)), width, depth, [self.temperature] * len(states))
        uniforms = torch.rand(len(states), _DRAWS + 2).tolist()
        keep: list[list[int]] = []
        undecided: list[tuple[int, Draw, float, set[int], float]] = []  # row, its draw, lse, candidates, their mass
        for r, (row, key, best) in enumerate(zip(states, keys, found)):
            if best.lse == float("-inf"):  # every score masked by an earlier processor: nothing to draw
                keep.append([])
                continue
            drawn = self._draw(row, key, best.ids, best.values, best.cumulative, best.lse, top_k,
                               uniforms[r][:_DRAWS], width)
            if drawn.token is None:
                undecided.append((r, drawn, best.lse, set(best.ids), best.cumulative[-1]))
            keep.append([] if drawn.token is None else [drawn.token])
        if undecided:
            logits = scores[:, :width].float() / self.temperature
        for r, drawn, lse_r, candidates_r, mass in undecided:
            if top_k:
                members = np.array([t for t, _ in self._best_allowed(states, [r], logits, width)[0]], dtype=np.int64)
            else:
                members = np.flatnonzero(self._full_allowed(states[r], width))
            values = logits[r, torch.from_numpy(members).to(logits.device)].cpu().numpy()
            if self.top_p is not None:
                kept = nucleus(values, self.top_p)
                members, values = members[kept], values[kept]
            token = draw_from_set(members, values, candidates_r, drawn, lse_r, mass,
                                  uniforms[r][_DRAWS], uniforms[r][_DRAWS + 1])
            keep[r] = [] if token is None else [token]
        return keep

    def _draw(self, row: Row, key: tuple, ids: list[int], values: list[float], cumulative: list[float],
              lse: float, top_k: int, uniforms: list[float], width: int) -> Draw:
        """One row's draw by rejection (``draw_lazily``); the state after the token
        drawn is kept for the next step."""
        judge, allowed_among, after = row_judges(
            lambda token_id: row.matcher.lazy_advanced([token_id], 1),
            lambda among: self._full_allowed(row, width, among), self.masker.size,
            self._newline_first if self._blank_capped(row) else None)
        drawn = draw_lazily(ids, values, cumulative, lse, top_k, self.top_p, uniforms, judge, allowed_among,
                            _LAZY_BUDGET)
        if drawn.token is not None and after.get(drawn.token) is not None:
            self.rows.offer(key, drawn.token, row.matcher.child(drawn.token, after[drawn.token]))
        return drawn

    def _best_allowed(self, states: list[Row], rows: list[int], scores: torch.FloatTensor,
                      width: int) -> list[list[tuple[int, ElmParseState | None]]]:
        """For each of ``rows``, the ``top_k`` best-scored ids among those the full
        mask allows, and the allowed ones tied with the last of them. The best 256
        candidates of each row (one ``topk`` for all) are judged first, together
        (by class, at a fraction of the whole vocabulary's cost); the full mask
        only where they do not decide."""
        index = torch.tensor(rows, device=scores.device)
        top = torch.topk(scores[index, :width], min(_NEAR, width), dim=-1)
        found_rows = []
        for r, ids, values in zip(rows, top.indices.tolist(), top.values.tolist()):
            among = np.zeros(self.masker.size, dtype=bool)
            among[ids] = True
            allowed = self._full_allowed(states[r], width, among)
            found = [i for i, token_id in enumerate(ids) if allowed[token_id]]  # in score order
            whole = len(ids) == width  # the candidates are the whole vocabulary
            if len(found) >= self.top_k:
                end = _tie_end(values, found[self.top_k - 1])
                found = [i for i in found if i < end]
                decided = end < len(ids) or whole  # no tie with the last kept one left out
            else:
                decided = whole
            found_rows.append([(ids[i], None) for i in found] if decided
                              else self._best_of_full_mask(states[r], scores, r, width))
        return found_rows

    def _best_of_full_mask(self, row: Row, scores: torch.FloatTensor, r: int,
                           width: int) -> list[tuple[int, ElmParseState | None]]:
        """``_best_allowed`` from the full mask of one row."""
        allowed = torch.from_numpy(np.flatnonzero(self._full_allowed(row, width))).to(scores.device)
        if not len(allowed):
            return []
        values = scores[r, allowed]
        last = torch.topk(values, min(self.top_k, len(allowed))).values[-1]
        return [(token_id, None) for token_id in allowed[values >= last].tolist()]

    def _full_allowed(self, row: Row, width: int, among: np.ndarray | None = None) -> np.ndarray:
        """The full mask of this row (with the blank-line limit), over the first
        ``width`` ids (with ``among``: judged there only)."""
        allowed = row.matcher.allowed_mask(among)[:width]
        if self._blank_capped(row):
            allowed = allowed & ~self._newline_first[:width]
        return allowed


def _prompt_matcher(masker: Masker, prompt: str, mode: str, index: int, count: int,
                    stop_at_unit_end: bool, suffix_judge: SuffixJudge | None = None) -> Matcher:
    """The matcher after a prompt; :class:`PromptError` (naming the prompt of a batch,
    and the line and column in it) when no valid program starts with it: every
    token would be masked."""
    try:
        return Matcher(masker, mode, prompt, stop_at_unit_end, suffix_judge=suffix_judge)
    except PromptError as e:
        if count == 1:
            raise
        raise PromptError(f"prompt {index + 1} of {count}: {e}") from None


def _suffix_judges(suffixes: list[str] | str | None, count: int, mode: str,
                   prune: bool) -> list[SuffixJudge | None]:
    """One judge per prompt (None each without suffixes); :class:`SuffixError` for a
    suffix no middle can join (naming the suffix of a batch)."""
    if suffixes is None:
        return [None] * count
    suffixes = [suffixes] if isinstance(suffixes, str) else list(suffixes)
    if len(suffixes) != count:
        raise ValueError(f"{len(suffixes)} suffixes for {count} prompts: give one per prompt")
    judges = []
    for i, suffix in enumerate(suffixes):
        try:
            check_suffix(suffix, mode)
        except SuffixError as e:
            if count == 1:
                raise
            raise SuffixError(f"suffix {i + 1} of {count}: {e}") from None
        judges.append(SuffixJudge(suffix, mode, prune))
    return judges


def _tie_end(values: list[float], i: int) -> int:
    """Where the run of candidates scored as the ``i``-th ends (``values`` in
    descending order)."""
    end = i + 1
    while end < len(values) and values[end] == values[i]:
        end += 1
    return end


def _any(chosen: list[int] | np.ndarray) -> bool:
    """Is any token allowed? (ids, or a full mask)"""
    return bool(chosen.any()) if isinstance(chosen, np.ndarray) else bool(chosen)


def _masked(scores: torch.FloatTensor, keep: list[list[int] | np.ndarray]) -> torch.FloatTensor:
    """``scores`` with every token not kept set to -inf, in one operation on the
    scores' device. A row keeps a few ids (the lazy path: one scatter of their
    indices) or a boolean full mask (one masked fill: listing tens of thousands of
    allowed ids would cost more than the mask itself)."""
    if any(isinstance(chosen, np.ndarray) for chosen in keep):
        mask = np.zeros(scores.shape, dtype=bool)
        for r, chosen in enumerate(keep):
            if isinstance(chosen, np.ndarray):
                mask[r, :len(chosen)] = chosen
            else:
                mask[r, chosen] = True
        allowed = torch.from_numpy(mask).to(scores.device, non_blocking=True)
        return scores.masked_fill(~allowed, float("-inf"))
    out = torch.full_like(scores, float("-inf"))
    rows = [r for r, chosen in enumerate(keep) for _ in chosen]
    if rows:
        # rows and columns in one tensor: one copy to the device
        row_index, col_index = torch.tensor([rows, [c for chosen in keep for c in chosen]]).to(scores.device)
        out[row_index, col_index] = scores[row_index, col_index]
    return out
