"""Operator precedence: flat chains ``a + b * c`` into trees, by the fixed table.

Elm's parser keeps operators as flat chains; the compiler resolves them from
``infix`` declarations, which since 0.19 only elm/core and a few packages may
write. So the table is fixed: Basics, plus elm/parser and elm/url operators.
An operator outside it still parses (elm-format accepts it); resolving it
reports a problem and treats it as ``infixl 9``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fixity:
    """How an operator groups: ``associativity`` is "left", "right" or "non"."""

    associativity: str
    precedence: int


FIXITIES: dict[str, Fixity] = {
    "<|": Fixity("right", 0), "|>": Fixity("left", 0),
    "||": Fixity("right", 2), "&&": Fixity("right", 3),
    **{op: Fixity("non", 4) for op in ("==", "/=", "<", ">", "<=", ">=")},
    "++": Fixity("right", 5), "::": Fixity("right", 5),
    "+": Fixity("left", 6), "-": Fixity("left", 6),
    "*": Fixity("left", 7), "/": Fixity("left", 7), "//": Fixity("left", 7),
    "^": Fixity("right", 8),
    "<<": Fixity("left", 9), ">>": Fixity("right", 9),
    # elm/parser
    "|=": Fixity("left", 5), "|.": Fixity("left", 6),
    # elm/url
    "</>": Fixity("right", 7), "<?>": Fixity("left", 8),
}

UNKNOWN = Fixity("left", 9)


def resolve(operands: list[T], operators: list[str],
            combine: Callable[[str, T, T, int], T],
            report: Callable[[str, int], None]) -> T:
    """Build the tree of ``operands[0] op[0] operands[1] ...`` by precedence climbing.

    ``combine(op, left, right, index)`` makes a node for operator ``index``;
    ``report(message, index)`` is called for an operator outside the table, for a
    chain of non-associative operators (``a < b < c``) and for operators of one
    precedence that group differently (``f << g >> h``), as the compiler does.

    >>> resolve([1, 2, 3], ["-", "*"], lambda o, a, b, i: f"({a}{o}{b})", print)
    '(1-(2*3))'
    """
    # Shunting-yard, iterative so that a chain of thousands of operators cannot
    # exhaust the Python stack.
    out: list[T] = [operands[0]]
    pending: list[int] = []  # indices of operators waiting for their right operand

    def reduce() -> None:
        i = pending.pop()
        right = out.pop()
        left = out.pop()
        out.append(combine(operators[i], left, right, i))

    for i, op in enumerate(operators):
        fix = FIXITIES.get(op)
        if fix is None:
            report(f"unknown operator `{op}`: Elm 0.19 code cannot define operators", i)
            fix = UNKNOWN
        while pending:
            top = FIXITIES.get(operators[pending[-1]], UNKNOWN)
            if top.precedence > fix.precedence or (
                top.precedence == fix.precedence and fix.associativity != "right"
            ):
                if top.precedence == fix.precedence:
                    _check_mix(operators[pending[-1]], top, op, fix, i, report)
                reduce()
            else:
                if top.precedence == fix.precedence:
                    _check_mix(operators[pending[-1]], top, op, fix, i, report)
                break
        pending.append(i)
        out.append(operands[i + 1])
    while pending:
        reduce()
    return out[0]


def _check_mix(left_op: str, left: Fixity, op: str, fix: Fixity, i: int,
               report: Callable[[str, int], None]) -> None:
    """Same precedence side by side: fine only when both group the same way."""
    if left.associativity == "non" and fix.associativity == "non":
        report(f"`{left_op}` and `{op}` are non-associative: add parentheses", i)
    elif left.associativity != fix.associativity:
        report(f"`{left_op}` and `{op}` have the same precedence but group differently: add parentheses", i)
