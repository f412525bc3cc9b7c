"""One test per item of Elm 0.19's syntax, checking the AST shape as well as acceptance."""

from __future__ import annotations

import pytest

from elmgrammar import ElmSyntaxError, check, parse_declarations, parse_expression, parse_module
from elmgrammar import ast as A


def body(src: str) -> A.Expr:
    """The body of the single declaration in ``src``."""
    (decl,) = parse_declarations(src)
    return decl.body


def shape(e: A.Expr) -> str:
    """Operators and applications fully parenthesised, to check grouping."""
    if isinstance(e, A.BinOp):
        return f"({shape(e.left)} {e.op} {shape(e.right)})"
    if isinstance(e, A.Var):
        return e.name
    if isinstance(e, A.Literal):
        return e.text
    if isinstance(e, A.Negate):
        return f"-{shape(e.expr)}"
    if isinstance(e, A.Call):
        return "(" + " ".join(shape(x) for x in [e.function, *e.args]) + ")"
    if isinstance(e, A.Parens):
        return shape(e.expr)
    if isinstance(e, A.FieldAccess):
        return f"{shape(e.record)}.{e.field}"
    return type(e).__name__


# ---- module headers and imports ---------------------------------------------------------


def test_module_header_exposing_everything():
    m = parse_module("module A.B exposing (..)\n\nx = 1\n")
    assert m.header.kind == "module" and m.header.name == "A.B"
    assert m.header.exposing.everything


def test_exposing_values_types_open_types_and_operators():
    m = parse_module("module A exposing (value, Type, Msg(..), (+), (|=))\n\nx = 1\n")
    items = [(e.kind, e.name, e.open) for e in m.header.exposing.items]
    assert items == [("value", "value", False), ("type", "Type", False), ("type", "Msg", True),
                     ("operator", "+", False), ("operator", "|=", False)]


def test_port_module():
    m = parse_module("port module Ports exposing (..)\n\nport send : String -> Cmd msg\n")
    assert m.header.kind == "port"
    (port,) = m.declarations
    assert isinstance(port, A.PortDeclaration) and port.name == "send"
    assert isinstance(port.type, A.FunctionType)


def test_effect_module():
    m = parse_module("effect module Task where { command = MyCmd } exposing (Task, perform)\n\nx = 1\n")
    assert m.header.kind == "effect"
    assert m.header.effects == {"command": "MyCmd"}
    assert [e.name for e in m.header.exposing.items] == ["Task", "perform"]


def test_imports_with_alias_and_exposing():
    m = parse_module("module A exposing (..)\n\nimport Html\nimport Html.Attributes as Attr exposing (class, style)\n"
                     "import Url.Parser exposing ((</>))\n\nx = 1\n")
    assert [(i.module, i.alias) for i in m.imports] == [("Html", None), ("Html.Attributes", "Attr"), ("Url.Parser", None)]
    assert [e.name for e in m.imports[1].exposing.items] == ["class", "style"]
    assert m.imports[2].exposing.items[0].kind == "operator"


# ---- declarations ---------------------------------------------------------------------------


def test_annotation_and_function_with_pattern_arguments():
    (d,) = parse_declarations("add : Int -> Int -> Int\nadd (a, _) { b } =\n    a + b\n")
    assert d.name == "add" and d.annotation.name == "add"
    assert isinstance(d.annotation.type, A.FunctionType)
    assert [type(p).__name__ for p in d.args] == ["TuplePattern", "RecordPattern"]
    assert d.span.line == 1 and d.span.end_line == 3


def test_annotation_must_be_followed_by_its_definition():
    with pytest.raises(ElmSyntaxError) as e:
        parse_declarations("add : Int\nsub = 1\n")
    assert (e.value.line, e.value.column) == (2, 1)


def test_custom_type_with_variables_and_constructor_arguments():
    (t,) = parse_declarations("type Result e a\n    = Ok a\n    | Err e\n    | Both (List e) { x : a }\n")
    assert isinstance(t, A.CustomType) and t.params == ["e", "a"]
    assert [(c.name, len(c.args)) for c in t.constructors] == [("Ok", 1), ("Err", 1), ("Both", 2)]


def test_type_alias_record_and_extensible_record():
    a, b = parse_declarations("type alias Model = { count : Int, name : String }\n\n"
                              "type alias Named r = { r | name : String }\n")
    assert isinstance(a.type, A.RecordType) and [f for f, _ in a.type.fields] == ["count", "name"]
    assert b.params == ["r"] and b.type.extends == "r"


