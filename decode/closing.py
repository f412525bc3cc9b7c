"""Closing a partial program: a short text after which it parses as a whole.

A weak model under the constraint often reaches a point where it would end (its
own draw is EOS) while something is still open: a bracket, a string, an ``if``
without its ``else``, an operator without its right side. The mask refuses EOS
there, and the model, pushed off the text it wanted to end, wanders on until the
token budget cuts it off mid-expression. Closing finishes such a text the way an
editor's auto-close would: with a short run of small *moves* (a closing
bracket or quote, a keyword the grammar awaits, a placeholder name where an
expression, pattern or type is missing) that makes the program whole.

The search is best-first over parse states, each move checked by the same
incremental parser the mask uses, so every prefix of the closing text is viable
and the text after it is complete (``ElmParseState.is_complete``).

>>> closing_text(ElmParseState("declarations", "view model =\\n    f (g [ a"))
' ] )'
>>> closing_text(ElmParseState("declarations", "f x =\\n    if x then"))
' x else x'
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import numpy as np

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.lexicon import CONTEXTUAL_WORDS, KEYWORDS

from .state import ElmParseState, awaited_chars, utf8_completions

# Moves that finish a lexeme the lexer holds back: a string, a character, a block
# comment, a GLSL block, a number awaiting its digits, an escape awaiting its letter,
# a qualified name awaiting its last part, a `{` (a record, or an empty comment), an
# operator that is the start of another, `(.` on its way to `(..)`.
_LEXEME_MOVES = ('"', '"""', "'", "x'", "x", "X", "}", "--}", "|]", "0", "n", ">", ":", ".")
# Moves on the grammar: closers, the keywords that complete a construct, and
# placeholders where a name, a pattern or a type is missing. Openers never shorten
# a completion and are left out.
# Each is written with a space after it, which ends it where it stands (`then` is
# a keyword, not the start of `thence`), and one before it where the text ends in
# a token.
_WORDS = (")", "]", "}", "x", "_", "X", "then", "else", "of", "in", "->", "=", ":")
# Openers, for a suffix that continues what the middle must open (fill-in-the-middle).
_OPENED = ("{ x = x", "( x", "[ x")
# Open layout markers and what each still needs at least (an `if` its `then`, a
# branch, its `else` and a branch; a `let` its `in` and body).
_MARKER_COST = {"(": 1, "[": 1, "{": 1, "if": 4, "then": 2, "case?": 3, "let": 2}
# A `let` or `of` awaiting its first item: a definition (`x = x`), a branch (`_ -> x`).
_PENDING_COST = {"let": 3, "case": 3}
# Past this many states explored the search gives up (a closing longer than a few
# dozen moves is not worth writing).
MAX_EXPANSIONS = 400


def closing_text(state: ElmParseState, max_expansions: int = MAX_EXPANSIONS,
                 goal: Callable[[ElmParseState], bool] | None = None) -> str | None:
    """A short text after which ``state``'s program is whole: best-first by moves
    made plus an estimate of the moves still needed (a guide, not a bound, so the
    text found is short rather than provably shortest), within ``max_expansions``
    states; "" if the program is whole already, None if the state is dead or no
    closing was found. ``goal``: what "whole" means, if not ``is_complete`` (for
    fill-in-the-middle: the suffix joins, ``SuffixJudge.may_end``); a suffix may
    need something opened before it (`, update = f` needs a record), so with a goal
    the moves also open a record, a tuple or a list."""
    whole = goal or ElmParseState.is_complete
    if not state.is_viable():
        return None
    if whole(state):
        return ""
    tie = itertools.count()
    frontier = [(_estimate(state), 0, next(tie), "", state)]
    seen = {_signature(state)}
    for _ in range(max_expansions):
        if not frontier:
            return None
        _, deeper, _, text, current = heapq.heappop(frontier)
        moves = -deeper
        for move in _moves(current, opening=goal is not None):
            after = current.copy()
            if not after.advance(move):
                continue
            if whole(after):
                return (text + move).rstrip(" ")
            key = _signature(after)
            if key in seen:
                continue
            seen.add(key)
            # among states as promising, the one with more moves made first: it has
            # fewer left to guess, so the search heads for an end instead of widening
            heapq.heappush(frontier, (moves + 1 + _estimate(after), -(moves + 1), next(tie), text + move, after))
    return None


