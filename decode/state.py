"""The incremental parse state of one partial Elm program, for constrained decoding.

A state is the core lexer (with its held-back lexeme), the layout post-lexer and
an LALR recognizer, plus the few rules the compiler enforces outside the
context-free grammar (an annotation is followed by the definition of the same
name; doc comments and imports go where the compiler allows them).

>>> s = ElmParseState("declarations")
>>> s.advance("view model =\\n    ")
True
>>> s.copy().advance("text model.name")
True
>>> s.copy().advance(")")
False
"""

from __future__ import annotations

import codecs
import itertools
from functools import lru_cache

from lark import Token

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.layout import Layout
from elmgrammar.lexer import Lexer
from elmgrammar.namechars import is_inner, is_lower_start, is_upper_start

from .recognizer import Recognizer

MODES = ("module", "declarations", "expression")


@lru_cache(maxsize=None)
def utf8_completions(pending: bytes) -> tuple[str, ...]:
    """One character per lexical class among the characters whose UTF-8 encoding
    starts with ``pending`` (the bytes of an unfinished character), lowest code
    point first. The lexer only asks of a non-ASCII character whether it may start
    or continue a name (and the str predicates of ``char_class``), so the bytes are
    a viable prefix iff one of these completions is (or, where a name must be
    spelled out, one of ``awaited_chars``). ``\xe2\x9c`` only completes to symbols
    (dingbats), which cannot continue a name: judging it by any letter would let
    the model into a dead end."""
    width = 2 if pending[0] < 0xE0 else 3 if pending[0] < 0xF0 else 4
    found: dict[tuple, str] = {}
    for tail in itertools.product(range(0x80, 0xC0), repeat=width - len(pending)):
        try:
            c = (pending + bytes(tail)).decode("utf-8")
        except UnicodeDecodeError:  # overlong forms, surrogates, beyond U+10FFFF
            continue
        found.setdefault(char_class(c), c)
    return tuple(found.values())


def char_class(c: str) -> tuple:
    """What the lexer can tell of a character: characters with the same class are
    interchangeable everywhere but in a name compared by value (``awaited_chars``)."""
    return (is_upper_start(c), is_lower_start(c), is_inner(c), c.isalpha(), c.isdigit(), c.isnumeric(),
            c.isspace(), c.isprintable())


def awaited_chars(rules: "ItemRules", pending: bytes) -> tuple[str, ...]:
    """The characters of the names that type annotations await (a definition must
    repeat its annotation's name exactly) whose UTF-8 begins with ``pending``:
    there the character itself counts, not just its class."""
    return tuple(sorted({c for name in rules.awaited() for c in name if c.encode().startswith(pending)}))