def test_infix_declaration():
    d, x = parse_declarations("infix left 0 (|>) = apR\nx = 1\n")
    assert (d.associativity, d.precedence, d.operator, d.function) == ("left", 0, "|>", "apR")
    assert x.name == "x"


def test_doc_comments_attach_to_the_following_declaration():
    m = parse_module("module A exposing (x)\n\n{-| Module doc. -}\n\nimport B\n\n{-| The x. -}\nx : Int\nx = 1\n\ny = 2\n")
    assert m.doc == "{-| Module doc. -}"
    assert m.declarations[0].doc == "{-| The x. -}"
    assert m.declarations[1].doc is None


# ---- literals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("src,kind,value", [
    ("42", "int", 42), ("0x1F", "int", 31), ("1.5", "float", 1.5), ("1e10", "float", 1e10),
    ("6.02e-23", "float", 6.02e-23), ("'a'", "char", "a"), ("'\\n'", "char", "\n"),
    ("'\\u{1F600}'", "char", "\U0001F600"), ('"a\\"b\\\\"', "string", 'a"b\\'),
    ('"""line1\n"quoted"\nline3"""', "string", 'line1\n"quoted"\nline3'),
])
def test_literals(src, kind, value):
    e = parse_expression(src)
    assert isinstance(e, A.Literal) and (e.kind, e.value) == (kind, value)


@pytest.mark.parametrize("src", ["'ab'", "''", '"\\q"', '"open', "'\\u{110000}'", "01", "1.", "1x"])
def test_bad_literals_are_errors(src):
    with pytest.raises(ElmSyntaxError):
        parse_module("x = " + src + "\n")


def test_unit_tuples_lists_records():
    assert parse_expression("()") == A.Tuple([], parse_expression("()").span)
    assert len(parse_expression("(1, 2)").items) == 2
    assert len(parse_expression("(1, 2, 3)").items) == 3
    assert len(parse_expression("[1, 2, 3]").items) == 3 and parse_expression("[]").items == []
    r = parse_expression("{ a = 1, b = \"x\" }")
    assert isinstance(r, A.Record) and [f for f, _ in r.fields] == ["a", "b"]


def test_record_update():
    u = parse_expression("{ r | a = 1, b = 2 }")
    assert isinstance(u, A.RecordUpdate) and u.record == "r" and [f for f, _ in u.fields] == ["a", "b"]


def test_field_access_and_accessors():
    assert shape(parse_expression("r.a.b")) == "r.a.b"
    assert shape(parse_expression("(f x).a")) == "(f x).a"
    e = parse_expression("List.map .name people")
    assert isinstance(e.args[0], A.Accessor) and e.args[0].field == "name"


def test_qualified_names():
    e = parse_expression("Html.Attributes.class Maybe.Just")
    assert e.function.name == "Html.Attributes.class" and e.args[0].name == "Maybe.Just"


def test_unary_minus_is_whitespace_sensitive():
    assert shape(parse_expression("a - x")) == "(a - x)"
    assert shape(parse_expression("a-x")) == "(a - x)"
    assert shape(parse_expression("f -x")) == "(f -x)"
    assert shape(parse_expression("-x")) == "-x"
    assert shape(parse_expression("a - -1")) == "(a - -1)"


@pytest.mark.parametrize("src,expected", [
    ("a + b * c", "(a + (b * c))"),
    ("a * b + c", "((a * b) + c)"),
    ("a - b - c", "((a - b) - c)"),
    ("f <| g <| x", "(f <| (g <| x))"),
    ("x |> f |> g", "((x |> f) |> g)"),
    ("a :: b ++ c", "(a :: (b ++ c))"),
    ("a ++ b :: c", "(a ++ (b :: c))"),
    ("a || b && c", "(a || (b && c))"),
    ("a == b + 1", "(a == (b + 1))"),
    ("2 ^ 3 ^ 4", "(2 ^ (3 ^ 4))"),
    ("f << g << h", "((f << g) << h)"),
    ("f >> g >> h", "(f >> (g >> h))"),
    ("p |. q |= r", "((p |. q) |= r)"),
    ("a </> b <?> c", "(a </> (b <?> c))"),
    ("f x + g y", "((f x) + (g y))"),
])
def test_operator_precedence(src, expected):
    assert shape(parse_expression(src)) == expected


