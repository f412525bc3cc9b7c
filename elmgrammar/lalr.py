"""Lark's LALR(1) parse loop over lark's own tables and callbacks, with plain-string keys.

Parsing a file spent half its time in lark's ``ParserState.feed_token``, and much of
that was not parsing: lark names terminals and rules with ``Token`` objects, so every
table lookup by a token's type called ``Token.__eq__`` (a Python method), and every
reduction compared ``Rule`` objects in an ``assert``. This loop runs the same table,
in the same order, with the same callbacks (so the same AST and the same
``UnexpectedToken``), from a copy of the table keyed by plain strings. The table is
still lark's: ``lark_parser()`` builds it, and the recognizer reads it too.

>>> from elmgrammar.parser import lark_parser, layout_tokens
>>> LalrLoop(lark_parser()).parse(layout_tokens("x = 1\\n"), "module").declarations[0].name
'x'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedToken
from lark.parsers.lalr_analysis import Shift


class LalrLoop:
    """Runs lark's LALR table on a token stream, calling lark's tree callbacks.

    A row maps a terminal to an ``int`` (shift to that state) or to a tuple
    ``(symbols popped, callback, nonterminal)`` (reduce)."""

    __slots__ = ("rows", "start_states", "end_states", "token_callbacks", "table")

    def __init__(self, lark: Lark) -> None:
        """Copy the table of a built LALR ``Lark`` instance (``parser="lalr"``)."""
        inner = lark.parser.parser.parser  # lark's _Parser: the table and the callbacks
        self.table = inner.parse_table
        callbacks = inner.callbacks
        size = max(self.table.states) + 1
        rows: list[dict[str, Any]] = [{} for _ in range(size)]
        for state, actions in self.table.states.items():
            row = rows[state]
            for symbol, (action, arg) in actions.items():
                if action is Shift:
                    row[str(symbol)] = arg
                else:
                    row[str(symbol)] = (len(arg.expansion), callbacks[arg], str(arg.origin.name))
        self.rows = tuple(rows)
        self.start_states = dict(self.table.start_states)
        self.end_states = dict(self.table.end_states)
        # callbacks on terminals (a transformer's methods named after them), as lark calls them
        self.token_callbacks = {str(k): v for k, v in callbacks.items() if isinstance(k, str)}

    def _unexpected(self, token: Token, state: int) -> UnexpectedToken:
        # the expected set as lark gives it (from its own table)
        expected = {s for s in self.table.states[state].keys() if s.isupper()}
        return UnexpectedToken(token, expected, interactive_parser=None)

    def parse(self, tokens: Iterable[Token], start: str) -> Any:
        """The value of the start rule ``start`` for ``tokens`` (the end token is added
        here, placed as lark places it). Raises lark's ``UnexpectedToken``."""
        rows = self.rows
        token_callbacks = self.token_callbacks
        states = [self.start_states[start]]
        values: list[Any] = []
        token = None
        for token in tokens:
            ttype = token.type
            while True:
                try:
                    act = rows[states[-1]][ttype]
                except KeyError:
                    raise self._unexpected(token, states[-1]) from None
                if act.__class__ is int:
                    states.append(act)
                    values.append(token if ttype not in token_callbacks else token_callbacks[ttype](token))
                    break
                size, callback, origin = act
                if size:
                    children = values[-size:]
                    del states[-size:]
                    del values[-size:]
                else:
                    children = []
                values.append(callback(children))
                states.append(rows[states[-1]][origin])
        end = Token.new_borrow_pos("$END", "", token) if token else Token("$END", "", 0, 1, 1)
        end_state = self.end_states[start]
        while True:
            try:
                act = rows[states[-1]]["$END"]
            except KeyError:
                raise self._unexpected(end, states[-1]) from None
            if act.__class__ is int:  # pragma: no cover - an LALR table never shifts $END
                raise AssertionError("the parse table shifts the end of input")
            size, callback, origin = act
            if size:
                children = values[-size:]
                del states[-size:]
                del values[-size:]
            else:
                children = []
            values.append(callback(children))
            states.append(rows[states[-1]][origin])
            if states[-1] == end_state:
                return values[-1]
