"""The typed Elm AST: dataclasses with source spans.

Every node has a ``span``: where it starts and ends (1-based lines and columns,
0-based character offsets, end exclusive). ``to_dict`` turns any node into
JSON-ready data with a ``"node"`` key naming its class.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Union


@dataclass(frozen=True, slots=True)
class Span:
    """A region of the source: start and end (exclusive) as line, column and offset."""

    line: int
    column: int
    end_line: int
    end_column: int
    offset: int
    end_offset: int


# ---- module structure ---------------------------------------------------------------


@dataclass(slots=True)
class Exposed:
    """One item of an exposing list: ``kind`` is "value", "type" or "operator";
    ``open`` is True for ``Type(..)``."""

    kind: str
    name: str
    open: bool
    span: Span


@dataclass(slots=True)
class Exposing:
    """``exposing (..)`` (``everything`` is True) or an explicit list."""

    everything: bool
    items: list[Exposed]
    span: Span


@dataclass(slots=True)
class ModuleHeader:
    """``module``, ``port module`` or ``effect module`` (``kind``) with its name."""

    kind: str
    name: str
    exposing: Exposing
    effects: dict[str, str]
    span: Span


@dataclass(slots=True)
class Import:
    """``import Name as Alias exposing (...)``."""

    module: str
    alias: str | None
    exposing: Exposing | None
    span: Span


# ---- types --------------------------------------------------------------------------


@dataclass(slots=True)
class TypeVar:
    name: str
    span: Span


@dataclass(slots=True)
class TypeConstructor:
    """A named type applied to arguments: ``Maybe Int``, ``Dict.Dict k v``."""

    name: str
    args: list["Type"]
    span: Span


@dataclass(slots=True)
class FunctionType:
    argument: "Type"
    result: "Type"
    span: Span


@dataclass(slots=True)
class TupleType:
    """A tuple type; no items is the unit type ``()``."""

    items: list["Type"]
    span: Span


@dataclass(slots=True)
class RecordType:
    """``{ a : Int }``, or ``{ r | a : Int }`` when ``extends`` names a variable."""

    fields: list[tuple[str, "Type"]]
    extends: str | None
    span: Span


Type = Union[TypeVar, TypeConstructor, FunctionType, TupleType, RecordType]


# ---- patterns -----------------------------------------------------------------------


@dataclass(slots=True)
class AnyPattern:
    span: Span


@dataclass(slots=True)
class VarPattern:
    name: str
    span: Span


@dataclass(slots=True)
class LiteralPattern:
    """A literal: ``kind`` is "int", "char" or "string"; ``value`` is the Python value."""

    kind: str
    value: Any
    span: Span


@dataclass(slots=True)
class ConstructorPattern:
    name: str
    args: list["Pattern"]
    span: Span


@dataclass(slots=True)
class TuplePattern:
    """A tuple pattern; no items is the unit pattern ``()``."""

    items: list["Pattern"]
    span: Span


@dataclass(slots=True)
class ListPattern:
    items: list["Pattern"]
    span: Span


@dataclass(slots=True)
class ConsPattern:
    head: "Pattern"
    tail: "Pattern"
    span: Span


@dataclass(slots=True)
class RecordPattern:
    fields: list[str]
    span: Span


@dataclass(slots=True)
class AliasPattern:
    pattern: "Pattern"
    name: str
    span: Span


Pattern = Union[AnyPattern, VarPattern, LiteralPattern, ConstructorPattern, TuplePattern,
                ListPattern, ConsPattern, RecordPattern, AliasPattern]


# ---- expressions --------------------------------------------------------------------


@dataclass(slots=True)
class Var:
    """A variable or constructor, maybe qualified: ``x``, ``List.map``, ``Just``."""

    name: str
    span: Span


@dataclass(slots=True)
class Literal:
    """``kind``: "int", "float", "char" or "string"; ``value``: the Python value;
    ``text``: the source as written (``0xFF``, ``1e10``)."""

    kind: str
    value: Any
    text: str
    span: Span


@dataclass(slots=True)
class Glsl:
    source: str
    span: Span


@dataclass(slots=True)
class Tuple:
    """A tuple; no items is the unit value ``()``."""

    items: list["Expr"]
    span: Span


@dataclass(slots=True)
class List:
    items: list["Expr"]
    span: Span


@dataclass(slots=True)
class Record:
    fields: list[tuple[str, "Expr"]]
    span: Span


@dataclass(slots=True)
class RecordUpdate:
    record: str
    fields: list[tuple[str, "Expr"]]
    span: Span


@dataclass(slots=True)
class FieldAccess:
    record: "Expr"
    field: str
    span: Span


@dataclass(slots=True)
class Accessor:
    """An accessor function: ``.name``."""

    field: str
    span: Span


@dataclass(slots=True)
class Negate:
    expr: "Expr"
    span: Span


@dataclass(slots=True)
class Parens:
    expr: "Expr"
    span: Span


@dataclass(slots=True)
class OperatorFunction:
    """An operator used as a function: ``(+)``, ``(::)``."""

    op: str
    span: Span


@dataclass(slots=True)
class BinOp:
    """A binary operation, resolved by the operator table."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(slots=True)