def test_unknown_operator_parses_and_is_reported():
    m = parse_module("x = a <+> b\n")
    assert isinstance(m.declarations[0].body, A.BinOp)
    assert [p.message.split(":")[0] for p in m.problems] == ["unknown operator `<+>`"]
    assert parse_module("x = a < b < c\n").problems
    assert parse_module("x = f << g >> h\n").problems
    assert not parse_module("x = a < b && c < d\n").problems


def test_operator_sections():
    assert parse_expression("(+)").op == "+"
    assert parse_expression("(::)").op == "::"
    assert parse_expression("(-)").op == "-"


def test_lambda_with_pattern_arguments():
    e = parse_expression("\\(a, b) _ -> a")
    assert isinstance(e, A.Lambda) and [type(p).__name__ for p in e.args] == ["TuplePattern", "AnyPattern"]


def test_if_then_else_chain():
    e = parse_expression("if a then 1 else if b then 2 else 3")
    assert isinstance(e, A.If) and isinstance(e.otherwise, A.If)


def test_nested_case_in_let_in_case():
    src = ("f x =\n"
           "    case x of\n"
           "        Just y ->\n"
           "            let\n"
           "                z =\n"
           "                    case y of\n"
           "                        0 -> 1\n"
           "                        _ -> 2\n"
           "            in\n"
           "            z\n"
           "        Nothing ->\n"
           "            0\n")
    outer = body(src)
    assert isinstance(outer, A.Case) and len(outer.branches) == 2
    let = outer.branches[0].body
    assert isinstance(let, A.Let)
    inner = let.definitions[0].body
    assert isinstance(inner, A.Case) and len(inner.branches) == 2


def test_let_with_annotations_and_destructuring():
    e = body("x =\n    let\n        f : Int -> Int\n        f n = n\n\n        ( a, b ) = pair\n        _ = 1\n    in\n    f a\n")
    assert isinstance(e, A.Let)
    f, ab, wild = e.definitions
    assert f.annotation is not None and isinstance(ab, A.Destructure) and isinstance(wild.pattern, A.AnyPattern)


def test_one_line_let_and_in_under_let():
    assert isinstance(body("x = let y = 1 in y\n"), A.Let)
    assert isinstance(body("x =\n    let\n        y = 1\n    in\n    y\n"), A.Let)
    assert isinstance(body("x =\n  let\n    y = 1\n    in y\n"), A.Let)


def test_case_closed_by_parenthesis():
    e = body("x = (case a of\n        A -> 1\n        B -> 2\n    )\n")
    assert isinstance(e.expr, A.Case) and len(e.expr.branches) == 2


def test_application():
    assert shape(parse_expression("f a (g b) c")) == "(f a (g b) c)"


def test_glsl():
    e = parse_expression("[glsl|\nvoid main () { gl_FragColor = vec4(1.0); }\n|]")
    assert isinstance(e, A.Glsl) and "gl_FragColor" in e.source


# ---- patterns -----------------------------------------------------------------------------------


def _pattern(src: str) -> A.Pattern:
    e = parse_expression(f"case v of\n  {src} -> 0")
    return e.branches[0].pattern


@pytest.mark.parametrize("src,node", [
    ("_", A.AnyPattern), ("x", A.VarPattern), ("1", A.LiteralPattern), ("0x1F", A.LiteralPattern),
    ("'c'", A.LiteralPattern), ('"s"', A.LiteralPattern), ("Just x", A.ConstructorPattern),
    ("Maybe.Just (Ok x)", A.ConstructorPattern), ("( a, b )", A.TuplePattern), ("( a, b, c )", A.TuplePattern),
    ("[ a, b ]", A.ListPattern), ("x :: xs", A.ConsPattern), ("{ a, b }", A.RecordPattern),
    ("(x :: xs) as all", A.AliasPattern), ("()", A.TuplePattern), ("( )", A.TuplePattern), ("(x)", A.VarPattern),
])
def test_patterns(src, node):
    assert isinstance(_pattern(src), node)


def test_cons_pattern_values():
    assert _pattern("0x1F").value == 31
    p = _pattern("a :: b :: rest")
    assert isinstance(p.tail, A.ConsPattern)
    assert _pattern("x :: xs as all").pattern.head.name == "x"


def test_float_patterns_are_errors():
    with pytest.raises(ElmSyntaxError):
        _pattern("1.5")


# ---- types -------------------------------------------------------------------------------------


def _type(src: str) -> A.Type:
    (d,) = parse_declarations(f"x : {src}\nx = x\n")
    return d.annotation.type