def _moves(state: ElmParseState, opening: bool = False) -> list[str]:
    """The moves to try from ``state``: the lexeme's own closers while the lexer
    holds something back, else the grammar's moves, a fresh line inside the
    innermost block (after a line comment), the definition an annotation awaits,
    and (``opening``) a record, a tuple or a list begun."""
    pending = state.lexer.pending.lstrip(" \n\r\t")
    if pending.startswith("--"):
        return [_fresh_line(state)]
    if pending.startswith("{-"):
        return [" -}"]
    if pending and not _may_end(state):
        return list(_LEXEME_MOVES)
    # a lexeme that may end may also grow (`-` into `->`, `:` into `::`)
    text = state.text
    space = "" if not text or text[-1].isspace() else " "
    moves = [space + word + " " for word in _WORDS] + (list(_LEXEME_MOVES) if pending else [])
    if opening:
        moves += [space + opened + " " for opened in _OPENED]
    moves.append(_fresh_line(state))
    awaited = state.rules.awaited()
    # a name cut short: the keyword, or the name an annotation awaits, that it begins
    words = [*CONTEXTUAL_WORDS, *KEYWORDS, *awaited[-1:]]
    moves += [word[len(pending):] + " " for word in words if pending and word.startswith(pending) and word != pending]
    if awaited:
        moves.append(_fresh_line(state, column_of_block=True) + awaited[-1])
    elif state.rules.top != "decls" and len(state.layout.stack) == 1:
        # a module header, imports or a doc comment: a declaration is due
        moves += [space + "exposing (..)", space + "(..)", "\nx ="]
    return moves


def _may_end(state: ElmParseState) -> bool:
    """May the lexeme the lexer holds back end where it stands (a name, a whole
    number), or does it need closing (a string, a comment, ``1.``)?"""
    try:
        state.lexer.copy().pending_token()
    except ElmSyntaxError:
        return False
    return True


def _fresh_line(state: ElmParseState, column_of_block: bool = False) -> str:
    """A newline and the indentation of the innermost block: its items' column
    (``column_of_block``), or one further, where a token continues its item."""
    layout = state.layout
    if layout.pending is not None and not column_of_block:
        # a `let` or `of` awaits its first item: right of its column
        return "\n" + " " * max(1, layout.pending[1])
    indent = max(1, layout.indent())
    return "\n" + " " * (indent - 1 if column_of_block else indent)


def _estimate(state: ElmParseState) -> int:
    """Moves still needed, roughly: one per open bracket, more per open `if` or
    `case`, one for an unfinished lexeme or an awaited definition."""
    layout = state.layout
    cost = sum(_MARKER_COST.get(kind, 0) for kind, _ in layout.stack)
    if layout.pending is not None:
        cost += _PENDING_COST[layout.pending[0]] + _MARKER_COST.get(layout.pending[0], 0)
    pending = state.lexer.pending.strip(" \n\r\t")
    if pending.startswith(("--", "{-")) or pending and not _may_end(state):
        cost += 1
    if state.rules.awaited():
        cost += 2
    return cost


def _signature(state: ElmParseState) -> tuple:
    """What decides a state's future, for skipping states reached twice."""
    text = state.text
    return (tuple(state.recognizer.stack), tuple(state.layout.stack), state.layout.pending,
            state.lexer.pending.strip(" "), text[len(text.rstrip()):], state.rules.top,
            tuple(map(tuple, state.rules.blocks)))


def eos_probability(logits, eos: int, temperature: float, top_k: int | None):
    """EOS's probability under sampling at ``temperature`` within the ``top_k`` cut
    (0 or None: no cut), per row of ``logits`` (a torch tensor, the vocabulary last):
    how often the model, left to itself, would end here. Rows where EOS is masked
    or outside the cut (most steps, with a cut) are settled by one count each."""
    import torch

    from .scores import numpy_view

    rows = logits.reshape(-1, logits.shape[-1])
    array = numpy_view(rows)
    if array is not None and top_k and top_k < rows.shape[-1]:
        # EOS lies within the cut iff fewer than top_k scores are above its own
        inside = [bool(row[eos] > -np.inf) and np.count_nonzero(row > row[eos]) < top_k for row in array]
        p = torch.zeros(rows.shape[0], dtype=torch.float32)
        if any(inside):
            index = torch.tensor([r for r, i in enumerate(inside) if i])
            p[index] = _eos_probability(rows[index], eos, temperature, top_k).float()
        return p.reshape(logits.shape[:-1])
    return _eos_probability(logits, eos, temperature, top_k)


