"""Fill-in-the-middle: the middle makes ``prefix + middle + suffix`` a valid program.

The prefix is the matcher's prompt, so every middle keeps ``prefix + middle`` a
viable prefix as any completion does. What FIM adds is the end: the middle may
end (EOS) only where ``prefix + middle + suffix`` parses in the mode. A
:class:`SuffixJudge`, made once per request, answers that for a matcher's state:

- The suffix is cut once into a *head* and a *tail* after its first line that starts
  at column 1 with a top-level item (after its first line: the first line's column
  depends on the middle). A line at column 1 closes every block, so from there on
  the parse depends on the middle only through a small state (the parser stack at
  a top-level item, the item rules, the lexer's flags); the tail is parsed once per
  such state and the verdict kept.
- Judging an end feeds a copy of the state the head, line by line, stopping at the
  first line that fails (most candidate ends fail at the suffix's first token), and
  then looks the tail's verdict up. So the cost of an end check is bounded by the
  suffix's first declaration, whatever the suffix's length.

Pruning: where the tail needs the top level still open for what only comes before
declarations (an ``import``, a module header, an ``infix`` declaration), a middle
that has begun a declaration at column 1 can never be completed into a program the
suffix follows; such tokens are masked (see ``SuffixJudge.prune``). Nothing else
the middle writes is final (a bracket or block it closes can be opened again), so
nothing else is pruned.

Bad input is refused up front with its line and column: a prefix no valid program
starts with (:class:`~elmgrammar.decode.state.PromptError`), a suffix whose tail
no middle can reach into and that does not parse (:class:`SuffixError`).

The prompt is laid out as fine-tuning writes FIM examples (``finetune/fim.py``):
PSM ``<fim_prefix>`` prefix ``<fim_suffix>`` suffix ``<fim_middle>``, or SPM
``<fim_prefix><fim_suffix>`` suffix ``<fim_middle>`` prefix, each piece tokenized
on its own.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from elmgrammar.errors import UsageError

from .state import ElmParseState

# StarCoder2's FIM markers, as fine-tuning writes them (finetune/fim.py)
FIM_PREFIX = "<fim_prefix>"
FIM_MIDDLE = "<fim_middle>"
FIM_SUFFIX = "<fim_suffix>"
ORDERS = ("psm", "spm")

# A line that starts a top-level item: at column 1, not blank, not a comment
# (a doc comment `{-|` is an item: it belongs to the declaration after it)
_ITEM_LINE = re.compile(r"\n(?=[^\s]|$)")
# where the top level stands (ItemRules.top), in the order a module goes through
_TOP_RANK = {"start": 0, "header": 1, "module_doc": 2, "imports": 3, "infixes": 4, "doc": 5, "decls": 5}
# what only comes before declarations: the highest top-level place it may follow,
# and the place it leaves the top level in
_BEFORE_DECLS = (("module ", 0, 1), ("port module ", 0, 1), ("effect module ", 0, 1), ("import ", 3, 3),
                 ("infix ", 4, 4))


class SuffixError(UsageError, ValueError):
    """A suffix that no middle can ever join to the prefix; the message names the
    line and column in the suffix."""


def fim_token_ids(tokenizer) -> tuple[int, int, int]:
    """The ids of ``<fim_prefix>``, ``<fim_suffix>``, ``<fim_middle>``; a
    :class:`UsageError` for a tokenizer without them."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE) if t not in vocab]
    if missing:
        raise UsageError(f"the tokenizer has no {', '.join(missing)} token: fill-in-the-middle needs "
                         "StarCoder2's FIM markers")
    return vocab[FIM_PREFIX], vocab[FIM_SUFFIX], vocab[FIM_MIDDLE]


def fim_prompt_ids(tokenizer, prefix: str, suffix: str, order: str = "psm") -> list[int]:
    """The prompt's token ids, laid out as fine-tuning lays FIM examples out (each
    piece tokenized on its own); generation continues with the middle.

    >>> fim_prompt_ids(tokenizer, "x = ", "\\n")            # doctest: +SKIP
    [1, 87, 299, 3, 222, 2]
    """
    if order not in ORDERS:
        raise UsageError(f"the FIM order must be psm or spm, not {order!r}")
    pre, suf, mid = fim_token_ids(tokenizer)

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    if order == "spm":
        return [pre, suf, *encode(suffix), mid, *encode(prefix)]
    return [pre, *encode(prefix), suf, *encode(suffix), mid]