def test_types():
    assert isinstance(_type("a"), A.TypeVar)
    t = _type("Dict.Dict String (List Int)")
    assert t.name == "Dict.Dict" and [a.name for a in t.args] == ["String", "List"]
    f = _type("(a -> b) -> List a -> List b")
    assert isinstance(f.argument, A.FunctionType) and isinstance(f.result, A.FunctionType)
    assert len(_type("( Int, String )").items) == 2 and _type("()").items == []
    assert _type("{ a : Int }").extends is None and _type("{ r | a : Int }").extends == "r"


# ---- comments, tabs, layout --------------------------------------------------------------------


def test_comments_anywhere():
    src = ("-- line comment\nx = {- a {- nested -} comment -} 1 -- end\n"
           "    + 2\n{- top\n-}\ny =\n-- a comment at column 1 does not end the declaration\n    3\n")
    x, y = parse_declarations(src)
    assert shape(x.body) == "(1 + 2)" and shape(y.body) == "3"


def test_tabs_are_an_error():
    with pytest.raises(ElmSyntaxError) as e:
        parse_module("x =\n\t1\n")
    assert (e.value.line, e.value.column) == (2, 1)


# Where the compiler puts these errors: at the end of what a line's column left
# unfinished, or at the token that cannot stand where it does.
@pytest.mark.parametrize("src,line,column", [
    ("x =\n1\n", 1, 4),                                      # continuation at column 1
    ("x =\n    let\n        a = 1\n         b = 2\n    in a\n", 4, 12),  # misaligned let definition
    ("x =\n    case a of\n        A -> 1\n          B -> 2\n", 4, 13),  # misaligned branch reads as arguments
    ("  x = 1\n", 1, 3),                                     # declaration not at column 1
    ("x =\n    let\n   a = 1\n    in a\n", 2, 8),              # definition left of `let`
    ("x = (1,\n", 1, 8),                                     # the end of the text in a tuple
    ("x : Int\n", 2, 1),                                     # a definition due: the end of the text
    ("x = 1\n{-| d -}\n\n", 4, 1),                         # a doc comment and no declaration
    ("x =\n    [ 1\n]\n", 2, 8),                            # `]` too far left: the list above unfinished
    ("x =\n    { a = 1\n}\n", 3, 1),                         # `}` too far left: the brace itself
])
def test_layout_errors(src, line, column, compiler):
    with pytest.raises(ElmSyntaxError) as e:
        parse_module(src)
    assert (e.value.line, e.value.column) == (line, column)
    verdict = compiler.check(src)
    assert (verdict.valid, verdict.line, verdict.column) == (False, line, column)


def test_spans_are_accurate():
    src = "module A exposing (..)\n\nfoo : Int\nfoo =\n    bar 1\n"
    (d,) = parse_module(src).declarations
    assert (d.span.line, d.span.column, d.span.end_line, d.span.end_column) == (3, 1, 5, 10)
    assert src[d.span.offset:d.span.end_offset] == "foo : Int\nfoo =\n    bar 1"
    call = d.body
    assert src[call.span.offset:call.span.end_offset] == "bar 1"


def test_carriage_returns_do_not_count_as_columns():
    # Windows line ends parse; a stray carriage return does not indent (as in the compiler)
    assert parse_declarations("x =\r\n    1\r\n\r\ny = 2\r\n")[1].name == "y"
    with pytest.raises(ElmSyntaxError):
        parse_module("x = a\n\rb\n")


# ---- the compiler's verdict where it is easy to get wrong ------------------------------------

HEADER = "module M exposing (..)\n\n"

