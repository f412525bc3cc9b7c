"""The per-tokenizer precomputation behind the fast full mask: lexical classes.

For each vocabulary entry and each way a held-back lexeme can continue (a name,
an upper-case name, an operator, digits, a string, a comment, a character), how
many leading characters continue it, and the lexical *class* of the rest: its
leading whitespace and the token types its lexemes may become. Built once per
tokenizer (under a second) and cached on disk, keyed by the tokenizer, the
grammar and this code.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import pickle
import re
from pathlib import Path

import numpy as np

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.lexer import Lexer
from elmgrammar.lexicon import GOOD_ESCAPE, OPERATOR_CHARS, STRING_BODY, STRING_PREFIX, TERM_START, TRIPLE_BODY, TRIPLE_PREFIX
from elmgrammar.namechars import INNER, INNER_RUN, LOWER_NAME, UPPER_NAME, is_inner, is_lower_start, is_upper_start

from .state import utf8_completions
from .vocab import Vocab

_WS = re.compile(r"[ \r\n]*")
_LOWER_NAME = re.compile(LOWER_NAME)
_IDENT_CONT = re.compile(INNER_RUN)
_UPPER_CONT_WORD = re.compile(rf"{INNER_RUN}(?:\.{UPPER_NAME})*(?:\.{LOWER_NAME})?")
_UPPER_CONT_DOT = re.compile(rf"(?:{UPPER_NAME}(?:\.{UPPER_NAME})*(?:\.{LOWER_NAME})?|{LOWER_NAME})?")
_SYMBOL_CONT = re.compile(r"[+\-/*=.<>:&|^?%!]*")

# How a held-back lexeme continues, by kind: the regex of its continuation.
CONTINUATIONS = {"ident": _IDENT_CONT, "upper_word": _UPPER_CONT_WORD, "upper_dot": _UPPER_CONT_DOT,
                 "symbol": _SYMBOL_CONT}

# A multi-line string in the making continues the same way whatever its body,
# given its last quotes: none, one or two (an escape in progress is judged one by one).
TRIPLE_TAILS = ("", '"', '""')
_TRIPLE_GOOD_BODY = re.compile(rf'(?:[^"\\]|{GOOD_ESCAPE}|"(?!""))*', re.DOTALL)
_STRING_GOOD_BODY = re.compile(rf'(?:[^"\\\n]|{GOOD_ESCAPE})*')

# the escapes of one character after the backslash (``\\u{...}`` is the other kind)
SIMPLE_ESCAPES = "nrt\"'\\"

RESERVED = {"=": "EQUALS", ":": "COLON", "|": "PIPE", "->": "ARROW", "..": "DOTDOT", "::": "CONS"}

# class kinds: trivia, one unfinished lexeme, several tokens, a lexical error, nothing
WS, TAIL, MULTI, ERR, EMPTY = range(5)


class VocabIndex:
    """The per-tokenizer precomputation (see the module docstring)."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        # The text each entry appends. A piece that ends inside a UTF-8 character is
        # allowed iff one completion of that character is (ElmParseState.advance_bytes):
        # the entry stands for its first completion (one per lexical class), and
        # virtual entries after the vocabulary for the others; the mask of a piece
        # is the OR of its entries (``virtual_of``: the piece of each virtual entry).
        texts: list[str | None] = []
        virtual: list[tuple[int, str]] = []
        for i, piece in enumerate(vocab.pieces):
            variants = _effective_texts(piece)
            texts.append(variants[0] if variants else None)
            virtual += [(i, t) for t in variants[1:]]
        self.texts = texts + [t for _, t in virtual]
        self.virtual_of = np.array([i for i, _ in virtual], dtype=np.int64)
        self.size = len(self.texts)
        self.decodable = np.array([t is not None for t in self.texts])
        # after an unfinished character, only pieces that begin with a continuation byte
        self.continues_char = np.array([p is not None and (not p or 0x80 <= p[0] < 0xC0) for p in vocab.pieces])
        # pieces that end inside a character (their entries stand for it by its class)
        self.ends_inside_char = np.array([t is not None and t != p.decode("utf-8", "replace")
                                          for p, t in zip(vocab.pieces, texts)])  # t: a completion
        self.classes: list[tuple] = []
        self._class_ids: dict[tuple, int] = {}
        self._suffix_class: dict[str, int] = {}
        self.by_text = {t: i for i, t in enumerate(self.texts) if t}
        self.lengths = np.array([len(t) if t else 0 for t in self.texts], dtype=np.int32)
        # boundary: nothing held back; the whole entry is the suffix
        self.cls: dict[str, np.ndarray] = {}
        # per kind, the entries whose text after the split is one lower-case name
        # (after whitespace), by that name: a definition must start with the name
        # its annotation awaits, and these are its prefixes
        # (``name_ids``: the names; ``names_after[kind]``: the entries in order of
        # their name's id, and where each id's run starts)
        self.name_ids: dict[str, int] = {}
        self.names_after: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._add_kind("boundary", lambda t: 0)
        self.cont: dict[str, np.ndarray] = {}
        for kind, regex in CONTINUATIONS.items():
            lengths = [regex.match(t).end() if t else 0 for t in self.texts]
            self.cont[kind] = np.array(lengths, dtype=np.int32)
            self._add_kind(kind, lambda t, r=regex: r.match(t).end())
        # a line comment ends at the first newline
        self.first_nl = self._first_index("\n")
        digits = re.compile(r"[0-9]*")
        self.cont["digits"] = np.array([digits.match(t).end() if t else 0 for t in self.texts], dtype=np.int32)
        self._add_kind("digits", lambda t: digits.match(t).end())
        hexa = re.compile(r"[0-9a-fA-F]*")
        self.cont["hex"] = np.array([hexa.match(t).end() if t else 0 for t in self.texts], dtype=np.int32)
        self._add_kind("hex", lambda t: hexa.match(t).end())
        after_hex = [t[r] if t and r < len(t) else "" for t, r in zip(self.texts, self.cont["hex"].tolist())]
        self.hex_then_dot = np.array([c == "." for c in after_hex])
        self.hex_then_inner = np.array([bool(c) and is_inner(c) for c in after_hex])
        self._add_kind("char", lambda t: t.find("'") + 1 if "'" in t else len(t))
        self.first_apostrophe = self._first_index("'")
        self.escaped_apostrophe = np.array([bool(t) and "'" in t and t.find("'") > 0 and t[t.find("'") - 1] == "\\"
                                            for t in self.texts])
        self.first_digit = np.array([bool(t) and "0" <= t[0] <= "9" for t in self.texts])
        self.first_hex = np.array([bool(t) and t[0] in "0123456789abcdefABCDEF" for t in self.texts])
        exponent = re.compile(rf"[eE][+-]?[0-9]*(?!{INNER}|\.)")
        self.exponent_like = np.array([bool(t) and exponent.match(t) is not None for t in self.texts])
        self.first_numberish = np.array([bool(t) and t[0] in "0123456789.eExX+-abcdefABCDEF" for t in self.texts])
        runs_d = self.cont["digits"]
        self.digits_then_numberish = np.array([bool(t) and runs_d[i] < len(t) and t[runs_d[i]] in ".eExX_"
                                               or (bool(t) and runs_d[i] < len(t) and t[runs_d[i]].isalpha())
                                               for i, t in enumerate(self.texts)])
        self.glsl_start = np.array([bool(t) and t[0] == "g" and ("glsl|".startswith(t[:5]) or t.startswith("glsl|"))
                                    for t in self.texts])
        self._add_kind("comment", lambda t: t.find("\n") if "\n" in t else len(t))
        # what follows an entry's first character (the `}` that closes a block comment)
        self._add_kind("first_char", lambda t: 1)
        # a string (not the first characters of a multi-line one): the entries that
        # stay validly inside, and those that close it (the class of what follows)
        ends = [string_close(t) if t else None for t in self.texts]
        self.string_inside = np.array([bool(t) and e is None and STRING_PREFIX.fullmatch(t) is not None
                                       for t, e in zip(self.texts, ends)])
        self.string_closes = np.array([e is not None and e > 0 for e in ends])
        self._add_kind("string", [max(e or 0, 0) for e in ends])
        self.has = {s: np.array([bool(t) and s in t for t in self.texts]) for s in ('"', "\\", "\n", "-}", "{-", "|", "'")}
        self.starts = {s: np.array([bool(t) and t.startswith(s) for t in self.texts]) for s in ("-", "+", "]", "}", '"', '""', ".", "\\", "x", "X", "|")}
        self.first_term_start = np.array([bool(t) and TERM_START.match(t) is not None for t in self.texts])
        self.first_lower = np.array([bool(t) and is_lower_start(t[0]) for t in self.texts])
        self.first_symbol = np.array([bool(t) and t[0] in OPERATOR_CHARS for t in self.texts])
        self.first_ident = np.array([bool(t) and is_inner(t[0]) for t in self.texts])
        self.first_upper = np.array([bool(t) and is_upper_start(t[0]) for t in self.texts])
        runs = self.cont["ident"]
        by_run: dict[str, list[int]] = {}
        for i, t in enumerate(self.texts):
            if t and runs[i] > 0:
                by_run.setdefault(t[:runs[i]], []).append(i)
        self.runs = {run: np.array(ids) for run, ids in by_run.items()}
        symbol_runs = self.cont["symbol"]
        by_symbols: dict[str, list[int]] = {}
        for i, t in enumerate(self.texts):
            if t and symbol_runs[i] > 0:
                by_symbols.setdefault(t[:symbol_runs[i]], []).append(i)
        self.symbol_runs = {run: np.array(ids) for run, ids in by_symbols.items()}
        self.dot_after_run = np.array([bool(t) and runs[i] < len(t) and t[runs[i]] == "." for i, t in enumerate(self.texts)])
        # `Html` + `.Attributes.class x`: how the qualified name ends, whether the entry
        # ends with a dot after it (`Html` + `.Events.`: still a name in the making),
        # and whether it has a dot at all
        words = self.cont["upper_word"]
        self.qualified_lower = np.array([bool(t) and words[i] > 0 and is_lower_start(t[:words[i]].rsplit(".", 1)[-1][:1])
                                         and "." in t[:words[i]] for i, t in enumerate(self.texts)])
        self.dot_ends_word = np.array([bool(t) and words[i] == len(t) - 1 and t[-1] == "."
                                       for i, t in enumerate(self.texts)])
        self.word_has_dot = np.array([bool(t) and "." in t[:words[i]] for i, t in enumerate(self.texts)])
        # multi-line strings: per tail, the entries that stay validly inside, and
        # those that close it (the class of what follows the closing quotes)
        self.triple_inside: dict[str, np.ndarray] = {}
        self.triple_closes: dict[str, np.ndarray] = {}
        for tail in TRIPLE_TAILS:
            ends = [triple_close(tail, t) if t else None for t in self.texts]
            self.triple_inside[tail] = np.array([bool(t) and e is None and TRIPLE_PREFIX.fullmatch(tail + t) is not None
                                                 for t, e in zip(self.texts, ends)])
            self.triple_closes[tail] = np.array([e is not None and e > 0 for e in ends])
            kind = "triple" + tail
            self.cont[kind] = np.array([e if e is not None and e > 0 else 0 for e in ends], dtype=np.int32)
            self._add_kind(kind, self.cont[kind])
        # the last character of an escape: a one-character escape (``n``, ``"``...)
        # after a backslash, or the ``}`` that closes ``\\u{...}``; then the rest of
        # the entry is string text like any other (it stays inside, or closes the
        # string: the class of what follows)
        self.simple_escape_start = np.array([bool(t) and t[0] in SIMPLE_ESCAPES for t in self.texts])
        rests = [t[1:] if t else None for t in self.texts]
        ends = [string_close(r) if r is not None else None for r in rests]
        self.escaped_inside = np.array([r is not None and e is None and STRING_PREFIX.fullmatch(r) is not None
                                        for r, e in zip(rests, ends)])
        self.escaped_closes = np.array([e is not None and e > 0 for e in ends])
        self._add_kind("escaped", [1 + e if e is not None and e > 0 else len(t or "")
                                                for t, e in zip(self.texts, ends)])
        ends = [triple_close("", r) if r is not None else None for r in rests]
        self.escaped_triple_inside = np.array([r is not None and e is None and TRIPLE_PREFIX.fullmatch(r) is not None
                                               for r, e in zip(rests, ends)])
        self.escaped_triple_closes = np.array([e is not None and e > 0 for e in ends])
        self._add_kind("triple_escaped", [1 + e if e is not None and e > 0 else len(t or "")
                                                       for t, e in zip(self.texts, ends)])
        # after a backslash, ``u`` (or ``u{``...) begins a ``\\u{1F600}`` escape: one by one
        self.unicode_escape_start = np.array([t == "u" or bool(t) and t.startswith("u{") for t in self.texts])
        # in a character literal the escaped character is the last one: after ``'\\``
        # only entries that stop after it, or close the literal right after it, go on
        self.char_escape_next = np.array([bool(t) and ((t[0] in "nrt\"'\\" and t[1:2] in ("", "'"))
                                                       or (t[0] == "u" and t[1:2] in ("", "{")))
                                          for t in self.texts])
        # inside ``\\u{``: the leading hex digits, and whether ``}`` or the end follows them
        hex_run = re.compile(r"[0-9a-fA-F]*")
        self.hex_run = np.array([hex_run.match(t).end() if t else 0 for t in self.texts], dtype=np.int32)
        self.hex_then_close = np.array([bool(t) and (self.hex_run[i] == len(t) or t[self.hex_run[i]] == "}")
                                        for i, t in enumerate(self.texts)])
        self.class_kind = np.array([c[0] for c in self.classes], dtype=np.int8)

    def _first_index(self, s: str) -> np.ndarray:
        return np.array([t.find(s) if t else -1 for t in self.texts], dtype=np.int32)

    def _add_kind(self, kind: str, split) -> None:
        """The class of each entry's text after ``split`` (a function of the text,
        or the offsets themselves, one per entry), and the names after it."""
        out = np.full(len(self.texts), -1, dtype=np.int32)
        name_of = np.full(len(self.texts), -1, dtype=np.int32)
        for i, t in enumerate(self.texts):
            if t:
                rest = t[split(t) if callable(split) else int(split[i]):]
                out[i] = self._class_of(rest)
                if self.classes[out[i]][0] == TAIL:
                    body = rest.lstrip(" \r\n")
                    if _LOWER_NAME.fullmatch(body):
                        name_of[i] = self.name_ids.setdefault(body, len(self.name_ids))
        self.cls[kind] = out
        named = np.flatnonzero(name_of >= 0)
        order = named[np.argsort(name_of[named], kind="stable")].astype(np.int32)
        self.names_after[kind] = (order, np.searchsorted(name_of[order], np.arange(len(self.name_ids) + 1)).astype(np.int32))

    def entries_named(self, kind: str, name: str) -> np.ndarray:
        """The entries whose text after the split of ``kind`` is ``name`` alone
        (after whitespace)."""
        i = self.name_ids.get(name)
        order, starts = self.names_after[kind]
        if i is None or i + 1 >= len(starts):
            return order[:0]
        return order[starts[i]:starts[i + 1]]

    def _class_of(self, s: str) -> int:
        found = self._suffix_class.get(s)
        if found is None:
            key = _classify(s)
            found = self._class_ids.get(key)
            if found is None:
                found = self._class_ids[key] = len(self.classes)
                self.classes.append(key)
            self._suffix_class[s] = found
        return found