class Call:
    """Function application: ``function arg1 arg2 ...``."""

    function: "Expr"
    args: list["Expr"]
    span: Span


@dataclass(slots=True)
class Lambda:
    args: list[Pattern]
    body: "Expr"
    span: Span


@dataclass(slots=True)
class If:
    condition: "Expr"
    then: "Expr"
    otherwise: "Expr"
    span: Span


@dataclass(slots=True)
class CaseBranch:
    pattern: Pattern
    body: "Expr"
    span: Span


@dataclass(slots=True)
class Case:
    subject: "Expr"
    branches: list[CaseBranch]
    span: Span


@dataclass(slots=True)
class Destructure:
    """A ``let`` definition by pattern: ``( a, b ) = pair``."""

    pattern: Pattern
    body: "Expr"
    span: Span


@dataclass(slots=True)
class Let:
    definitions: list[Union["ValueDeclaration", Destructure]]
    body: "Expr"
    span: Span


Expr = Union[Var, Literal, Glsl, Tuple, List, Record, RecordUpdate, FieldAccess, Accessor,
             Negate, Parens, OperatorFunction, BinOp, Call, Lambda, If, Case, Let]


# ---- declarations -------------------------------------------------------------------


@dataclass(slots=True)
class Annotation:
    name: str
    type: Type
    span: Span


@dataclass(slots=True)
class ValueDeclaration:
    """A value or function, with its type annotation if it has one."""

    name: str
    annotation: Annotation | None
    args: list[Pattern]
    body: Expr
    span: Span
    doc: str | None = None


@dataclass(slots=True)
class Constructor:
    name: str
    args: list[Type]
    span: Span


@dataclass(slots=True)
class CustomType:
    name: str
    params: list[str]
    constructors: list[Constructor]
    span: Span
    doc: str | None = None


@dataclass(slots=True)
class TypeAlias:
    name: str
    params: list[str]
    type: Type
    span: Span
    doc: str | None = None


@dataclass(slots=True)
class PortDeclaration:
    name: str
    type: Type
    span: Span
    doc: str | None = None


@dataclass(slots=True)
class InfixDeclaration:
    """``infix left 0 (|>) = apR`` (only elm/core may declare operators)."""

    associativity: str
    precedence: int
    operator: str
    function: str
    span: Span
    doc: str | None = None


Declaration = Union[ValueDeclaration, CustomType, TypeAlias, PortDeclaration, InfixDeclaration]


@dataclass(slots=True)
class Problem:
    """Something the parser accepts but the compiler will reject later, such as an
    operator outside the table or ``a < b < c``."""

    message: str
    span: Span


@dataclass(slots=True)
class Module:
    header: ModuleHeader | None
    imports: list[Import]
    declarations: list[Declaration]
    span: Span
    doc: str | None = None
    problems: list[Problem] = field(default_factory=list)


def to_dict(node: Any) -> Any:
    """JSON-ready data for a node (recursively), with a ``"node"`` key naming its class.

    >>> to_dict(Var("x", Span(1, 1, 1, 2, 0, 1)))["node"]
    'Var'
    """
    if isinstance(node, list):
        return [to_dict(x) for x in node]
    if isinstance(node, tuple):
        return [to_dict(x) for x in node]
    if isinstance(node, dict):
        return {k: to_dict(v) for k, v in node.items()}
    if isinstance(node, Span):
        return {f.name: getattr(node, f.name) for f in fields(Span)}
    if hasattr(node, "__dataclass_fields__"):
        out: dict[str, Any] = {"node": type(node).__name__}
        for f in fields(node):
            out[f.name] = to_dict(getattr(node, f.name))
        return out
    return node


def format_tree(node: Any, indent: str = "") -> str:
    """A readable, indented outline of a node: one line per node with its position.

    >>> print(format_tree(Var("x", Span(1, 5, 1, 6, 4, 5))))
    Var x  @1:5
    """
    lines: list[str] = []
    _outline(node, indent, lines, None)
    return "\n".join(lines)


def _outline(node: Any, indent: str, lines: list[str], label: str | None) -> None:
    prefix = f"{indent}{label}: " if label else indent
    if isinstance(node, list):
        if not node:
            return
        for item in node:
            _outline(item, indent, lines, label)
        return
    if isinstance(node, tuple):  # a (name, value) field
        name, value = node
        if hasattr(value, "__dataclass_fields__"):
            lines.append(f"{prefix}{name} =")
            _outline(value, indent + "  ", lines, None)
        else:
            lines.append(f"{prefix}{name}")
        return
    if not hasattr(node, "__dataclass_fields__"):
        lines.append(f"{prefix}{node!r}")
        return
    scalars = []
    children = []
    for f in fields(node):
        if f.name == "span":
            continue
        value = getattr(node, f.name)
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, (str, int, float, bool)) and not isinstance(value, Span):
            scalars.append(repr(value) if f.name in ("value", "doc") else str(value))
        else:
            children.append((f.name, value))
    span = getattr(node, "span", None)
    where = f"  @{span.line}:{span.column}" if isinstance(span, Span) else ""
    lines.append(f"{prefix}{type(node).__name__} {' '.join(scalars)}".rstrip() + where)
    for name, value in children:
        _outline(value, indent + "  ", lines, name)
