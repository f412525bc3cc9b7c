"""Elm's lexical vocabulary: token kinds, reserved words and symbols, operator
characters, and the shapes of literals (whole and cut short).

One public module that the lexer and constrained decoding both read, so that
what a mask expects of the next characters is what the lexer will do with them.
"""

from __future__ import annotations

import re

from .namechars import INNER, LOWER_NAME, UPPER_NAME

# Words the compiler reserves (elm/compiler Parse/Variable.hs). `alias`, `effect`,
# `infix` are contextual (CONTEXTUAL_WORDS): keywords only in some places.
KEYWORDS = {
    "if": "IF", "then": "THEN", "else": "ELSE", "case": "CASE", "of": "OF",
    "let": "LET", "in": "IN", "type": "TYPE", "module": "MODULE", "where": "WHERE",
    "import": "IMPORT", "exposing": "EXPOSING", "as": "AS", "port": "PORT",
}

CONTEXTUAL_WORDS = ("alias", "effect", "infix")

# Every prefix of a keyword, with the keyword types a name so far may still become.
KEYWORD_PREFIXES: dict[str, list[tuple[str]]] = {}
for _word, _ttype in KEYWORDS.items():
    for _n in range(1, len(_word) + 1):
        KEYWORD_PREFIXES.setdefault(_word[:_n], []).append((_ttype,))

# The characters of operators (`+`, `|>`, `</>`...), reserved symbols among them.
OPERATOR_CHARS = "+-/*=.<>:&|^?%!"

# Symbols with a fixed meaning; any other run of operator characters is an OP.
RESERVED_SYMBOLS = {
    "=": "EQUALS", ":": "COLON", "|": "PIPE", "->": "ARROW", "..": "DOTDOT", "::": "CONS",
}

PUNCTUATION = {
    "(": "LPAR", ")": "RPAR", "[": "LBRACK", "]": "RBRACK", "{": "LBRACE", "}": "RBRACE",
    ",": "COMMA", "\\": "BACKSLASH",
}

# Tokens after which, with no space between, `.field` is a field access and `-`
# is subtraction: they end an expression.
EXPRESSION_ENDERS = frozenset({"LOWER", "QLOWER", "UPPER", "QUPPER", "INT", "HEX", "FLOAT",
                               "CHAR", "STRING", "RPAR", "RBRACE", "RBRACK", "DOTFIELD"})
FIELD_TARGETS = frozenset({"LOWER", "QLOWER", "RPAR", "RBRACE", "DOTFIELD"})
# One alternation, tried at each position; group names are the lexeme kinds.
# Order matters: longer or more specific forms first. Names are read as the
# compiler reads them (namechars.py: `café`, `Été`; not `x²`).
MASTER = re.compile(
    "|".join(
        f"(?P<{name}>{pattern})"
        for name, pattern in [
            ("SPACE", r"[ \r\n]+"),
            ("LINECOMMENT", r"--[^\n]*"),
            ("BLOCKCOMMENT", r"\{-"),
            ("GLSL", r"\[glsl\|"),
            ("TRIPLESTRING", r'"""'),
            ("STRING", r'"'),
            ("CHAR", r"'"),
            ("NUMBER", r"[0-9]"),
            ("QLOWER", rf"(?:{UPPER_NAME}\.)+{LOWER_NAME}"),
            ("UPPER", rf"{UPPER_NAME}(?:\.{UPPER_NAME})*"),
            ("LOWER", LOWER_NAME),
            ("UNDERSCORE", rf"_(?!{INNER})"),
            ("FIELD", rf"\.{LOWER_NAME}"),
            ("SYMBOL", f"[{re.escape(OPERATOR_CHARS)}]+"),
            ("PUNCT", r"[()\[\]{},\\]"),
            ("TAB", r"\t"),
        ]
    )
)

STRING_BODY = re.compile(r'(?:[^"\\\n]|\\.)*')
# What nests in a block comment, scanned left to right: `{-` opens one more, `-}`
# closes one; the comment ends where as many have closed as opened.
BLOCK_COMMENT_PARTS = re.compile(r"\{-|-\}")
TRIPLE_BODY = re.compile(r'(?:[^"\\]|\\.|"(?!""))*', re.DOTALL)
# What a held-back literal may look like so far (escapes may be cut short). A code
# point is at most 10FFFF: six digits above it can never become a valid escape.
_SIX_DIGITS = r"0[0-9a-fA-F]{5}|10[0-9a-fA-F]{4}"  # six hex digits up to 10FFFF
_CODE_POINT = rf"(?:[0-9a-fA-F]{{4,5}}|{_SIX_DIGITS})"
_ESCAPE_PREFIX = rf"(?:\\(?:u(?:\{{(?:[0-9a-fA-F]{{0,5}}|{_SIX_DIGITS}))?)?)?"
GOOD_ESCAPE = rf"\\(?:[nrt\"'\\]|u\{{{_CODE_POINT}\}})"
STRING_PREFIX = re.compile(rf'(?:[^"\\\n]|{GOOD_ESCAPE})*{_ESCAPE_PREFIX}')
TRIPLE_PREFIX = re.compile(rf'(?:[^"\\]|{GOOD_ESCAPE}|"(?!""))*"{{0,2}}{_ESCAPE_PREFIX}', re.DOTALL)
CHAR_PREFIX = re.compile(rf"(?:[^'\\\n]|{GOOD_ESCAPE}|{_ESCAPE_PREFIX})")
TERM_START = re.compile(rf"{INNER}|[(\[{{'\"]")