def split_suffix(suffix: str, mode: str) -> int:
    """Where the tail begins: the first line after the suffix's first that starts a
    top-level item at column 1 (``len(suffix)``: none, and always in expression mode)."""
    if mode == "expression":
        return len(suffix)
    first = suffix.find("\n")
    if first < 0:
        return len(suffix)
    for m in _ITEM_LINE.finditer(suffix, first):
        rest = suffix[m.end():]
        if not rest:
            break
        if rest.startswith(("--", "{-")) and not rest.startswith("{-|"):
            continue
        return m.end()
    return len(suffix)


def _crossable(suffix: str, offset: int) -> bool:
    """Could a comment or a triple-quoted string the middle opens reach past
    ``offset``? Only if one can close at or after it."""
    start = max(0, offset - 2)
    return suffix.find("-}", start) >= 0 or suffix.find('"""', start) >= 0


def _place(error: str, line_offset: int) -> tuple[int, int, str]:
    """(line, column, reason) of a parse state's error text ``L:C: reason``, the
    line moved by ``line_offset``."""
    m = re.match(r"(\d+):(\d+): (.*)", error or "", re.S)
    if not m:
        return line_offset + 1, 1, error or "invalid"
    return int(m.group(1)) + line_offset, int(m.group(2)), m.group(3)


def check_suffix(suffix: str, mode: str = "declarations") -> None:
    """Refuse a suffix that no middle can join: its tail (from its first top-level
    item after the first line, which no middle reaches into) does not parse as
    top-level items. :class:`SuffixError` names the line and column in the suffix.

    >>> check_suffix("1\\n\\nview = )\\n")
    Traceback (most recent call last):
    ...
    elmgrammar.decode.fim.SuffixError: no middle can join this suffix: 3:8: unexpected `)`
    """
    start = split_suffix(suffix, mode)
    tail = suffix[start:]
    if not tail.strip():
        return
    # a fresh start accepts every tail that some prefix and middle accept (a top-level
    # item at column 1 closes everything before it), so its refusal is final
    state = ElmParseState(mode, tail)
    lines_before = suffix.count("\n", 0, start)
    if state.is_viable():
        if state.is_complete() or _crossable(suffix, start):
            return
        text = suffix.rstrip()  # placed after its last character
        line, column = text.count("\n") + 1, len(text) - text.rfind("\n")
        raise SuffixError(f"no middle can join this suffix: {line}:{column}: the text ends inside an unfinished "
                          "declaration")
    line, column, reason = _place(state.error, lines_before)
    offset = start + sum(len(x) + 1 for x in tail.split("\n")[:line - lines_before - 1]) + column - 1
    if _crossable(suffix, offset):
        return  # a comment the middle opens might end after the error
    raise SuffixError(f"no middle can join this suffix: {line}:{column}: {reason}")


def _boundary_key(state: ElmParseState) -> tuple:
    """Everything at a top-level line start that decides how the rest parses
    (offsets and line numbers only place errors)."""
    lexer, rules = state.lexer, state.rules
    blocks = tuple((b[0], None if b[1] is None else (b[1].type, str(b[1])), b[2]) for b in rules.blocks)
    return (lexer.pending, lexer.prev_type, lexer.first, lexer.declared, tuple(state.layout.stack),
            state.layout.pending, tuple(state.recognizer.stack), blocks, rules.top, state.unfinished)