class ItemRules:
    """The compiler's rules that the context-free grammar leaves out, checked token
    by token: annotation names, and where doc comments and imports may stand.

    Blocks are mirrored from the token stream: ``let`` and ``of`` open one,
    ``_CLOSE`` closes one; ``_D``, ``_SEP`` and the first token after ``let``
    start an item in the innermost block.
    """

    __slots__ = ("blocks", "top")

    def __init__(self) -> None:
        # per open block: [annotation name awaited, first token, item start pending]
        self.blocks: list[list] = [[None, None, False]]
        # where the top level is: start, header, module_doc, imports, infixes, doc, decls
        self.top = "start"

    def copy(self) -> "ItemRules":
        new = ItemRules.__new__(ItemRules)
        new.blocks = [b[:] for b in self.blocks]
        new.top = self.top
        return new

    def awaited(self) -> list[str]:
        """The names type annotations await, innermost block last."""
        return [block[0] for block in self.blocks if block[0] is not None]

    def feed(self, tok: Token, partial: bool = False) -> str | None:
        """Check one token (virtual or real); the reason it breaks a rule, or None.
        ``partial``: the token is a held-back lexeme that may still grow."""
        ttype = tok.type
        if ttype in ("_D", "_SEP"):
            self.blocks[-1][2] = True
            return None
        if ttype == "_CLOSE":
            if len(self.blocks) > 1:
                self.blocks.pop()
            return None
        block = self.blocks[-1]
        if block[2]:  # the first token of an item
            block[2] = False
            awaited = block[0]
            block[0] = None
            if awaited is not None:
                ok = ttype == "LOWER" and (awaited.startswith(tok.value) if partial else tok.value == awaited)
                if not ok:
                    return f"the type annotation of `{awaited}` must be followed by its definition"
            block[1] = tok
            if len(self.blocks) == 1:
                reason = self._top_item(tok)
                if reason:
                    return reason
        elif block[1] is not None:
            first = block[1]
            block[1] = None
            if ttype == "COLON" and first.type == "LOWER":
                block[0] = first.value
            elif first.type == "PORT" and ttype == "MODULE":
                self.top = "header"
            elif first.type == "INFIX" and ttype == "LOWER":
                if not any(w.startswith(tok.value) if partial else w == tok.value for w in ("left", "right", "non")):
                    return "an infix declaration needs `left`, `right` or `non`"
        if ttype in ("LET", "OF"):
            self.blocks.append([None, None, ttype == "LET"])
        return None

    def _top_item(self, tok: Token) -> str | None:
        ttype = tok.type
        if ttype == "DOC":
            if self.top == "header":
                self.top = "module_doc"
            elif self.top == "doc":
                return "a doc comment must be followed by a declaration"
            else:
                self.top = "doc"
        elif ttype == "IMPORT":
            if self.top in ("doc", "decls", "infixes"):
                return "imports must come before the declarations"
            self.top = "imports"
        elif ttype in ("MODULE", "EFFECT"):
            self.top = "header"
        elif ttype == "INFIX":
            self.top = "infixes"  # not yet complete: a module needs a declaration
        else:
            self.top = "decls"
        return None

    def complete(self) -> bool:
        """May the text end here (as far as these rules go)?"""
        return self.top == "decls" and self.blocks[0][0] is None


class PromptError(ValueError):
    """A prompt that no text completes into a valid program (of the mode)."""


def check_prompt(prompt: str, mode: str = "declarations") -> "ElmParseState":
    """The state after ``prompt``; :class:`PromptError` when no valid program starts
    with it, naming the line and column (in the prompt) where it goes wrong.

    >>> check_prompt("view model = )")
    Traceback (most recent call last):
    ...
    elmgrammar.decode.state.PromptError: no valid Elm (declarations) starts with this prompt: 1:14: unexpected `)`
    """
    state = ElmParseState(mode, prompt)
    if not state.is_viable():
        raise PromptError(f"no valid Elm ({mode}) starts with this prompt: {state.error}")
    return state


