"""The Elm lexer: text in, Lark tokens out, fed in pieces if need be.

The lexer is incremental from the start because constrained decoding feeds it a
model's tokens, which split lexemes anywhere (``" foo"``, ``"(num"``, ``"\\"\\"\\""``).
``feed(text)`` returns the tokens that are certainly finished; a lexeme that
touches the end of the buffer is held back until more text (or ``finish()``)
shows where it ends. Its state is a handful of scalars and the unfinished tail,
so ``copy()`` is cheap.

Trivia (spaces, newlines, comments) produce no tokens. Doc comments ``{-| -}``
are tokens (``DOC``): the compiler only allows them before a declaration and
after the module header, so the grammar must see them.
"""

from __future__ import annotations

import re

from lark import Token

from .errors import ElmSyntaxError
from .lexicon import (BLOCK_COMMENT_PARTS, CHAR_PREFIX, EXPRESSION_ENDERS, FIELD_TARGETS, KEYWORD_PREFIXES,
                      KEYWORDS, MASTER, PUNCTUATION, RESERVED_SYMBOLS, STRING_BODY, STRING_PREFIX, TERM_START,
                      TRIPLE_BODY, TRIPLE_PREFIX)
from .namechars import INNER, is_lower_start, is_upper_start

# What may stand at column 1 before the first declaration (`port` only as `port module`).
_BEFORE_DECLARATIONS = frozenset({"MODULE", "PORT", "EFFECT", "IMPORT", "INFIX", "DOC"})