# (what, text, the line of the compiler's error or None when it parses), each checked
# against the Elm 0.19.1 compiler itself as well as against our parser.
COMPILER_VERDICTS = [
    # `infix` starts an infix declaration only before the first declaration
    ("a value named infix after a declaration", HEADER + "y = 1\n\ninfix x = x\n", None),
    ("an annotated value named infix", HEADER + "x : Int\nx = 1\ninfix : Int\ninfix = 2\n", None),
    ("a value named infix after a type", HEADER + "type A = A\ninfix = 2\n", None),
    ("a value named infix after a port", HEADER + "port a : Int\ninfix = 2\n", None),
    ("an infix declaration after a declaration", HEADER + "x = 1\ninfix left 6 (+++) = append\n", 4),
    ("an infix declaration after the imports", HEADER + "import A\ninfix left 6 (+++) = append\nx = 1\n", None),
    ("a value named infix first", HEADER + "infix x = x\n", 3),
    ("only infix declarations", HEADER + "infix left 6 (+++) = append\n", 4),
    # the unit: `()` is one piece in expressions and types, not in patterns
    ("a unit with a space", HEADER + "x = ( )\n", 3),
    ("a unit with a comment", HEADER + "x = ({- a -})\n", 3),
    ("a unit over two lines", HEADER + "x = (\n  )\n", 4),
    ("a unit type with a space", HEADER + "type alias U = ( )\n", 3),
    ("a unit type with a space in an annotation", HEADER + "x : ( ) -> Int\nx _ = 1\n", 3),
    ("a unit pattern with a space", HEADER + "f ( ) = 1\n", None),
    ("a unit pattern with a comment", HEADER + "f ({--}) = 1\n", None),
    ("a unit pattern with a space in a let", HEADER + "x =\n  let\n    ( ) = y\n  in 0\n", None),
    # no negative number patterns
    ("a negative case branch", HEADER + "x = case y of\n    -1 -> 0\n    _ -> 1\n", 4),
    ("a negative case branch in parentheses", HEADER + "x = case y of\n    (-1) -> 0\n    _ -> 1\n", 4),
    ("a negative argument pattern", HEADER + "f -1 = 0\n", 3),
    ("a negative number in a list pattern", HEADER + "f [-1] = 0\n", 3),
    # an operator never starts with a dot (but as `(.->)`)
    ("an operator after a qualifier", HEADER + "x = List.-> y\n", 3),
    ("an operator that starts with a dot", HEADER + "x = a .-> b\n", 3),
    ("a qualified operator", HEADER + "x = a List.++ b\n", 3),
    ("a dot operator after a name", HEADER + "x = a.->b\n", 3),
    ("a dot operator as a function", HEADER + "x = (.->)\n", None),
    ("a dot inside an operator", HEADER + "x = a <.> b\n", None),
    # digits after a number's dot
    ("a number then a field", HEADER + "x = f 2.x 0\n", 3),
    ("a number's dot then an exponent", HEADER + "x = 2.e\n", 3),
    ("a number then an operator with a dot", HEADER + "x = 1.+2\n", 3),
    ("a float then a field", HEADER + "x = 1.5.x\n", None),
    ("a hexadecimal number then a field", HEADER + "x = 0x1F.x\n", None),
    # without a header, a file that starts with `port` is a port module's header
    ("a port declaration first without a header", "port a : Int -> Cmd msg\n", 1),
    ("a port declaration after a comment without a header", "-- c\nport a : Int -> Cmd msg\n", 2),
    ("a port declaration after a doc comment without a header", "{-| d -}\nport a : Int -> Cmd msg\n", None),
    ("a port declaration after an import without a header", "import A\nport a : Int -> Cmd msg\n", None),
    ("a port declaration after a declaration", "x = 1\nport a : Int -> Cmd msg\n", None),
]


@pytest.mark.parametrize("what,text,line", COMPILER_VERDICTS, ids=[c[0] for c in COMPILER_VERDICTS])
def test_the_compilers_verdict(what, text, line, compiler):
    verdict = compiler.check(text)
    assert (verdict.valid, verdict.line) == (line is None, line), f"the compiler: {verdict}"
    try:
        parse_module(text)
        ours = None
    except ElmSyntaxError as e:
        ours = e.line
    assert ours == line


def test_declarations_are_a_modules_body():
    """A file without a header cannot start with a port declaration (the compiler
    reads `port` there as a port module's header); declarations, as a model writes
    them, are a module's body, where it may come first."""
    text = "port a : Int -> Cmd msg\n"
    (port,) = parse_declarations(text)
    assert isinstance(port, A.PortDeclaration) and port.name == "a"
    (error,) = check(text, mode="module")
    assert (error.line, error.column) == (1, 6)
    assert check(text, mode="declarations") == []


@pytest.mark.parametrize("text,line,column", [
    ("x = (1,\n\ny = \"abc\n", 1, 8),   # an unfinished tuple, then a string left open
    ("x = ) \"abc\n", 1, 5),            # on the same line
    ("x = \"abc\ny = )\n", 1, 5),       # the string first: it is the error
])
def test_a_lexical_error_comes_after_the_syntax_errors_before_it(text, line, column, compiler):
    verdict = compiler.check(text)
    assert (verdict.valid, verdict.line) == (False, line)
    (error,) = check(text)
    assert (error.line, error.column) == (line, column)
