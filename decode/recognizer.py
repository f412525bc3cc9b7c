"""An LALR(1) recognizer over the core grammar's parse table: states only, no tree.

Constrained decoding asks "may this token come next?" thousands of times per
step; building AST values, as the full parser does, would be wasted work. The
recognizer keeps only the stack of LALR states (a list of ints), so copying it
is one list copy, and feeding a token is a few dict lookups.

LALR may reduce before it notices an error, but it never shifts a wrong token
(the correct-prefix property), so "the token can be shifted" is exactly "the
token sequence so far is a prefix of some sentence of the grammar".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lark.parsers.lalr_analysis import Shift

from elmgrammar.parser import lark_parser

SHIFT = 0
REDUCE = 1


@dataclass(frozen=True)
class Tables:
    """The parse table in plain Python: ``actions[state][terminal]`` is
    ``(SHIFT, next_state)`` or ``(REDUCE, symbols_popped, nonterminal)``;
    ``gotos[state][nonterminal]`` is the state after a reduction."""

    actions: tuple[dict, ...]
    gotos: tuple[dict, ...]
    start: dict[str, int]
    end: dict[str, int]


@lru_cache(maxsize=1)
def tables() -> Tables:
    """The tables of the core grammar (built once per process)."""
    table = lark_parser().parser.parser.parser.parse_table
    size = max(table.states) + 1
    actions: list[dict] = [dict() for _ in range(size)]
    gotos: list[dict] = [dict() for _ in range(size)]
    for state, row in table.states.items():
        for symbol, (action, arg) in row.items():
            if symbol.isupper() or symbol.startswith("_") and symbol[1:2].isupper() or symbol == "$END":
                if action is Shift:
                    actions[state][symbol] = (SHIFT, arg)
                else:
                    # a plain str: lark's names are Tokens, whose __eq__ would slow every goto lookup
                    actions[state][symbol] = (REDUCE, len(arg.expansion), str(arg.origin.name))
            else:
                gotos[state][symbol] = arg
    return Tables(tuple(actions), tuple(gotos), dict(table.start_states), dict(table.end_states))


class Recognizer:
    """The LALR state stack of one partial program.

    >>> r = Recognizer("expr")
    >>> r.feed("LOWER") and r.feed("OP") and r.accepts("INT")
    True
    """

    __slots__ = ("stack", "start", "watch")

    def __init__(self, start: str = "module") -> None:
        self.start = start
        self.stack = [tables().start[start]]
        # Where a mask is memoised: the lowest stack index any copy has consulted,
        # shared by every copy made while it is set (see ``watch_depth``).
        self.watch: list[int] | None = None

    def copy(self) -> "Recognizer":
        """An independent copy (one list copy)."""
        new = Recognizer.__new__(Recognizer)
        new.start = self.start
        new.stack = self.stack[:]
        new.watch = self.watch
        return new

    def feed(self, terminal: str) -> bool:
        """Shift ``terminal`` (after the reductions it calls for). Returns False, and
        leaves the state unchanged, when the grammar does not allow it here."""
        stack = _run(self.stack, terminal, watch=self.watch)
        if stack is None:
            return False
        self.stack = stack
        return True

    def accepts(self, terminal: str) -> bool:
        """Could ``terminal`` come next? (The state is not changed.)"""
        return _run(self.stack, terminal, watch=self.watch) is not None

    def accepts_end(self) -> bool:
        """Is the sequence so far a whole sentence?"""
        t = tables()
        stack = _run(self.stack, "$END", stop_before_shift=True, watch=self.watch)
        return stack is not None and stack[-1] == t.end[self.start]

    def expected(self) -> list[str]:
        """The terminals that could come next."""
        return [term for term in tables().actions[self.stack[-1]] if self.accepts(term)]


def _run(stack: list[int], terminal: str, stop_before_shift: bool = False,
         watch: list[int] | None = None) -> list[int] | None:
    """The stack after feeding ``terminal``, or None on an error. Works on a copy
    only once a reduction pops below the top, so that a failed feed costs little.
    ``watch``: lowered to the lowest stack index consulted."""
    t = tables()
    actions, gotos = t.actions, t.gotos
    work = stack
    copied = False
    while True:
        action = actions[work[-1]].get(terminal)
        if action is None:
            if terminal == "$END" and stop_before_shift and work[-1] == t.end.get(_start_of(stack, t)):
                return work
            return None
        if action[0] == SHIFT:
            if stop_before_shift:
                return work
            if not copied:
                work = work[:]
            work.append(action[1])
            return work
        _, popped, nonterminal = action
        if not copied:
            work = work[:]
            copied = True
        if popped:
            del work[-popped:]
            if watch is not None and len(work) - 1 < watch[0]:
                watch[0] = len(work) - 1
        work.append(gotos[work[-1]][nonterminal])


def _start_of(stack: list[int], t: Tables) -> str | None:
    for name, state in t.start.items():
        if stack[0] == state:
            return name
    return None
