"""Turns the LALR parser's reductions into AST nodes (a Lark inline transformer).

Each callback gets the children of its rule: Lark tokens (which carry their
positions) and AST nodes (which carry spans), so a node's span runs from its
first child to its last. Virtual layout tokens are filtered out by Lark.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from lark import Token, Transformer, v_args

from . import ast as A
from .errors import ElmSyntaxError
from .operators import resolve



@dataclass
class ParseContext:
    """What one parse needs besides the tokens (is it a bare expression?) and
    collects besides the tree (problems such as operators outside the table).
    A context variable keeps concurrent parses apart; parser.py sets it per parse."""

    expression: bool = False
    problems: list[A.Problem] = field(default_factory=list)
    end: tuple[int, int] = (1, 1)  # line and column of the end of the text
    # the last two real tokens given to the parser (for placing errors)
    recent: list[Token] = field(default_factory=list)


context_var: ContextVar[ParseContext] = ContextVar("elmgrammar_parse_context")

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\"}


def span(first, last) -> A.Span:
    """The span from the start of ``first`` to the end of ``last`` (tokens or nodes)."""
    if isinstance(first, Token):
        line, column, offset = first.line, first.column, first.start_pos
    else:
        s = first.span
        line, column, offset = s.line, s.column, s.offset
    if isinstance(last, Token):
        return A.Span(line, column, last.end_line, last.end_column, offset, last.end_pos)
    e = last.span
    return A.Span(line, column, e.end_line, e.end_column, offset, e.end_offset)


def unescape(body: str) -> str:
    """The value of a string or char literal's body (escapes already validated)."""
    if "\\" not in body:
        return body
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt == "u":
                close = body.index("}", i)
                out.append(chr(int(body[i + 3:close], 16)))
                i = close + 1
                continue
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def string_value(text: str) -> str:
    """The value of a string token (``"..."`` or ``\"\"\"...\"\"\"``)."""
    width = 3 if text.startswith('"""') else 1
    return unescape(text[width:-width])


def _items(children, start: int = 1, step: int = 2):
    """Every other child from ``start``: the items between commas and brackets."""
    return children[start:-1:step]


def _fields(children, start: int) -> list[tuple[str, object]]:
    # children: ... field , field , field }
    return [f for f in children[start:-1:2]]


