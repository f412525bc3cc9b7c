"""The matcher: one partial Elm program, token by token, and which tokens may come next.

The one engine under every decoding path (the Hugging Face processor, the
stopping rule, the sampler, fill-in-the-middle, serving engines), in the shape
llguidance's ``LLMatcher`` and XGrammar's ``GrammarMatcher`` share, and free of
any framework:

>>> from elmgrammar.decode.matcher import Matcher
>>> m = Matcher.from_tokenizer(tokenizer, mode="declarations", prompt="view model =")  # doctest: +SKIP
>>> bitmask = allocate_bitmask(1, m.vocab_size)                                        # doctest: +SKIP
>>> m.fill_bitmask(bitmask, 0)        # bit t of row 0 set iff token t may come next   # doctest: +SKIP
>>> m.consume_token(token_id)         # False (and nothing changes) if it may not      # doctest: +SKIP
>>> m.validate_tokens(draft_ids)      # how many of them, in order, it would accept    # doctest: +SKIP
>>> m.rollback(1); m2 = m.fork()                                                       # doctest: +SKIP

A token may come next iff the text so far plus the token is a prefix of some
valid program of the mode; EOS iff the text so far is a whole program. A state
where nothing is allowed (which a sound mask never reaches) is a dead end: its
bitmask allows EOS alone, so that generation ends cleanly, never an exception.

The unit rule: in "module" and "declarations" modes the matcher notes where the
unit ends, the way a reader would: once the program is complete and a line
starts at column 1 with something other than a comment (the next top-level
item). ``unit_end`` is then the length of the completion to keep. With
``stop_at_unit_end`` the matcher stops there (only EOS may follow).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .fastmask import FastMasker
from .masks import Masker
from .state import ElmParseState, check_prompt
from .vocab import Vocab, vocab_from_tokenizer


def allocate_bitmask(batch: int, vocab_size: int) -> np.ndarray:
    """A zeroed packed bitmask: ``(batch, ceil(vocab_size / 32))`` int32, bit ``t % 32``
    of word ``t // 32`` for token ``t`` (the layout of llguidance, XGrammar and vLLM;
    ``torch.from_numpy`` shares it with torch)."""
    return np.zeros((batch, (vocab_size + 31) // 32), dtype=np.int32)


def unpack_bitmask(row: np.ndarray, vocab_size: int) -> np.ndarray:
    """One row of a packed bitmask as a boolean array over the vocabulary."""
    return np.unpackbits(np.ascontiguousarray(row).view(np.uint8), bitorder="little")[:vocab_size].astype(bool)


# A state holds the whole text so far, so keeping every step's state for rollback
# would cost memory quadratic in the tokens (gigabytes for a 200 kB file). The states
# of the last _KEEP steps are kept, and those of every _KEEP-th step before them;
# rolling back further replays the tokens from the nearest kept state.
_KEEP = 256


@dataclass(frozen=True)
class _Step:
    """The matcher after one token: its parse state (None where thinned out, see
    ``_KEEP``), the token, how it ended (None, "eos" or "unit") with the completion
    length kept at a unit end, the offset up to which the unit rule has judged the
    lines, and the length of the text."""

    state: ElmParseState | None
    token: int | None
    stop: str | None = None
    unit_end: int | None = None
    decided: int = 0
    length: int = 0


def unit_end_in(text: str, prompt_len: int, start: int, complete_before) -> tuple[int | None, int]:
    """The unit rule on ``text`` (prompt then completion), from offset ``start``: the
    completion length to keep if the unit has ended (or None), and the offset up to
    which lines are judged (resume there). A line of the completion that starts at
    column 1 with anything but a comment begins the next item; the unit ends before
    it if ``complete_before(offset)`` says the program up to there is whole. Blank
    lines are passed over; ``{`` and ``{-`` wait for the next character (a doc
    comment belongs to the next item, a comment to this one)."""
    start = max(start, prompt_len)
    while True:
        nl = text.find("\n", start)
        if nl < 0:
            return None, start
        rest = text[nl + 1:].lstrip("\n")
        if not rest or "{-|".startswith(rest):
            return None, start  # the next line has not begun, or may be a doc comment
        comment = rest.startswith(("--", "{-")) and not rest.startswith("{-|")
        if not rest[0].isspace() and not comment and complete_before(nl):
            return len(text[prompt_len:nl].rstrip()), nl + 1
        start = nl + 1


def _step(after: ElmParseState, token_id: int, last: _Step, unit_end: int | None, decided: int) -> _Step:
    """The step after ``last`` (a unit end, once found, stays with every later step)."""
    if last.unit_end is not None:
        return _Step(after, token_id, None, last.unit_end, decided, len(after.text))
    return _Step(after, token_id, "unit" if unit_end is not None else None, unit_end, decided, len(after.text))


class Matcher:
    """One partial program; see the module docstring.

    ``masker``: the vocabulary's judge, shared by all matchers of a tokenizer
    (``Matcher.from_tokenizer`` makes one; it remembers masks across matchers).
    ``mode``: "module", "declarations" or "expression". ``prompt``: the text
    before the completion; a prompt no valid program starts with raises
    :class:`~elmgrammar.decode.state.PromptError` with its line and column.
    """

    __slots__ = ("masker", "mode", "prompt", "stop_at_unit_end", "suffix_judge", "_steps")

    def __init__(self, masker: Masker, mode: str = "declarations", prompt: str = "",
                 stop_at_unit_end: bool = False, strict: bool = True, suffix_judge=None) -> None:
        self.masker = masker
        self.mode = mode
        self.prompt = prompt
        self.stop_at_unit_end = stop_at_unit_end
        # fill-in-the-middle (decode/fim.py): EOS only where prompt + completion +
        # suffix parses, and tokens after which no middle can join the suffix pruned
        self.suffix_judge = suffix_judge
        # strict=False: a prompt no program starts with gives a matcher that refuses
        # every token (to follow unconstrained text, which may start anywhere)
        state = check_prompt(prompt, mode) if strict else ElmParseState(mode, prompt)
        self._steps: list[_Step] = [_Step(state, None, decided=len(prompt), length=len(state.text))]

    @classmethod
    def from_tokenizer(cls, tokenizer, mode: str = "declarations", prompt: str = "",
                       stop_at_unit_end: bool = False, cache_dir: str | Path | None = None) -> "Matcher":
        """A matcher for a Hugging Face tokenizer (byte-level BPE, such as StarCoder2's).
        The vocabulary's precomputation is cached on disk (``cache_dir``)."""
        return cls(FastMasker(vocab_from_tokenizer(tokenizer), cache_dir=cache_dir), mode, prompt, stop_at_unit_end)

    # -- the state ------------------------------------------------------------------

    @property
    def vocab(self) -> Vocab:
        return self.masker.vocab

    @property
    def vocab_size(self) -> int:
        return self.masker.size

    @property
    def state(self) -> ElmParseState:
        """The parse state after the last token consumed."""
        return self._steps[-1].state

    @property
    def completion(self) -> str:
        """The text consumed after the prompt."""
        return self.state.text[len(self.prompt):]

    @property
    def unit_end(self) -> int | None:
        """Where the unit ended (the length of the completion to keep), or None."""
        return self._steps[-1].unit_end

    @property
    def tokens(self) -> list[int]:
        """The tokens consumed, in order."""
        return [s.token for s in self._steps[1:]]

    def is_stopped(self) -> bool:
        """Has the sequence ended: EOS consumed, or (``stop_at_unit_end``) its unit
        ended? Then only EOS is allowed."""
        last = self._steps[-1]
        return last.stop == "eos" or (self.stop_at_unit_end and last.unit_end is not None)

    def is_accepting(self) -> bool:
        """May the sequence end here (EOS allowed)?"""
        if self.is_stopped():
            return True
        judge = self.suffix_judge
        return self.state.is_complete() if judge is None else judge.may_end(self.state)

    # -- advancing -------------------------------------------------------------------

    def consume_token(self, token_id: int) -> bool:
        """Append one token; False (and nothing changes) where it may not come next."""
        token_id = int(token_id)
        last = self._steps[-1]
        if token_id == self.vocab.eos_id:
            if not self.is_accepting() or last.stop == "eos":
                return False
            self._append(_Step(last.state, token_id, "eos", last.unit_end, last.decided, last.length))
            return True
        if self.is_stopped():
            return False
        piece = self.vocab.pieces[token_id] if 0 <= token_id < self.vocab_size else None
        if piece is None:
            return False  # a special token other than EOS
        after = self.masker.advanced(last.state, token_id)
        if after is not None and self.suffix_judge is not None and self.suffix_judge.dead(after):
            return False
        unit_end, decided = self._unit_rule(piece)
        if after is None:
            if unit_end is None or not self.stop_at_unit_end:
                return False
            # the first token of the next item ends the unit even where it is not
            # valid Elm: the unit before it is what is kept, and only EOS follows
            after = last.state
        self._append(_step(after, token_id, last, unit_end, decided))
        return True

    def consume_tokens(self, token_ids) -> bool:
        """Append tokens in order; stops at the first that may not come next (those
        before it stay consumed) and says whether all were taken."""
        return all(self.consume_token(t) for t in token_ids)

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` tokens (speculative decoding, backtracking)."""
        if n < 0 or n > len(self._steps) - 1:
            raise ValueError(f"cannot roll back {n} tokens: {len(self._steps) - 1} consumed")
        if n:
            del self._steps[-n:]
            if self._steps[-1].state is None:
                self._restore()

    def fork(self) -> "Matcher":
        """An independent copy (cheap: the states are shared, never changed)."""
        new = Matcher.__new__(Matcher)
        new.masker, new.mode, new.prompt = self.masker, self.mode, self.prompt
        new.stop_at_unit_end = self.stop_at_unit_end
        new.suffix_judge = self.suffix_judge
        new._steps = list(self._steps)
        return new

    def validate_tokens(self, token_ids) -> int:
        """How many of ``token_ids``, in order, would be accepted (the matcher does
        not change): the accepted length of a speculative draft."""
        probe = self.fork()
        for n, token_id in enumerate(token_ids):
            if not probe.consume_token(token_id):
                return n
        return len(token_ids)

    # -- masks -------------------------------------------------------------------------

    def allowed(self, token_id: int) -> bool:
        """May ``token_id`` come next?"""
        return self.validate_tokens([token_id]) == 1

    def full_mask(self) -> np.ndarray:
        """A boolean array over the vocabulary: True where the token may come next
        (EOS alone once stopped, and at a dead end)."""
        mask = None if self.is_stopped() else self.allowed_mask()
        if mask is None or not mask.any():
            mask = np.zeros(self.vocab_size, dtype=bool)
            if self.vocab.eos_id is not None and self._steps[-1].stop != "eos":
                mask[self.vocab.eos_id] = True
        return mask

    def allowed_mask(self, among: np.ndarray | None = None) -> np.ndarray:
        """The masker's full mask of the current state (``among``: judged there
        only), with fill-in-the-middle's end rule and pruning where a suffix is
        given; no stopping or dead-end handling (see ``full_mask``)."""
        mask = self.masker.full_mask(self.state, among)
        judge = self.suffix_judge
        if judge is not None:
            eos = self.vocab.eos_id
            judge.prune(self.state, mask, self.masker)
            if eos is not None and (among is None or among[eos]):
                mask[eos] = judge.may_end(self.state)
        return mask

    def lazy_advanced(self, order, k: int = 1) -> list[tuple[int, ElmParseState | None]]:
        """``Masker.lazy_advanced`` for the current state: the first ``k`` allowed ids
        in ``order``, each with the state after it (None for EOS); with a suffix,
        EOS and pruning by its rule."""
        judge = self.suffix_judge
        if judge is None:
            return self.masker.lazy_advanced(self.state, order, k)
        found: list[tuple[int, ElmParseState | None]] = []
        eos = self.vocab.eos_id
        for token_id in order:
            token_id = int(token_id)
            if token_id == eos:
                if not judge.may_end(self.state):
                    continue
                after = None
            else:
                after = self.masker.advanced(self.state, token_id)
                if after is None or judge.dead(after):
                    continue
            found.append((token_id, after))
            if len(found) == k:
                break
        return found

    def fill_bitmask(self, bitmask, row: int = 0) -> None:
        """Write the allowed tokens into row ``row`` of a packed int32 bitmask
        (numpy or a CPU torch tensor, ``(batch, ceil(vocab / 32))``; see
        ``allocate_bitmask``). Words past the vocabulary are cleared."""
        words = np.packbits(self.full_mask(), bitorder="little")
        words = np.pad(words, (0, (-len(words)) % 4)).view(np.int32)
        target = bitmask[row]
        if not isinstance(target, np.ndarray):
            target = target.numpy()  # a torch tensor on the CPU: the same memory
        width = min(len(words), len(target))
        target[:width] = words[:width]
        target[width:] = 0

    # -- internals -------------------------------------------------------------------------

    def child(self, token_id: int, after: ElmParseState) -> "Matcher":
        """A fork that has consumed ``token_id``, given the state ``after`` it that a
        judgement already made (``Masker.advanced``: the processor keeps those of the
        tokens it judged, so the next step consumes nothing afresh)."""
        child = self.fork()
        child.consume_judged(token_id, after)
        return child

    def consume_judged(self, token_id: int, after: ElmParseState) -> None:
        """Consume ``token_id`` (not EOS), given the state ``after`` it that a
        judgement already made (in place: ``child`` is the fork that does it)."""
        unit_end, decided = self._unit_rule(self.vocab.pieces[token_id])
        self._append(_step(after, token_id, self._steps[-1], unit_end, decided))

    def _append(self, step: _Step) -> None:
        """Add a step, thinning out the state of the one that falls out of the recent
        window (unless it is a checkpoint: see ``_KEEP``)."""
        steps = self._steps
        steps.append(step)
        old = len(steps) - 1 - _KEEP
        if old > 0 and old % _KEEP and steps[old].state is not None:
            steps[old] = replace(steps[old], state=None)

    def _restore(self) -> None:
        """The states of the steps after the last kept one, replayed from it (a
        rollback past the recent window)."""
        steps = self._steps
        kept = max(i for i, step in enumerate(steps) if step.state is not None)
        state = steps[kept].state
        for i in range(kept + 1, len(steps)):
            step = steps[i]
            if step.stop != "eos":
                # a token past a unit's end may not advance the state (it was kept as it was)
                state = self.masker.advanced(state, step.token) or state
            steps[i] = replace(step, state=state)

    def _unit_rule(self, piece: bytes) -> tuple[int | None, int]:
        """``unit_end_in`` for the text after ``piece``, resumed where the last step
        left off; the program's completeness is read off the steps' states."""
        last = self._steps[-1]
        if self.mode == "expression" or last.unit_end is not None:
            return None, last.decided
        text = last.state.text + piece.decode("utf-8", "replace")
        return unit_end_in(text, len(self.prompt), last.decided, self._complete_before)

    def _complete_before(self, end: int) -> bool:
        """Is the text up to ``end`` a whole program? Read off the last state that
        stops short of ``end`` by whitespace only (trivia change nothing); parsed
        afresh where a token spans more (a tokenizer whose pieces hold text after a
        newline)."""
        text = self.state.text
        for step in reversed(self._steps):
            length = step.length
            if length <= end:
                if step.state is not None and text[length:end].strip(" \r\t\n") == "":
                    return step.state.is_complete()
                break
        return ElmParseState(self.mode, prompt=text[:end]).is_complete()