def string_close(text: str) -> int | None:
    """Where ``text`` closes a string (from a point inside it with no escape in
    progress): the offset just after the closing quote; -1 where it cannot (a bad
    escape, a newline first); None where the string goes on."""
    stop = STRING_BODY.match(text).end()
    if not text.startswith('"', stop):
        return None
    return stop + 1 if _STRING_GOOD_BODY.fullmatch(text, 0, stop) else -1


def triple_close(tail: str, text: str) -> int | None:
    """Where ``text`` closes a multi-line string whose body ends in ``tail``: the
    offset just after the closing quotes; -1 where it closes it after an invalid
    escape; None where the string goes on."""
    s = tail + text
    stop = TRIPLE_BODY.match(s).end()
    if not s.startswith('"""', stop):
        return None
    if _TRIPLE_GOOD_BODY.fullmatch(s, 0, stop) is None:
        return -1
    return stop + 3 - len(tail)


def escape_in_progress(body: str) -> str | None:
    """The kind of unfinished escape a string body ends with ("\\", "\\u" or
    "\\u{"), or None. An even run of backslashes
    is escaped backslashes."""
    m = re.search(r"(\\+)(u(\{[0-9a-fA-F]{0,6})?)?$", body)
    if m is None or len(m.group(1)) % 2 == 0:
        return None
    return "\\u{" if m.group(3) is not None else "\\u" if m.group(2) else "\\"


