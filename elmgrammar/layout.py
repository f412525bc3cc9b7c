"""Elm's layout rules as virtual tokens, so that the grammar can stay LALR(1).

The compiler (elm/compiler ``Parse/Space.hs``) checks columns: a top-level item
starts at column 1; the definitions of a ``let`` and the branches of a ``case``
all start at the column of the first one (aligned); every other token of an item
is indented more than the innermost block (and more than column 1).

This post-lexer reproduces those checks on the token stream, in the manner of
intellij-elm's layout lexer and tree-sitter-elm's scanner, and inserts:

- ``_D`` before each top-level item (a token at column 1),
- ``_SEP`` before each further item of a ``let`` or ``case`` block (aligned),
- ``_CLOSE`` where a block ends: a token further left, a closing bracket,
  comma, ``in``, ``then``, ``else`` or ``of`` that ends the enclosing construct,
  or the end of input.

Brackets and ``if``/``case`` keywords push markers, so that a ``)`` closes
exactly the blocks opened inside its parentheses. The state is a short list of
tuples: copying it is cheap, which incremental parsing relies on.
"""

from __future__ import annotations

from lark import Token

from .errors import ElmSyntaxError
from .lexer import make_token

# Stack entries: (kind, indent). Blocks have kind "top", "let" or "case" and an
# indent column; markers ("(", "[", "{", "if", "then", "case?") have indent 0,
# which nothing compares.
BLOCKS = ("top", "let", "case")
_OPENERS = {"LPAR": "(", "LBRACK": "[", "LBRACE": "{"}
_CLOSERS = {"RPAR": "(", "LONE_RPAR": "(", "RBRACK": "[", "RBRACE": "{"}
# Tokens that end a block by what they are, not where they stand.
ENDERS = frozenset({"RPAR", "LONE_RPAR", "RBRACK", "RBRACE", "COMMA", "IN", "THEN", "ELSE", "OF"})


def _virtual(kind: str, at: Token) -> Token:
    """A virtual token placed at the real token that caused it (for error messages)."""
    return make_token(kind, at.value, at.start_pos, at.line, at.column, at.line, at.column, at.start_pos)


class Layout:
    """Inserts the virtual layout tokens; see the module docstring.

    ``expression=True`` lays out a bare expression: no top-level items, any column.
    """

    __slots__ = ("stack", "pending", "watch")

    def __init__(self, expression: bool = False) -> None:
        self.stack: list[tuple[str, int]] = [("top", 0 if expression else 1)]
        # A `let` or `of` waits for its first item, whose column becomes the block's
        # indent: (kind, minimum column exclusive).
        self.pending: tuple[str, int] | None = None
        # Where judgements are remembered by the part of the stack they read:
        # ``watch[1]`` is lowered to the lowest stack index inspected, shared by every
        # copy made while it is set. ``indent`` is not counted: it reads the innermost
        # block, which the blocks of the stack decide (``blocks``).
        self.watch: list[int] | None = None

    def copy(self) -> "Layout":
        """An independent copy of the layout state."""
        new = Layout.__new__(Layout)
        new.stack = list(self.stack)
        new.pending = self.pending
        new.watch = self.watch
        return new

    def blocks(self) -> list[tuple[str, int]]:
        """The open blocks, outermost first (the stack without its markers)."""
        return [entry for entry in self.stack if entry[0] in BLOCKS]

    def _top(self) -> tuple[str, int]:
        """The top of the stack, as read (see ``watch``)."""
        stack = self.stack
        watch = self.watch
        if watch is not None and len(stack) - 1 < watch[1]:
            watch[1] = len(stack) - 1
        return stack[-1]

    def indent(self) -> int:
        """The indent of the innermost block (markers have none)."""
        for kind, indent in reversed(self.stack):
            if kind in BLOCKS:
                return indent
        return 0  # unreachable: the top block is never popped

    def _pop_blocks(self, tok: Token, out: list[Token]) -> None:
        """Close the blocks above the innermost marker."""
        stack = self.stack
        while self._top()[0] in ("let", "case") and len(stack) > 1:
            stack.pop()
            out.append(_virtual("_CLOSE", tok))

    def _too_far_left(self, tok: Token, indent: int) -> ElmSyntaxError:
        what = tok.value or tok.type
        if indent <= 1:
            return ElmSyntaxError(tok.line, tok.column, f"`{what}` at column {tok.column} continues the declaration above, so it must be indented",
                                  ["a column greater than 1"])
        return ElmSyntaxError(tok.line, tok.column, f"`{what}` must be indented more than column {indent}",
                              [f"a column greater than {indent}"])

    def process(self, tok: Token) -> list[Token]:
        """The tokens to give the parser for one real token (it comes last)."""
        out: list[Token] = []
        col = tok.column
        ttype = tok.type
        stack = self.stack

        if self.pending is not None:
            kind, minimum = self.pending
            self.pending = None
            if ttype not in ENDERS:
                if col <= minimum or col <= 1:
                    raise self._too_far_left(tok, max(minimum, 1))
                stack.append((kind, col))
                self._after(tok)
                out.append(tok)
                return out

        if ttype in ENDERS:
            self._end_blocks(tok, out)
        else:
            # Columns decide: close the blocks this token is left of, and separate
            # items when it is aligned with its block.
            while True:
                kind, indent = self._top()
                if kind in BLOCKS:
                    if col < indent:
                        stack.pop()
                        out.append(_virtual("_CLOSE", tok))
                        continue
                    if col == indent:
                        out.append(_virtual("_D" if kind == "top" else "_SEP", tok))
                    break
                inner = self.indent()
                if col <= inner:
                    raise self._too_far_left(tok, inner)
                break
        self._after(tok)
        out.append(tok)
        return out

    def _end_blocks(self, tok: Token, out: list[Token]) -> None:
        """A closing bracket, comma or keyword ends the blocks opened since its partner."""
        stack = self.stack
        ttype = tok.type
        if ttype == "IN":
            # `in` closes the case blocks inside the innermost let, then the let.
            while self._top()[0] == "case" and len(stack) > 1:
                stack.pop()
                out.append(_virtual("_CLOSE", tok))
            if self._top()[0] == "let":
                stack.pop()
                out.append(_virtual("_CLOSE", tok))
        else:
            self._pop_blocks(tok, out)
        if ttype in _CLOSERS:
            if self._top()[0] == _CLOSERS[ttype]:
                stack.pop()
        elif ttype == "THEN":
            if self._top()[0] == "if":
                stack[-1] = ("then", 0)
        elif ttype == "ELSE":
            if self._top()[0] == "then":
                stack.pop()
        elif ttype == "OF":
            if self._top()[0] == "case?":
                stack.pop()
        inner = self.indent()
        if tok.column <= inner:
            raise self._too_far_left(tok, inner)

    def _after(self, tok: Token) -> None:
        """Open what this token opens."""
        ttype = tok.type
        if ttype in _OPENERS:
            self.stack.append((_OPENERS[ttype], 0))
        elif ttype == "IF":
            self.stack.append(("if", 0))
        elif ttype == "CASE":
            self.stack.append(("case?", 0))
        elif ttype == "LET":
            self.pending = ("let", tok.column)
        elif ttype == "OF":
            self.pending = ("case", self.indent())

    def finish(self, at: Token) -> list[Token]:
        """End of input: close every open block."""
        out: list[Token] = []
        if self.watch is not None:
            self.watch[1] = 0  # reads the whole stack
        for kind, _ in reversed(self.stack[1:]):
            if kind in ("let", "case"):
                out.append(_virtual("_CLOSE", at))
        self.stack = self.stack[:1]
        self.pending = None
        return out