_NUMBER = re.compile(r"0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_TAIL = re.compile(r"|\.|[eE][+-]?|x|\.[0-9]+[eE][+-]?")
_IDENT_CHAR = re.compile(INNER)
_CHAR_BODY = re.compile(r"(?:[^'\\\n]|\\u\{[0-9a-fA-F]*\}|\\.)*")
_ESCAPE = re.compile(r"\\(?:u\{([0-9a-fA-F]{4,6})\}|([nrt\"'\\]))|\\(u\{[^}]*\}?|.?)")
_DIGITS = re.compile(r"[0-9]+")
_FLOAT_PREFIX = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?")
_GLSL_END = re.compile(r"\|\]")
# Characters that may stand inside an escape (or, in a multi-line string, be
# quotes that may become the closing ones). In a body of good units any other
# character ends a unit: it is plain, or the last of `\n`, `\r`, `\t`, `\'`.
_MAYBE_ESCAPED = frozenset('\\"{}u0123456789abcdefABCDEF')
_RESUME_BACK = 32  # how far from the end to look for such a character

_TOKEN_FIELDS = ("type", "start_pos", "value", "line", "column", "end_line", "end_column", "end_pos")
_new_str = str.__new__


def make_token(ttype: str, value: str, start_pos: int, line: int, column: int,
               end_line: int, end_column: int, end_pos: int) -> Token:
    """``lark.Token(ttype, value, start_pos, line, column, end_line, end_column, end_pos)``,
    the same object built without lark's argument handling, which cost a third of
    the lexer's time (a token per lexeme)."""
    tok = _new_str(Token, value)
    tok.type = ttype
    tok.start_pos = start_pos
    tok.value = value
    tok.line = line
    tok.column = column
    tok.end_line = end_line
    tok.end_column = end_column
    tok.end_pos = end_pos
    return tok


if tuple(getattr(Token, "__slots__", ())) != _TOKEN_FIELDS:  # pragma: no cover - a lark whose Token differs
    make_token = Token  # noqa: F811 - its own constructor, same arguments


class Lexer:
    """Turns Elm source into tokens; see the module docstring.

    >>> [t.type for t in Lexer().tokenize("f x = x + 1")]
    ['LOWER', 'LOWER', 'EQUALS', 'LOWER', 'OP', 'INT']
    """

    __slots__ = ("buffer", "base", "pos", "line", "line_start", "prev_type", "prev_end", "first",
                 "declared", "comments", "resume")

    def __init__(self, keep_comments: bool = False) -> None:
        """``keep_comments=True`` records the (start, end) offsets of every ``--`` and
        ``{- -}`` comment in ``comments`` (doc comments are tokens, not comments)."""
        self.buffer = ""      # text not yet turned into tokens, from offset `base`
        self.base = 0         # absolute offset of buffer[0]
        self.pos = 0          # position in buffer of the next lexeme
        self.line = 1
        self.line_start = 0   # absolute offset of the current line's first character
        self.prev_type: str | None = None   # type of the last token emitted
        self.prev_end = -1                  # its absolute end offset
        self.first = True                   # no token emitted yet
        # A declaration (not a header, import or infix) has begun at column 1:
        # from then on `infix` is a name (the compiler reads infix declarations
        # only between the imports and the first declaration).
        self.declared = False
        self.comments: list[tuple[int, int]] | None = [] if keep_comments else None
        # (absolute offset, comment depth): how far the held-back string or block
        # comment is known to be good, so that scanning it again starts there. A
        # model's tokens grow a long literal a few characters at a time; rescanning
        # it whole at every token made decoding quadratic in its length.
        self.resume: tuple[int, int] = (0, 0)

    def copy(self) -> "Lexer":
        """An independent copy of this lexer's state (cheap: scalars and the tail)."""
        new = Lexer.__new__(Lexer)
        new.buffer, new.base, new.pos, new.line = self.buffer, self.base, self.pos, self.line
        new.line_start, new.prev_type, new.prev_end = self.line_start, self.prev_type, self.prev_end
        new.first, new.declared, new.resume = self.first, self.declared, self.resume
        new.comments = None if self.comments is None else list(self.comments)
        return new

    # -- public API ---------------------------------------------------------

    def tokenize(self, text: str) -> list[Token]:
        """All tokens of a complete text."""
        return self.feed(text) + self.finish()

    def feed(self, text: str) -> list[Token]:
        """Add text; return the tokens that no further text could change."""
        if self.pos:
            self.base += self.pos
            self.buffer = self.buffer[self.pos:]
            self.pos = 0
        self.buffer += text
        return self._scan(final=False)

    def finish(self) -> list[Token]:
        """End of input: return the remaining tokens (or raise on an unfinished lexeme)."""
        return self._scan(final=True)

    def pending_token(self) -> Token:
        """The held-back lexeme finished where it stands, as ``finish()`` would read
        it (``1`` as an INT, ``foo`` as a LOWER); the lexer moves past it, so ask a
        copy where the text may go on. Raises ``ElmSyntaxError`` where it cannot end
        there (``"ab``, ``1.``)."""
        kind = MASTER.match(self.buffer, self.pos).lastgroup
        return self._lexeme(kind, self.pos, len(self.buffer), final=True)

    @property
    def pending(self) -> str:
        """The text held back: an unfinished lexeme or trailing trivia."""
        return self.buffer[self.pos:]

    def pending_candidates(self) -> list[list[Token]] | None:
        """What the held-back lexeme may still become, for viability checks.

        None when nothing is held or the held text may be (or start) a comment,
        which more text can always complete. Otherwise a list of alternatives, each
        a list of tokens (usually one) placed where the lexeme starts; an empty list
        means no continuation can make a valid lexeme of it (``"\\q``, ``'ab``).
        """
        p = self.buffer[self.pos:]
        if not p or p.startswith("--") or p == "-" or p == "{" or (p.startswith("{-") and not p.startswith("{-|")):
            return None
        start = self.base + self.pos
        column = start - self.line_start + 1

        def tok(ttype: str, offset: int = 0) -> Token:
            return Token(ttype, p, start + offset, self.line, column + offset, self.line, column + offset, start + offset)

        # (the one two-token alternative, `[` then a name, has the name one column on)
        return [[tok(t, i) for i, t in enumerate(seq)] for seq in self._pending_types(p, column)]

    def _pending_types(self, p: str, column: int) -> list[tuple[str, ...]]:
        c = p[0]
        if p.startswith("{-|"):
            return [("DOC",)]
        if p.startswith("[glsl|"):
            return [("GLSL",)]
        if c == "[":  # a prefix of `[glsl|`
            return [("LBRACK",), ("GLSL",)] if p == "[" else [("GLSL",), ("LBRACK", "LOWER")]
        if p == '""':  # the empty string, or the start of a multi-line one
            return [("STRING",)]
        if p.startswith('"""'):
            return [("STRING",)] if self._good_literal(p, 3, TRIPLE_PREFIX) else []
        if c == '"':
            return [("STRING",)] if self._good_literal(p, 1, STRING_PREFIX) else []
        if c == "'":
            return [("CHAR",)] if CHAR_PREFIX.fullmatch(p, 1) else []
        if c.isdigit():
            if p.startswith("0x"):
                return [("HEX",)]
            if _DIGITS.fullmatch(p):
                if len(p) > 1 and p[0] == "0":
                    return [("FLOAT",)]  # `01` is no integer; `01.5` still lexes as a float
                return [("INT",), ("FLOAT",)] + ([("HEX",)] if p == "0" else [])
            return [("FLOAT",)] if _FLOAT_PREFIX.fullmatch(p) else []
        if c == "_":
            return [("UNDERSCORE",)]
        if c == ".":
            if len(p) > 1 and is_lower_start(p[1]):
                adjacent = self.prev_end == self.base + self.pos
                return [("DOTFIELD" if adjacent and self.prev_type in FIELD_TARGETS else "ACCESSOR",)]
            if len(p) == 1:
                field = "DOTFIELD" if self.prev_end == self.base + self.pos and self.prev_type in FIELD_TARGETS else "ACCESSOR"
                return [("DOTDOT",), ("DOTOP",), (field,)]
        if is_upper_start(c):
            if p.endswith("."):
                return [("QUPPER",), ("QLOWER",)]
            if "." in p and is_lower_start(p.rsplit(".", 1)[1][:1]):
                return [("QLOWER",)]  # `Html.text`: nothing more can join a lower-case last part
            return [("QUPPER" if "." in p else "UPPER",), ("QUPPER",), ("QLOWER",)]
        if is_lower_start(c):
            out = [("LOWER",), *KEYWORD_PREFIXES.get(p, ())]
            if len(p) > 6:  # longer than any contextual keyword
                return out
            if self.prev_type == "TYPE" and "alias".startswith(p):
                out.append(("ALIAS",))
            if self.first and "effect".startswith(p):
                out.append(("EFFECT",))
            if column == 1 and not self.declared and "infix".startswith(p):
                out.append(("INFIX",))
            return out
        # a run of operator characters
        out = [("DOTOP",) if c == "." else ("OP",)]
        for symbol, ttype in RESERVED_SYMBOLS.items():
            if symbol.startswith(p):
                out.append((ttype,))
        return out

    def _resume_at(self, pos: int, lowest: int) -> tuple[int, int]:
        """Where to rescan the held-back lexeme starting at buffer position ``pos``
        (its body starts at ``lowest``), and the comment depth there."""
        offset, depth = self.resume
        if offset - self.base > pos:  # recorded inside this very lexeme
            return offset - self.base, depth
        return lowest, 0

    def _good_literal(self, p: str, width: int, prefix: re.Pattern) -> bool:
        """Is the held-back string ``p`` (``width`` opening quotes) a prefix of a
        valid one? Checked from where an earlier check got to; records how far
        its good units now certainly reach."""
        start = self.base + self.pos
        lowest = self._resume_at(self.pos, self.pos + width)[0] - self.pos
        if prefix.fullmatch(p, lowest) is None:
            return False
        # The body is a sequence of good units (but for an unfinished escape at the
        # end), so checking again may start after any character that ends one.
        for q in range(len(p), max(lowest, len(p) - _RESUME_BACK), -1):
            if p[q - 1] not in _MAYBE_ESCAPED:
                self.resume = (start + q, 0)
                break
        return True

    # -- scanning -----------------------------------------------------------

    def _error(self, offset: int, message: str, expected: tuple[str, ...] = ()) -> ElmSyntaxError:
        """An error at an absolute offset; the line is found by counting newlines."""
        line, line_start = self.line, self.line_start
        rel = offset - self.base
        # offsets may lie beyond the current line (inside a multi-line lexeme)
        newlines = self.buffer.count("\n", self.line_start - self.base if self.line_start >= self.base else 0, rel)
        if newlines:
            line += newlines
            line_start = self.base + self.buffer.rfind("\n", 0, rel) + 1
        return ElmSyntaxError(line, offset - line_start + 1, message, expected)

    def _scan(self, final: bool) -> list[Token]:
        buf = self.buffer
        end = len(buf)
        out: list[Token] = []
        match = MASTER.match
        while self.pos < end:
            pos = self.pos
            m = match(buf, pos)
            if m is None:
                raise self._error(self.base + pos, f"unexpected character {buf[pos]!r}")
            kind = m.lastgroup
            stop = m.end()
            if kind == "SPACE":
                nl = buf.count("\n", pos, stop)
                line_begins = pos
                if nl:
                    self.line += nl
                    line_begins = buf.rfind("\n", pos, stop) + 1
                    self.line_start = self.base + line_begins
                # The compiler does not count a carriage return as a column: moving
                # the line's start keeps every later column on this line right.
                self.line_start += buf.count("\r", line_begins, stop)
                self.pos = stop
                continue
            if kind == "LINECOMMENT":
                if stop == end and not final:
                    break  # the comment may go on
                if self.comments is not None:
                    self.comments.append((self.base + pos, self.base + stop))
                self.pos = stop
                continue
            if kind == "BLOCKCOMMENT":
                stop = self._block_comment_end(pos)
                if stop < 0:
                    if final:
                        raise self._error(self.base + pos, "unfinished comment: `{-` without its `-}`")
                    break
                if buf.startswith("{-|", pos):
                    out.append(self._token("DOC", pos, stop))
                    continue
                if self.comments is not None:
                    self.comments.append((self.base + pos, self.base + stop))
                self._consume_multiline(pos, stop)
                self.pos = stop
                continue
            if kind == "TAB":
                raise self._error(self.base + pos, "tab characters are not allowed in Elm; use spaces")
            tok = self._lexeme(kind, pos, stop, final)
            if tok is None:
                break  # needs more text
            out.append(tok)
        return out

    def _consume_multiline(self, pos: int, stop: int) -> None:
        nl = self.buffer.count("\n", pos, stop)
        if nl:
            self.line += nl
            self.line_start = self.base + self.buffer.rfind("\n", pos, stop) + 1

    def _block_comment_end(self, pos: int) -> int:
        """End offset of the nested block comment starting at pos, or -1 if unfinished
        (then scanning it again will start near the end of the buffer)."""
        buf = self.buffer
        scan_from, depth = self._resume_at(pos, pos)
        last = scan_from
        for m in BLOCK_COMMENT_PARTS.finditer(buf, scan_from):
            last = m.end()
            if m.group() == "{-":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return last
        # resume after the last `{-` or `-}`, or later where no `{` or `-` could
        # join the next text to make one
        q = len(buf)
        while q > last and buf[q - 1] in "{-":
            q -= 1
        if q > pos:
            self.resume = (self.base + q, depth)
        return -1

    def _lexeme(self, kind: str, pos: int, stop: int, final: bool) -> Token | None:
        """Finish one lexeme that starts at pos; None when more text is needed."""
        buf = self.buffer
        end = len(buf)
        ttype = kind
        if kind == "NUMBER":
            m = _NUMBER.match(buf, pos)
            stop = m.end()
            if not final and _NUMBER_TAIL.fullmatch(buf, stop) and (buf[stop:stop + 1] != "x" or m.group() == "0"):
                return None  # `1.`, `1e`, `0x`: more digits may follow
            if stop < end and _IDENT_CHAR.match(buf, stop):
                raise self._error(self.base + stop, "a number must not run into a letter or `_`")
            text = m.group()
            if buf.startswith(".", stop) and not text.startswith("0x") and "." not in text and "e" not in text.lower():
                # `2.x`, `2.e`, `1..2`: the compiler wants digits after the dot
                raise self._error(self.base + stop, "a number's dot must be followed by digits (`2.0`)",
                                  ("a digit",))
            if text.startswith("0x"):
                ttype = "HEX"
            elif "." in text or "e" in text or "E" in text:
                ttype = "FLOAT"
            else:
                ttype = "INT"
                if len(text) > 1 and text[0] == "0":
                    raise self._error(self.base + pos, "a number must not start with 0 (write 0x for hexadecimal)")
        # (more than 6 characters after it: nothing can grow, not even `[` into `[glsl|`)
        elif not final and end - stop <= 6 and _may_grow(kind, buf, pos, stop):
            return None
        elif kind == "LOWER":
            text = buf[pos:stop]
            ttype = KEYWORDS.get(text, "LOWER")
            if ttype == "LOWER":
                col = self.base + pos - self.line_start
                if text == "alias" and self.prev_type == "TYPE":
                    ttype = "ALIAS"
                elif text == "effect" and self.first:
                    ttype = "EFFECT"
                elif text == "infix" and col == 0 and not self.declared:
                    ttype = "INFIX"
        elif kind == "UPPER":
            ttype = "QUPPER" if "." in buf[pos:stop] else "UPPER"
        elif kind == "FIELD":
            if buf[pos + 1:stop] in KEYWORDS:  # `.type`: the compiler reads no reserved word as a field
                raise self._error(self.base + pos + 1, f"`{buf[pos + 1:stop]}` is a reserved word, not a field name",
                                  ("a field name",))
            adjacent = self.prev_end == self.base + pos
            ttype = "DOTFIELD" if adjacent and self.prev_type in FIELD_TARGETS else "ACCESSOR"
        elif kind == "SYMBOL":
            text = buf[pos:stop]
            ttype = RESERVED_SYMBOLS.get(text, "OP")
            if text == "-" and self._is_negation(pos, stop):
                ttype = "NEG"
            elif text == ".":
                raise self._error(self.base + pos, "unexpected `.`", ("a field name right after the dot",))
            elif ttype == "OP" and text[0] == ".":
                ttype = "DOTOP"
        elif kind == "PUNCT":
            ttype = PUNCTUATION[buf[pos]]
            if ttype == "RPAR" and self.prev_type == "LPAR" and self.prev_end != self.base + pos:
                ttype = "LONE_RPAR"  # `( )`: a unit only a pattern may write so
        elif kind == "STRING":
            stop = self._quoted_end(pos, 1, STRING_BODY, '"', final, "string")
            if stop is None:
                return None
        elif kind == "TRIPLESTRING":
            stop = self._quoted_end(pos, 3, TRIPLE_BODY, '"""', final, "multi-line string")
            if stop is None:
                return None
            ttype = "STRING"
        elif kind == "CHAR":
            stop = self._quoted_end(pos, 1, _CHAR_BODY, "'", final, "character")
            if stop is None:
                return None
            self._check_char(pos, stop)
        elif kind == "GLSL":
            m = _GLSL_END.search(buf, stop)
            if m is None:
                if final:
                    raise self._error(self.base + pos, "unfinished GLSL block: `[glsl|` without its `|]`")
                return None
            stop = m.end()
        return self._token(ttype, pos, stop)

    def _is_negation(self, pos: int, stop: int) -> bool:
        """`-x` is negation when `-` touches what follows and not an expression before it.

        The compiler reads `f -x` as `f (-x)` and `a - x`, `a-x` as subtraction.
        """
        buf = self.buffer
        if stop >= len(buf) or not TERM_START.match(buf, stop):
            return False
        gap = self.prev_end != self.base + pos
        return gap or self.prev_type not in EXPRESSION_ENDERS

    def _quoted_end(self, pos: int, width: int, body: re.Pattern, close: str,
                    final: bool, what: str) -> int | None:
        buf = self.buffer
        # the body is known to be good up to the resume point (see _good_literal)
        m = body.match(buf, self._resume_at(pos, pos + width)[0])
        stop = m.end()
        if buf.startswith(close, stop):
            self._check_escapes(pos, stop)
            return stop + len(close)
        if stop < len(buf) and buf[stop] == "\n" and width == 1:
            raise self._error(self.base + pos, f"this {what} is missing its closing {close}")
        if final:
            raise self._error(self.base + pos, f"this {what} is missing its closing {close}")
        return None

    def _check_escapes(self, pos: int, stop: int) -> None:
        buf = self.buffer
        i = buf.find("\\", pos, stop)
        while i >= 0:
            m = _ESCAPE.match(buf, i)
            if m.group(3) is not None:
                raise self._error(self.base + i, f"unknown escape `{m.group()}`",
                                  ("\\n", "\\r", "\\t", '\\"', "\\'", "\\\\", "\\u{XXXX}"))
            if m.group(1) is not None and int(m.group(1), 16) > 0x10FFFF:
                raise self._error(self.base + i, f"escape `{m.group()}` is beyond the last Unicode code point")
            i = buf.find("\\", m.end(), stop)

    def _check_char(self, pos: int, stop: int) -> None:
        inner = self.buffer[pos + 1:stop - 1]
        if inner.startswith("\\"):
            ok = _ESCAPE.fullmatch(inner) is not None
        else:
            ok = len(inner) == 1
        if not ok:
            raise self._error(self.base + pos, "a character literal holds exactly one character")

    def _token(self, ttype: str, pos: int, stop: int) -> Token:
        base = self.base
        start = base + pos
        text = self.buffer[pos:stop]
        line = self.line
        column = start - self.line_start + 1
        nl = text.count("\n") if ttype in ("STRING", "GLSL", "DOC") else 0
        if nl:
            self.line += nl
            self.line_start = start + text.rfind("\n") + 1
        tok = make_token(ttype, text, start, line, column, self.line, base + stop - self.line_start + 1, base + stop)
        if column == 1 and ttype not in _BEFORE_DECLARATIONS or (self.prev_type == "PORT" and ttype != "MODULE"):
            self.declared = True
        self.pos = stop
        self.prev_type = ttype
        self.prev_end = base + stop
        self.first = False
        return tok


def _may_grow(kind: str, buf: str, pos: int, stop: int) -> bool:
    """Could more text change the lexeme at ``buf[pos:stop]`` (which ends the buffer
    or nearly)? ``Html.`` may become ``Html.text``, ``{`` may open a comment ``{-``,
    ``[gl`` may open ``[glsl|``, ``""`` may open ``\"\"\"``."""
    end = len(buf)
    if kind in ("QLOWER", "UPPER", "LOWER", "FIELD", "SYMBOL", "UNDERSCORE"):
        return stop == end or (kind == "UPPER" and stop + 1 == end and buf[stop] == ".")
    if kind == "PUNCT":
        return (buf[pos] == "{" and stop == end) or (buf[pos] == "[" and "[glsl|".startswith(buf[pos:end]))
    if kind == "STRING":
        return buf[pos:end] == '""'
    return False