class ElmParseState:
    """The state of one partial program; see the module docstring.

    ``mode``: "module" or "declarations" (top-level items; the header is optional
    in both; declarations may start with a port declaration, as a module's body
    may) or "expression". ``prompt``: text the program starts with.
    """

    __slots__ = ("mode", "lexer", "layout", "recognizer", "rules", "text", "error", "unfinished",
                 "_complete_cache")

    def __init__(self, mode: str = "declarations", prompt: str = "") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.lexer = Lexer()
        self.layout = Layout(expression=mode == "expression")
        self.recognizer = Recognizer({"expression": "expr"}.get(mode, mode))
        self.rules = ItemRules()
        self.text = ""
        self.error: str | None = None   # why the text is not a viable prefix
        self.unfinished = b""  # the bytes of a character still to be completed
        self._complete_cache: tuple[int, bool] | None = None
        if prompt:
            self.advance(prompt)

    def copy(self) -> "ElmParseState":
        """An independent copy (cheap: the stacks are short lists)."""
        new = ElmParseState.__new__(ElmParseState)
        new.mode = self.mode
        new.lexer = self.lexer.copy()
        new.layout = self.layout.copy()
        new.recognizer = self.recognizer.copy()
        new.rules = self.rules.copy()
        new.text = self.text
        new.error = self.error
        new.unfinished = self.unfinished
        new._complete_cache = self._complete_cache
        return new

    # -- advancing ------------------------------------------------------------------

    def advance(self, text: str) -> bool:
        """Append text; return whether the whole text is still a viable prefix.
        Once not viable, a state stays dead (``error`` says why)."""
        if self.error is not None:
            return False
        self.text += text
        try:
            for tok in self.lexer.feed(text):
                self._feed(tok)
        except ElmSyntaxError as e:
            self.error = str(e)
            return False
        if not self._pending_viable():
            lexer = self.lexer  # where the held-back lexeme starts, as its token would be placed
            column = lexer.base + lexer.pos - lexer.line_start + 1
            self.error = f"{lexer.line}:{column}: `{lexer.pending[:20]}` cannot begin anything valid here"
            return False
        return True

    def advance_bytes(self, data: bytes) -> bool:
        """Append bytes (a model token may end inside a UTF-8 character)."""
        if self.error is not None:
            return False
        data = self.unfinished + data
        try:
            text, self.unfinished = data.decode("utf-8"), b""
        except UnicodeDecodeError:
            decoder = codecs.getincrementaldecoder("utf-8")()
            try:
                text = decoder.decode(data)
            except UnicodeDecodeError:
                self.error = "invalid UTF-8"
                return False
            self.unfinished = decoder.getstate()[0]
        if text and not self.advance(text):
            return False
        pending_bytes = self.unfinished
        if pending_bytes:
            # viable iff some completion of the character is (one per lexical class,
            # and those an awaited name spells)
            completions = utf8_completions(pending_bytes) + awaited_chars(self.rules, pending_bytes)
            if not any(self.copy_text_free().advance(c) for c in completions):
                self.error = "no character completes these bytes validly"
                return False
        return True

    def copy_text_free(self) -> "ElmParseState":
        """A copy that forgets pending UTF-8 bytes (for trying completions)."""
        new = self.copy()
        new.unfinished = b""
        return new

    def _feed(self, tok: Token, partial: bool = False) -> None:
        for v in self.layout.process(tok):
            if not self.recognizer.feed(v.type):
                raise ElmSyntaxError(v.line, v.column, f"unexpected `{tok.value[:20]}`")
            reason = self.rules.feed(v, partial)
            if reason:
                raise ElmSyntaxError(v.line, v.column, reason)

    def _pending_viable(self) -> bool:
        alternatives = self.lexer.pending_candidates()
        if alternatives is None:
            return True
        for seq in alternatives:
            layout, recognizer, rules = self.layout.copy(), self.recognizer.copy(), self.rules.copy()
            if _feeds(seq, layout, recognizer, rules):
                return True
        return False

    # -- questions ------------------------------------------------------------------

    def is_viable(self) -> bool:
        """Is the text so far a prefix of some valid program?"""
        return self.error is None

    def is_complete(self) -> bool:
        """Does the text so far parse as a whole (module, declarations or expression)?"""
        if self.error is not None or self.unfinished:
            return False
        cached = self._complete_cache
        if cached is not None and cached[0] == len(self.text):
            return cached[1]
        result = self._complete()
        self._complete_cache = (len(self.text), result)
        return result

    def _complete(self) -> bool:
        lexer, layout, recognizer, rules = self.lexer.copy(), self.layout.copy(), self.recognizer.copy(), self.rules.copy()
        try:
            tokens = lexer.finish()
        except ElmSyntaxError:
            return False
        if not _feeds(tokens, layout, recognizer, rules, partial=False):
            return False
        end = Token("$END", "", 0, 1, 1)
        for v in layout.finish(end):
            if not recognizer.feed(v.type):
                return False
            rules.feed(v)
        if not recognizer.accepts_end():
            return False
        # ItemRules mirror the checks the full parser makes beyond the grammar, so
        # this equals "parse_module(text) succeeds" (a test holds them together).
        return self.mode == "expression" or rules.complete()

    def allows(self, text: str) -> bool:
        """Would appending ``text`` keep the program viable? (The state is unchanged.)"""
        return self.copy().advance(text)


def _feeds(tokens, layout: Layout, recognizer: Recognizer, rules: ItemRules, partial: bool = True) -> bool:
    """Feed tokens through copies of the layout, recognizer and rules; False on an error."""
    try:
        for tok in tokens:
            for v in layout.process(tok):
                if not recognizer.feed(v.type) or rules.feed(v, partial) is not None:
                    return False
    except ElmSyntaxError:
        return False
    return True