def triple_tail(pending: str) -> str | None:
    """The tail (see TRIPLE_TAILS) of a viable held-back multi-line string, or None
    when it ends inside an escape."""
    body = pending[3:]
    stripped = body.rstrip('"')
    quotes = len(body) - len(stripped)
    backslashes = len(stripped) - len(stripped.rstrip("\\"))
    if backslashes % 2:  # the first of the quotes is escaped, or an escape has begun
        if not quotes:
            return None
        quotes -= 1
    elif not quotes and escape_in_progress(body):
        return None
    return '"' * quotes


def _effective_texts(piece: bytes | None) -> list[str]:
    """The texts a piece may append in a state with no unfinished character: none
    for special tokens and for pieces that cannot follow a complete character; one
    per lexical class of completion for a piece that ends inside a character."""
    if not piece:
        return []
    try:
        return [piece.decode("utf-8")]
    except UnicodeDecodeError:
        pass
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(piece)
    except UnicodeDecodeError:
        return []
    return [text + c for c in utf8_completions(decoder.getstate()[0])]


def _classify(s: str) -> tuple:
    """The lexical class of text that starts at a token boundary."""
    if not s:
        return (EMPTY,)
    lead = _WS.match(s).end()
    ws, body = s[:lead], s[lead:]
    # columns count spaces only: the compiler does not count carriage returns
    if "\n" in ws:
        where = ("nl", 1 + ws[ws.rfind("\n"):].count(" "))   # the column on the new line
    else:
        where = ("same", ws.count(" "))                       # spaces after the cursor
    if not body:
        return (WS, where)
    lexer = Lexer()
    lexer.first = False
    lexer.declared = True  # `infix` as a name: the judge adds INFIX where it may be one
    try:
        tokens = lexer.feed(body)
    except ElmSyntaxError:
        return (ERR, where)
    if tokens:
        # Several tokens: the first one's type may depend on what came before (the
        # judge resolves it); the others are fixed by the entry itself. Positions:
        # ("same", offset from the first) or ("nl", lines down, column).
        first = tokens[0]
        flags = (first.value == "alias", first.value == "effect", first.value == "infix",
                 first.type in ("DOTFIELD", "ACCESSOR"), first.type == "NEG")
        # Same-line offsets only need to grow (later tokens on the line are
        # continuations), so they are numbered 1, 2, 3...: more entries share a class.
        rest = tuple((("same", k + 1) if t.line == 1 else ("nl", t.line - 1, t.column), t.type)
                     for k, t in enumerate(tokens[1:]))
        alternatives = lexer.pending_candidates()
        if alternatives is None:
            tail = None
        else:
            at = len(body) - len(lexer.pending)
            line = body.count("\n", 0, at)
            pos = ("same", len(tokens)) if line == 0 else ("nl", line, at - body.rfind("\n", 0, at))
            tail = (pos, tuple(tuple(t.type for t in seq) for seq in alternatives))
        fragile = (any(t.type == "COLON" for t in tokens) and "\n" in body  # names by value
                   or any(t.value == "infix" for t in tokens[1:]))  # a name or a keyword by context
        return (MULTI, where, (first.type,), flags, rest, tail, fragile)
    p = lexer.pending
    alternatives = lexer.pending_candidates()
    if alternatives is None:
        return (WS, where)
    if any(len(seq) > 1 for seq in alternatives):
        return (MULTI, where)
    types = tuple(sorted({seq[0].type for seq in alternatives} - {"INFIX", "EFFECT", "ALIAS"}))
    flags = ("alias".startswith(p), "effect".startswith(p), "infix".startswith(p),
             p.startswith(".") and len(p) > 1 and is_lower_start(p[1]), False)
    return (TAIL, where, types, flags)


