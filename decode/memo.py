"""Whole masks remembered by the part of the parse state they depend on.

A mask depends on the held-back lexeme, the lexical context, the layout blocks,
the compiler's item rules and the LALR stack. All but the stack are small and
recur all the time; of the stack, a mask depends only on the part its judgements
consult: every judgement that reduces pops to some depth and reads the state
left there, never anything below. Computing a mask with a ``watch`` on the
recognizer records the lowest index consulted, so the mask is stored under the
stack's top part from there: any later state whose stack ends with that part and
whose context is the same gets the same mask (exactly; the same judgements run
on the same inputs). EOS is left out (whether the program is complete reduces
the whole stack) and set by the caller.
"""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np

from elmgrammar.lexicon import CONTEXTUAL_WORDS, KEYWORDS
from elmgrammar.namechars import is_inner, is_lower_start, is_upper_start

from .state import ElmParseState
from .vocab_index import escape_in_progress, triple_tail

# Names compared by value somewhere: what a held-back name may still become.
_WORDS = (*KEYWORDS, *CONTEXTUAL_WORDS)
_NUMBER = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def line_reach(texts) -> int:
    """The furthest column a vocabulary entry writes on a line it starts itself
    (after a newline inside it); 0 where no entry writes past a newline but
    whitespace (StarCoder2's pre-tokenizer splits there)."""
    reach = 0
    for text in texts:
        if text and "\n" in text:
            reach = max(reach, *(len(line.rstrip()) for line in text.split("\n")[1:]))
    return reach


def column_cap(state: ElmParseState, reach: int) -> int:
    """Columns from here on are alike: layout only compares a token's column with
    block indents and with columns of later tokens (on the same line, at the same
    distance; after a newline inside an entry, at most ``reach``)."""
    layout = state.layout
    return max(max(indent for _, indent in layout.stack), layout.pending[1] if layout.pending else 0, 1, reach) + 1


def pending_key(state: ElmParseState, cap: int) -> object:
    """The held-back lexeme as far as masks can tell it apart. Its text by default;
    for the common lexemes whose value no rule reads, what their future depends
    on: the column after a name and the reserved or awaited words it may still
    become (and its length, where there are such words), a comment's nesting
    depth and its last characters, the column after a string and whether an
    escape is open. (Its start column is in ``context_key``.) Columns from
    ``cap`` on are one (see ``column_cap``): the names `Json.` and `Decode.` that
    end past every block's indent are alike."""
    lexer = state.lexer
    p = lexer.buffer[lexer.pos:]
    if not p:
        return p
    end = min(lexer.base + len(lexer.buffer) - lexer.line_start + 1, cap)  # the column after it, on one line
    block = state.rules.blocks[-1]
    item_start = block[2] or block[1] is not None or state.layout.pending is not None
    head = p[0]
    if p.startswith("--"):
        return ("--",)  # a line comment: nothing in it matters, and the next line starts afresh
    if p.startswith("{-") and p != "{-" and not p.startswith("{-|-"):
        offset, depth = lexer.resume
        at = offset - lexer.base
        if at > lexer.pos + 2:  # the lexer's own record of the depth, inside this comment
            last_line = p.rfind("\n")
            column = min(len(p) - last_line, cap) if last_line >= 0 else None
            return ("{-", p.startswith("{-|"), depth, lexer.buffer[at:], column, len(p) if column is None else 0)
        return p
    if item_start:
        return p  # the first tokens of an item are compared by value (annotations, `infix`)
    if is_lower_start(head) and all(is_inner(c) for c in p[1:]):
        awaited = tuple((name.startswith(p), name == p) for name in state.rules.awaited())
        words = tuple(w for w in _WORDS if w.startswith(p))
        # a word the name may still become is spelled on from where it is
        spelled = len(p) if words or any(starts for starts, _ in awaited) else None
        return ("lower", end, spelled, words, awaited)
    if is_upper_start(head) and all(is_inner(c) or c == "." for c in p[1:]):
        last = p.rsplit(".", 1)[1] if "." in p else ""
        if not last or is_upper_start(last[0]):  # a lower-case last part may be a keyword
            return ("upper", end, "." in p, p.endswith("."))
        return p
    if head == '"' and not p.startswith('""') and "\n" not in p and len(p) > 1:
        if p[-1] == '"' and escape_in_progress(p[:-1]) is None:
            return p  # closed: the string's value is a token's now
        escape = escape_in_progress(p)
        return ('"', end, None if escape is None else p[p.rindex("\\"):])
    if p.startswith('"""'):
        tail = triple_tail(p)
        if tail is not None and "\\" not in p[-2:]:
            last_line = p.rfind("\n")
            return ('"""', tail, min(len(p) - last_line, cap) if last_line >= 0 else -len(p))
        return p
    if head.isdigit() and _NUMBER.fullmatch(p) and p != "0":
        return ("number", end, "." in p, head == "0")
    return p


def context_key(state: ElmParseState, reach: int) -> tuple:
    """Everything but the LALR stack that a state's mask depends on: the mode, the
    held-back lexeme and where it starts (column, and whether it touches the
    token before), the last token's type, whether a declaration was seen, the layout blocks, the item rules (with
    names, which annotations and ``infix`` compare by value), and the bytes of an
    unfinished character. Columns past ``column_cap`` are one (``reach``: see
    ``line_reach``)."""
    lexer = state.lexer
    start = lexer.base + lexer.pos
    rules = state.rules
    blocks = tuple((b[0], None if b[1] is None else (b[1].type, b[1].value), b[2]) for b in rules.blocks)
    cap = column_cap(state, reach)
    return (state.mode, pending_key(state, cap), min(start - lexer.line_start + 1, cap), lexer.prev_type,
            lexer.prev_end == start, lexer.first, lexer.declared, tuple(state.layout.stack), state.layout.pending,
            blocks, rules.top, state.unfinished)


class MaskMemo:
    """Masks by context and stack suffix, least recently used dropped first.

    >>> memo = MaskMemo(capacity=4)
    >>> memo.put(("k",), [0, 7, 9], 1, np.ones(3, dtype=bool))
    >>> memo.get(("k",), [5, 7, 9]) is not None, memo.get(("k",), [0, 8, 9])
    (True, None)
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        # context + top state -> ((stack suffix, mask), ...), most recently used last;
        # tuples all through, which the garbage collector stops tracking (a full
        # collection walks what is tracked)
        self._entries: OrderedDict[tuple, tuple[tuple[tuple[int, ...], np.ndarray], ...]] = OrderedDict()
        self._count = 0
        self.hits = self.misses = 0

    def get(self, key: tuple, stack: list[int]) -> np.ndarray | None:
        """The mask stored for this context whose stack suffix ``stack`` ends with."""
        entries = self._entries.get((key, stack[-1]))
        if entries is not None:
            depth = len(stack)
            for suffix, mask in entries:
                n = len(suffix)
                if n <= depth and tuple(stack[depth - n:]) == suffix:
                    self._entries.move_to_end((key, stack[-1]))
                    self.hits += 1
                    return mask
        self.misses += 1
        return None

    def put(self, key: tuple, stack: list[int], low: int, mask: np.ndarray) -> None:
        """Store ``mask``, which consulted ``stack`` from index ``low`` up."""
        slot = self._entries.get((key, stack[-1]), ())
        self._entries[(key, stack[-1])] = (*slot, (tuple(stack[max(low, 0):]), mask))
        self._count += 1
        while self._count > self.capacity:
            _, dropped = self._entries.popitem(last=False)
            self._count -= len(dropped)