class SuffixJudge:
    """May the middle end here, and can it still be completed? For one suffix; see
    the module docstring. Counters: ``checks`` (end questions), ``tail_parses``
    (the tail parsed, once per top-level state), ``pruned`` (tokens pruned).
    ``prune=False``: judge the end only (to measure what pruning does)."""

    def __init__(self, suffix: str, mode: str = "declarations", prune: bool = True) -> None:
        self.suffix = suffix
        self.prune_enabled = prune
        self.mode = mode
        start = items = split_suffix(suffix, mode)
        # the head takes the tail's first line too: the parser reduces what came before a
        # top-level item only once the item's first token is read, so the state after
        # that line is the same whatever the middle was (one tail parse serves them all)
        if start < len(suffix):
            line_end = suffix.find("\n", start)
            start = len(suffix) if line_end < 0 else line_end + 1
        head, self.tail = suffix[:start], suffix[start:]
        # the head line by line: a failing end is found at its first bad line
        self.head_lines = head.splitlines(keepends=True) or [""]
        self._tails: dict[tuple, bool] = {}
        self._recent: OrderedDict[int, tuple[ElmParseState, int, bool]] = OrderedDict()
        self.checks = self.tail_parses = self.pruned = 0
        # the highest top-level place (ItemRules.top rank) the tail can follow, if it
        # holds what only comes before declarations and no comment can swallow it
        self.top_limit: int | None = None
        for line_start in (m.end() for m in re.finditer(r"^", suffix[items:], re.M)):
            for word, rank, _ in _BEFORE_DECLS:
                if suffix.startswith(word, items + line_start) and not _crossable(suffix, items + line_start):
                    self.top_limit = rank if self.top_limit is None else min(self.top_limit, rank)

    def may_end(self, state: ElmParseState) -> bool:
        """Does ``prefix + middle + suffix`` parse, ``state`` being after the middle?"""
        if not state.is_viable() or state.unfinished:
            return False
        recent = self._recent.get(id(state))
        if recent is not None and recent[0] is state and recent[1] == len(state.text):
            return recent[2]
        self.checks += 1
        verdict = self._judge(state)
        # the state is held, so its id is not reused; its length tells a state advanced in place
        self._recent[id(state)] = (state, len(state.text), verdict)
        if len(self._recent) > 64:
            self._recent.popitem(last=False)
        return verdict

    def _judge(self, state: ElmParseState) -> bool:
        probe = state.copy()
        probe.recognizer.watch = None  # a mask memo's bookkeeping is not ours to move
        for line in self.head_lines:
            if not probe.advance(line):
                return False
        if not self.tail:
            return probe.is_complete()
        key = _boundary_key(probe)
        verdict = self._tails.get(key)
        if verdict is None:
            self.tail_parses += 1
            verdict = self._tails[key] = probe.advance(self.tail) and probe.is_complete()
        return verdict

    def dead(self, state: ElmParseState) -> bool:
        """Can no middle that goes on from ``state`` be joined to the suffix? (Only
        what is final is judged: a declaration begun where the suffix still needs
        imports, a header or infix declarations to come.)"""
        if self.top_limit is None or not self.prune_enabled:
            return False
        if _TOP_RANK.get(state.rules.top, 0) > self.top_limit:
            return True
        # a lexeme held back at column 1 that can only become a declaration
        lexer = state.lexer
        pending = lexer.pending
        if pending and lexer.base + lexer.pos == lexer.line_start and pending[0] not in " \n\r\t{-":
            words = [w for w, _, leaves in _BEFORE_DECLS if leaves <= self.top_limit]
            return not any(w.startswith(pending) or pending.startswith(w) for w in words)
        return False

    def prune(self, state: ElmParseState, mask, masker) -> None:
        """Clear in ``mask`` (a boolean array over the vocabulary) the tokens after
        which the middle is :meth:`dead`. Only tokens that can begin a line's first
        item are judged (those holding a newline, or all at a line start), and only
        where the tail needs the top level open."""
        if self.top_limit is None or not self.prune_enabled or not mask.any():
            return
        import numpy as np

        at_line_start = state.text.endswith("\n") or state.text == ""
        pieces = masker.vocab.pieces
        words = [w.encode() for w, _, leaves in _BEFORE_DECLS if leaves <= self.top_limit]
        for token_id in np.flatnonzero(mask).tolist():
            piece = pieces[token_id]
            if piece is None or (not at_line_start and b"\n" not in piece):
                continue
            if at_line_start and piece[:1] not in (b" ", b"\n", b"\r", b"\t", b"{", b"-") and \
                    not any(w.startswith(piece) or piece.startswith(w) for w in words):
                # at column 1, what can only begin a declaration: no need to parse it
                mask[token_id] = False
                self.pruned += 1
                continue
            after = masker.advanced(state, token_id)
            if after is not None and self.dead(after):
                mask[token_id] = False
                self.pruned += 1


def last_end(judge: SuffixJudge, prefix: str, pieces: list[bytes | None]) -> int | None:
    """How many of the middle's tokens (their bytes ``pieces``) to keep so that the
    middle ends at the last place where ``prefix + middle + suffix`` parses, or None
    where no place does (``prefix`` must be viable). Used to end a middle that ran
    out of tokens: the end rule, applied after the fact."""
    state = ElmParseState(judge.mode, prefix)
    best = 0 if judge.may_end(state) else None
    for n, piece in enumerate(pieces, 1):
        if piece is None or not state.advance_bytes(piece):
            break
        if judge.may_end(state):
            best = n
    return best