def _eos_probability(logits, eos: int, temperature: float, top_k: int | None):
    """``eos_probability`` computed on every row."""
    import torch

    scaled = logits.float() / temperature
    if top_k and top_k < scaled.shape[-1]:
        # the cut keeps the top_k best and those tied with the last (as the top-k
        # warpers of generate and vLLM do)
        last = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        kept = torch.where(scaled >= last, scaled, float("-inf"))
        inside = scaled[..., eos] >= last[..., 0]
        return torch.where(inside, torch.exp(scaled[..., eos] - torch.logsumexp(kept, dim=-1)), 0.0)
    return torch.softmax(scaled, dim=-1)[..., eos]


def _closes(state: ElmParseState, text: str, whole: Callable[[ElmParseState], bool]) -> bool:
    """Does ``text`` make ``state``'s program whole (by ``whole``)?"""
    after = state.copy()
    return after.advance(text) and whole(after)


class Closer:
    """Finishes the rows whose model would end too early or whose token budget runs
    out, by writing their closing (the ``close`` option of the Hugging Face and vLLM
    processors, which ask it at every step).

    A row is closed where the model would end it (its own choice is EOS: ``at_eos``)
    although its program is not whole, or (``within``: the token budget;
    ``budget_due``) where the budget left is no more than its closing needs. From
    then on the row's tokens are forced (``forced``): the closing's tokens, then EOS.
    ``encode``: text to token ids (the tokenizer's, without special tokens);
    ``pieces``: each id's bytes (``Vocab.pieces``). Rows are known by row keys
    (prompt or request, and the ids generated), so a plan follows beams and
    rollbacks by itself; ``closed`` maps the key of each row closed (its ids before
    EOS) to why ("eos" or "budget") and the text written.
    """

    # Budget closings are looked for in the last HORIZON tokens of the budget, and
    # looked for again at least every SLACK tokens, and wherever the budget left may
    # be near the closing last found, reckoning that each token since may have
    # lengthened it by GROWTH tokens.
    HORIZON = 48
    SLACK = 8
    GROWTH = 4
    # Rows are closed once the budget left is within MARGIN tokens of their closing
    # and EOS: the token after a check may lengthen the closing (`_` in a branch
    # needs ` -> x`), and a closing begun too late is cut off before its EOS.
    MARGIN = 4

    def __init__(self, encode, eos_id: int, pieces: list[bytes | None], within: int | None = None) -> None:
        self.encode = encode
        self.eos_id = eos_id
        self.pieces = pieces
        self.within = within
        self._bytes: dict[int, int] | None = None  # byte -> the id of the token that is that byte
        self.plans: dict[tuple, tuple[int, ...]] = {}  # row key -> ids still to write (EOS last)
        self.reasons: dict[tuple, tuple[str, str]] = {}  # row key -> (why, closing text), while writing
        self.closed: dict[tuple, tuple[str, str]] = {}
        # row key -> (closing length in tokens, at how many tokens generated, closing text)
        self._estimates: dict[tuple, tuple[int, int, str]] = {}
        self._failures: dict[tuple, int] = {}  # row key -> how many tokens generated when a search failed

    def forced(self, key: tuple) -> int | None:
        """The token a row being closed must take next (None: it is not being closed)."""
        plan = self.plans.get(key)
        if plan is None:
            return None
        self._follow(key, plan)
        return plan[0]

    def at_eos(self, key: tuple, matcher) -> int | None:
        """The model would end the row here: the first token of its closing where its
        program is not whole yet (None where it is, or no closing was found). No
        program ends in spaces: an EOS after indentation is the tokenizer's artefact
        (a whitespace token seldom seen before code), not an end, and is let be."""
        if matcher.state.text.endswith((" ", "\t")) or matcher.is_accepting() or self._failed_lately(key):
            return None
        return self._start(key, "eos", self._found(key, self._closing(matcher)))

    def budget_due(self, key: tuple, matcher, within: int | None = None) -> int | None:
        """With a budget (``within``, else the closer's): the first token of the
        row's closing if the budget left only just holds it (closing, EOS and
        ``MARGIN``), EOS for a whole program at its last token (another token could
        break it), else None."""
        within = self.within if within is None else within
        if within is None:
            return None
        prompt, generated = key
        left = within - len(generated)
        if left > self.HORIZON:
            return None
        known = self._estimates.get((prompt, generated[:-1]))
        if known is not None:
            # a token seldom adds more than a few tokens of closing (` case` adds ` x of x -> x`)
            since = len(generated) - known[1]
            if since < self.SLACK and left > known[0] + self.SLACK + self.GROWTH * since:
                self._estimates[key] = known
                return None
        if self._failed_lately(key):
            return None
        found = self._found(key, self._closing(matcher, hint=known[2] if known is not None else None))
        if found is None:
            return None
        self._estimates[key] = (len(found[1]), len(generated), found[0])
        # (a whole program needs EOS alone, with its last token)
        if len(found[1]) + 1 + (self.MARGIN if found[1] else 0) < left:
            return None
        return self._start(key, "budget", found)

    def retain(self, keys: list[tuple]) -> None:
        """Forget every row but these (the live ones), their next step (where a plan
        goes on) and their last (where what was found then is read)."""
        live = set(keys)
        parents = {(prompt, generated[:-1]) for prompt, generated in live}

        def kept(k: tuple) -> bool:
            return k in live or k in parents or (k[0], k[1][:-1]) in live

        self.plans = {k: v for k, v in self.plans.items() if kept(k)}
        self.reasons = {k: v for k, v in self.reasons.items() if kept(k)}
        self._estimates = {k: v for k, v in self._estimates.items() if kept(k)}
        self._failures = {k: v for k, v in self._failures.items() if kept(k)}

    def _failed_lately(self, key: tuple) -> bool:
        """Did the search for this row's closing fail within the last ``SLACK``
        tokens? (It is not tried again at every token: a closing it cannot find, say
        an import a suffix awaits, would cost a whole search each time.)"""
        prompt, generated = key
        failed = self._failures.get((prompt, generated[:-1]))
        if failed is not None and len(generated) - failed < self.SLACK:
            self._failures[key] = failed
            return True
        return False

    def _found(self, key: tuple, found: tuple[str, list[int]] | None) -> tuple[str, list[int]] | None:
        """Note where a search failed (see ``_failed_lately``); ``found`` unchanged."""
        if found is None:
            self._failures[key] = len(key[1])
        return found

    def _follow(self, key: tuple, plan: tuple[int, ...]) -> None:
        """Pass the rest of the plan on to the row's next key (or note its end)."""
        prompt, generated = key
        reason = self.reasons.get(key)
        if plan[0] == self.eos_id:
            if reason is not None:
                self.closed[key] = reason
            return
        following = (prompt, generated + (plan[0],))
        self.plans[following] = plan[1:]
        if reason is not None:
            self.reasons[following] = reason

    def _start(self, key: tuple, why: str, found: tuple[str, list[int]] | None) -> int | None:
        """Follow the closing ``found`` (its text and ids) from the row ``key`` on
        (none: the row is whole, and ends at once)."""
        if found is None:
            return None
        plan = tuple(found[1]) + (self.eos_id,)
        self.plans[key] = plan
        self.reasons[key] = (why, found[0])
        self._follow(key, plan)
        return plan[0]

    def _closing(self, matcher, hint: str | None = None) -> tuple[str, list[int]] | None:
        """The row's closing, its text and token ids ("" and none where the program
        is whole), if the matcher takes the ids and may end after them (a
        fill-in-the-middle suffix may refuse); None where there is none. A token may
        have ended inside a UTF-8 character: the closing first finishes it, byte by
        byte, with a character the program allows there. ``hint``: a closing found a
        few tokens before, taken again where it still closes (the tokens since often
        left open what was open: a name inside the same list), saving a search."""
        state, head = matcher.state, []
        if state.unfinished:
            completed = self._finish_character(state)
            if completed is None:
                return None
            state, head = completed
        judge = matcher.suffix_judge  # fill-in-the-middle: whole once the suffix joins
        goal = judge.may_end if judge is not None else None
        text = hint if hint and _closes(state, hint, goal or ElmParseState.is_complete) \
            else closing_text(state, goal=goal)
        if text is None:
            return None
        ids = head + list(self.encode(text)) if text else head
        probe = matcher.fork()
        if not probe.consume_tokens(ids) or not probe.is_accepting():
            return None
        return text, ids

    def _finish_character(self, state: ElmParseState) -> tuple[ElmParseState, list[int]] | None:
        """The state after the first character that completes the pending bytes
        validly, and the single-byte tokens of its remaining bytes."""
        pending = state.unfinished
        for c in utf8_completions(pending) + awaited_chars(state.rules, pending):
            after = state.copy_text_free()
            if after.advance(c):
                ids = [self._byte_token(b) for b in c.encode()[len(pending):]]
                return (after, ids) if None not in ids else None
        return None

    def _byte_token(self, byte: int) -> int | None:
        """The id of the token that is this one byte (byte-level BPE has one per byte)."""
        if self._bytes is None:
            self._bytes = {}
            for token_id, piece in enumerate(self.pieces):
                if piece is not None and len(piece) == 1:
                    self._bytes.setdefault(piece[0], token_id)
        return self._bytes.get(byte)