@v_args(inline=False)
class AstBuilder(Transformer):
    """Builds ``elmgrammar.ast`` nodes; used inline by the LALR parser."""

    # ---- module ----------------------------------------------------------------

    def module(self, c):
        header = c[0] if isinstance(c[0], A.ModuleHeader) else None
        items = c[1:] if header else c
        module = A.Module(header, [], [], span(c[0], c[-1]))
        doc = None  # a doc comment waiting for its declaration
        for k, item in enumerate(items):
            if isinstance(item, Token):  # DOC
                if doc is not None:
                    raise _error(item, "a doc comment must be followed by a declaration, not another doc comment")
                if k == 0 and header is not None:
                    module.doc = item.value
                else:
                    doc = item
            elif isinstance(item, A.Import):
                if doc is not None or module.declarations:
                    raise _error(item, "imports must come before the declarations and their doc comments")
                module.imports.append(item)
            else:
                if doc is not None:
                    item.doc = doc.value
                    item.span = span(doc, item)
                    doc = None
                module.declarations.append(item)
        if doc is not None:  # the compiler looks for the declaration up to the end of the text
            raise ElmSyntaxError(*context_var.get().end, "a doc comment must be followed by a declaration",
                                 ["a declaration"])
        if all(isinstance(d, A.InfixDeclaration) for d in module.declarations):
            # the compiler looks for one up to the end of the text
            line, column = context_var.get().end
            raise ElmSyntaxError(line, column, "a module needs at least one declaration", ["a declaration"])
        return module

    def doc(self, c):
        return c[0]

    def plain_header(self, c):
        return A.ModuleHeader("module", str(c[1]), c[2], {}, span(c[0], c[2]))

    def port_header(self, c):
        return A.ModuleHeader("port", str(c[2]), c[3], {}, span(c[0], c[3]))

    def effect_header(self, c):
        return A.ModuleHeader("effect", str(c[2]), c[-1], dict(c[5]), span(c[0], c[-1]))

    def module_name(self, c):
        return c[0]

    def effect_fields(self, c):
        return c[0::2]

    def effect_field(self, c):
        return (str(c[0]), str(c[2]))

    def exposing_all(self, c):
        return A.Exposing(True, [], span(c[0], c[-1]))

    def exposing_list(self, c):
        return A.Exposing(False, c[2:-1:2], span(c[0], c[-1]))

    def exposed_value(self, c):
        return A.Exposed("value", str(c[0]), False, span(c[0], c[0]))

    def exposed_type(self, c):
        return A.Exposed("type", str(c[0]), False, span(c[0], c[0]))

    def exposed_type_open(self, c):
        return A.Exposed("type", str(c[0]), True, span(c[0], c[-1]))

    def exposed_operator(self, c):
        return A.Exposed("operator", c[1].value, False, span(c[0], c[-1]))

    def operator(self, c):
        return c[0]

    def binop(self, c):
        return c[0]

    def import_(self, c):
        name = str(c[1])
        alias = None
        exposing = None
        rest = c[2:]
        if rest and isinstance(rest[0], Token) and rest[0].type == "AS":
            alias = str(rest[1])
            rest = rest[2:]
        if rest:
            exposing = rest[0]
        return A.Import(name, alias, exposing, span(c[0], c[-1]))

    # ---- declarations ----------------------------------------------------------

    def annotation(self, c):
        return A.Annotation(str(c[0]), c[2], span(c[0], c[2]))

    def value_decl(self, c):
        return A.ValueDeclaration(str(c[0]), None, c[1:-2], c[-1], span(c[0], c[-1]))

    def value(self, c):
        return c[0]

    def annotated_value(self, c):
        annotation, decl = c
        return _annotate(annotation, decl)

    def custom_type(self, c):
        eq = next(i for i, x in enumerate(c) if isinstance(x, Token) and x.type == "EQUALS")
        params = [str(x) for x in c[2:eq]]
        return A.CustomType(str(c[1]), params, c[eq + 1::2], span(c[0], c[-1]))

    def constructor(self, c):
        return A.Constructor(str(c[0]), c[1:], span(c[0], c[-1]))

    def type_alias(self, c):
        return A.TypeAlias(str(c[2]), [str(x) for x in c[3:-2]], c[-1], span(c[0], c[-1]))

    def port(self, c):
        return A.PortDeclaration(str(c[1]), c[3], span(c[0], c[-1]))

    def infix(self, c):
        assoc = str(c[1])
        if assoc not in ("left", "right", "non"):
            raise ElmSyntaxError(c[1].line, c[1].column, f"unknown associativity `{assoc}`",
                                 ["left", "right", "non"])
        return A.InfixDeclaration(assoc, int(c[2]), c[4].value, str(c[-1]), span(c[0], c[-1]))

    # ---- types -------------------------------------------------------------------

    def function_type(self, c):
        return A.FunctionType(c[0], c[2], span(c[0], c[2]))

    def type_applied(self, c):
        return A.TypeConstructor(str(c[0]), c[1:], span(c[0], c[-1]))

    def type_var(self, c):
        return A.TypeVar(str(c[0]), span(c[0], c[0]))

    def type_ctor(self, c):
        return A.TypeConstructor(str(c[0]), [], span(c[0], c[0]))

    def unit_type(self, c):
        return A.TupleType([], span(c[0], c[1]))

    def paren_type(self, c):
        inner = c[1]
        inner.span = span(c[0], c[2])  # the brackets belong to the type as written
        return inner

    def tuple_type(self, c):
        return A.TupleType(_items(c), span(c[0], c[-1]))

    def record_type(self, c):
        return A.RecordType(_items(c) if len(c) > 2 else [], None, span(c[0], c[-1]))

    def extensible_record_type(self, c):
        return A.RecordType(c[3:-1:2], str(c[1]), span(c[0], c[-1]))

    def field_type(self, c):
        return (str(c[0]), c[2])

    # ---- expressions -------------------------------------------------------------

    def expr(self, c):
        if len(c) == 1:
            return c[0]
        operands = c[0::2]
        ops = c[1::2]

        def combine(op, left, right, i):
            return A.BinOp(op, left, right, span(left, right))

        def report(message, i):
            context = context_var.get(None)
            if context is not None:
                context.problems.append(A.Problem(message, span(ops[i], ops[i])))

        return resolve(operands, [str(o) for o in ops], combine, report)

    def app(self, c):
        if len(c) == 1:
            return c[0]
        return A.Call(c[0], c[1:], span(c[0], c[-1]))

    def negate(self, c):
        return A.Negate(c[1], span(c[0], c[1]))

    def field_access(self, c):
        return A.FieldAccess(c[0], c[1].value[1:], span(c[0], c[1]))

    def var(self, c):
        return A.Var(c[0].value, span(c[0], c[0]))

    def int_lit(self, c):
        t = c[0]
        return A.Literal("int", int(t.value, 16) if t.type == "HEX" else int(t.value), t.value, span(t, t))

    def float_lit(self, c):
        t = c[0]
        return A.Literal("float", float(t.value), t.value, span(t, t))

    def char_lit(self, c):
        t = c[0]
        return A.Literal("char", unescape(t.value[1:-1]), t.value, span(t, t))

    def string_lit(self, c):
        t = c[0]
        return A.Literal("string", string_value(t.value), t.value, span(t, t))

    def glsl(self, c):
        t = c[0]
        return A.Glsl(t.value[6:-2], span(t, t))

    def accessor(self, c):
        return A.Accessor(c[0].value[1:], span(c[0], c[0]))

    def unit(self, c):
        return A.Tuple([], span(c[0], c[1]))

    def parens(self, c):
        return A.Parens(c[1], span(c[0], c[2]))

    def tuple(self, c):
        return A.Tuple(_items(c), span(c[0], c[-1]))

    def operator_function(self, c):
        return A.OperatorFunction(c[1].value, span(c[0], c[-1]))

    def list(self, c):
        return A.List(_items(c) if len(c) > 2 else [], span(c[0], c[-1]))

    def record(self, c):
        return A.Record(_items(c) if len(c) > 2 else [], span(c[0], c[-1]))

    def record_update(self, c):
        return A.RecordUpdate(str(c[1]), c[3:-1:2], span(c[0], c[-1]))

    def field(self, c):
        return (str(c[0]), c[2])

    def lambda_(self, c):
        return A.Lambda(c[1:-2], c[-1], span(c[0], c[-1]))

    def if_expr(self, c):
        return A.If(c[1], c[3], c[5], span(c[0], c[5]))

    def case_expr(self, c):
        branches = c[3:]
        return A.Case(c[1], branches, span(c[0], branches[-1]))

    def branch(self, c):
        return A.CaseBranch(c[0], c[2], span(c[0], c[2]))

    def let_expr(self, c):
        defs = c[1:-2]
        return A.Let(defs, c[-1], span(c[0], c[-1]))

    def let_value(self, c):
        return c[0]

    def let_annotated(self, c):
        return _annotate(c[0], c[1])

    def let_destructure(self, c):
        return A.Destructure(c[0], c[2], span(c[0], c[2]))

    # ---- patterns ----------------------------------------------------------------

    def alias_pattern(self, c):
        return A.AliasPattern(c[0], str(c[2]), span(c[0], c[2]))

    def cons_pattern(self, c):
        return A.ConsPattern(c[0], c[2], span(c[0], c[2]))

    def ctor_pattern(self, c):
        return A.ConstructorPattern(str(c[0]), c[1:], span(c[0], c[-1]))

    def var_pattern(self, c):
        return A.VarPattern(str(c[0]), span(c[0], c[0]))

    def any_pattern(self, c):
        return A.AnyPattern(span(c[0], c[0]))

    def int_pattern(self, c):
        t = c[0]
        return A.LiteralPattern("int", int(t.value, 16) if t.type == "HEX" else int(t.value), span(t, t))

    def char_pattern(self, c):
        t = c[0]
        return A.LiteralPattern("char", unescape(t.value[1:-1]), span(t, t))

    def string_pattern(self, c):
        t = c[0]
        return A.LiteralPattern("string", string_value(t.value), span(t, t))

    def unit_pattern(self, c):
        return A.TuplePattern([], span(c[0], c[1]))

    def paren_pattern(self, c):
        inner = c[1]
        inner.span = span(c[0], c[2])
        return inner

    def tuple_pattern(self, c):
        return A.TuplePattern(_items(c), span(c[0], c[-1]))

    def list_pattern(self, c):
        return A.ListPattern(_items(c) if len(c) > 2 else [], span(c[0], c[-1]))

    def record_pattern(self, c):
        return A.RecordPattern([str(x) for x in _items(c)] if len(c) > 2 else [], span(c[0], c[-1]))


# Rule names that are Python keywords or builtins get a trailing underscore.
setattr(AstBuilder, "import", AstBuilder.import_)
setattr(AstBuilder, "lambda", AstBuilder.lambda_)
AstBuilder.declarations = AstBuilder.module  # the same items, a different first one allowed


def _error(at, message: str) -> ElmSyntaxError:
    """An error at the start of a token or node."""
    s = span(at, at)
    return ElmSyntaxError(s.line, s.column, message)


def _annotate(annotation: A.Annotation, decl: A.ValueDeclaration) -> A.ValueDeclaration:
    """Attach a type annotation to the definition that must follow it."""
    if annotation.name != decl.name:
        s = decl.span
        raise ElmSyntaxError(s.line, s.column,
                             f"the type annotation for `{annotation.name}` must be followed by its definition, not by `{decl.name}`",
                             [f"a definition of `{annotation.name}`"])
    decl.annotation = annotation
    decl.span = span(annotation, decl)
    return decl