INDEX_VERSION = 14  # bump when VocabIndex or the classes change


def index_key(vocab: Vocab) -> str:
    """The cache key of a vocabulary's index: the tokenizer, and the grammar, the
    lexer and this module's code (a change to any of them builds a new index)."""
    from importlib.resources import files

    names = ("elm.lark", "lexer.py", "namechars.py", "namechars_table.py")
    sources = b"".join(files("elmgrammar").joinpath(name).read_bytes() for name in names)
    sources += Path(__file__).read_bytes() + Path(__file__).with_name("state.py").read_bytes()
    sources += str(INDEX_VERSION).encode()
    return f"{vocab.digest}-{hashlib.sha256(sources).hexdigest()[:12]}"


def cached_index(vocab: Vocab, cache_dir: str | Path | None = None) -> VocabIndex:
    """The vocabulary's index, from the disk cache when it is there (built and
    saved otherwise). ``cache_dir`` defaults to ``~/.cache/elmgrammar/masks``."""
    folder = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "elmgrammar" / "masks"
    path = folder / f"{index_key(vocab)}.pickle"
    try:
        with path.open("rb") as f:
            index = pickle.load(f)
        if isinstance(index, VocabIndex):
            index.vocab = vocab
            return index
    except Exception:  # noqa: BLE001 - unreadable for any reason (cut short, another layout of the code): rebuilt
        pass
    index = VocabIndex(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as f:
        pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)  # atomic: a crash never leaves half a cache file
    return index


