"""The exact full mask, fast: the vocabulary precomputed into lexical classes.

Judging 49,152 entries one by one costs ~15 µs each. But almost every entry is
some whitespace and one unfinished lexeme (`` foo``, ``(``, ``Html``), and what
decides it is only: where that lexeme starts (its column, relative to the open
layout blocks) and what token types it may become. So, once per tokenizer:

- for each way the held-back lexeme ``p`` of a state can continue (a name, an
  upper-case name, an operator, a string, a line comment...), how many leading
  characters of each entry continue it (``cont``), and
- the lexical *class* of what follows: its leading whitespace, and the token
  types its one unfinished lexeme may become ("tail"), or "trivia", "error",
  or "several tokens" (judged one by one, exactly).

Per step, the held-back lexeme is completed once (its token fed to a copy of the
state), the classes are judged with a small table of (column bucket, token type)
answers, and numpy spreads the answers over the vocabulary. Entries the classes
cannot decide go through the exact one-by-one check (``Masker.allowed``). A test
checks the result equals the one-by-one mask on real decoding states.
"""

from __future__ import annotations

import bisect
import codecs
import hashlib
import os
import pickle
import re
from pathlib import Path

import numpy as np
from lark import Token

from elmgrammar.lexer import _MASTER, EXPRESSION_ENDERS, FIELD_TARGETS, KEYWORDS, Lexer
from elmgrammar.errors import ElmSyntaxError

from .masks import Masker
from .state import _STAND_INS, ElmParseState, _feeds
from .vocab import Vocab

_WS = re.compile(r"[ \r\n]*")
_IDENT_CONT = re.compile(r"\w*")
_UPPER_CONT_WORD = re.compile(r"\w*(?:\.[A-Z]\w*)*(?:\.[a-z]\w*)?")
_UPPER_CONT_DOT = re.compile(r"(?:[A-Z]\w*(?:\.[A-Z]\w*)*(?:\.[a-z]\w*)?|[a-z]\w*)?")
_SYMBOL_CONT = re.compile(r"[+\-/*=.<>:&|^?%!]*")
_TERM_START = re.compile(r"[\w(\[{'\"]")

# How a held-back lexeme continues, by kind: the regex of its continuation.
CONTINUATIONS = {"ident": _IDENT_CONT, "upper_word": _UPPER_CONT_WORD, "upper_dot": _UPPER_CONT_DOT,
                 "symbol": _SYMBOL_CONT}

RESERVED = {"=": "EQUALS", ":": "COLON", "|": "PIPE", "->": "ARROW", "..": "DOTDOT", "::": "CONS"}

# class kinds
WS, TAIL, MULTI, ERR, EMPTY = range(5)


class VocabIndex:
    """The per-tokenizer precomputation (see the module docstring)."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        n = len(vocab)
        # The text each entry appends. A piece that ends inside a UTF-8 character
        # is judged as its complete characters plus the letter that stands in for
        # the unfinished one, exactly as ElmParseState.advance_bytes judges it.
        self.texts: list[str | None] = [_effective_text(piece) for piece in vocab.pieces]
        self.decodable = np.array([t is not None for t in self.texts])
        self.classes: list[tuple] = []
        self._class_ids: dict[tuple, int] = {}
        self._suffix_class: dict[str, int] = {}
        self.by_text = {t: i for i, t in enumerate(self.texts) if t}
        self.lengths = np.array([len(t) if t else 0 for t in self.texts], dtype=np.int32)
        # boundary: nothing held back; the whole entry is the suffix
        self.cls = {"boundary": self._classes_of(lambda t: 0)}
        self.cont: dict[str, np.ndarray] = {}
        for kind, regex in CONTINUATIONS.items():
            lengths = [regex.match(t).end() if t else 0 for t in self.texts]
            self.cont[kind] = np.array(lengths, dtype=np.int32)
            self.cls[kind] = self._classes_of(lambda t, r=regex: r.match(t).end())
        # a line comment ends at the first newline; a string at its first quote
        self.first_nl = self._first_index("\n")
        self.first_quote = self._first_index('"')
        self.first_backslash = self._first_index("\\")
        digits = re.compile(r"[0-9]*")
        self.cont["digits"] = np.array([digits.match(t).end() if t else 0 for t in self.texts], dtype=np.int32)
        self.cls["digits"] = self._classes_of(lambda t: digits.match(t).end())
        self.cls["char"] = self._classes_of(lambda t: t.find("'") + 1 if "'" in t else len(t))
        self.first_apostrophe = self._first_index("'")
        self.escaped_apostrophe = np.array([bool(t) and "'" in t and t.find("'") > 0 and t[t.find("'") - 1] == "\\"
                                            for t in self.texts])
        self.first_digit = np.array([bool(t) and t[0].isdigit() for t in self.texts])
        self.first_hex = np.array([bool(t) and t[0] in "0123456789abcdefABCDEF" for t in self.texts])
        exponent = re.compile(r"[eE][+-]?[0-9]*(?![\w.])")
        self.exponent_like = np.array([bool(t) and exponent.match(t) is not None for t in self.texts])
        self.first_numberish = np.array([bool(t) and t[0] in "0123456789.eExX+-abcdefABCDEF" for t in self.texts])
        runs_d = self.cont["digits"]
        self.digits_then_numberish = np.array([bool(t) and runs_d[i] < len(t) and t[runs_d[i]] in ".eExX_"
                                               or (bool(t) and runs_d[i] < len(t) and t[runs_d[i]].isalpha())
                                               for i, t in enumerate(self.texts)])
        self.glsl_start = np.array([bool(t) and t[0] == "g" and ("glsl|".startswith(t[:5]) or t.startswith("glsl|"))
                                    for t in self.texts])
        self.cls["comment"] = self._classes_of(lambda t: t.find("\n") if "\n" in t else len(t))
        self.cls["string"] = self._classes_of(lambda t: t.find('"') + 1 if '"' in t else len(t))
        self.has = {s: np.array([bool(t) and s in t for t in self.texts]) for s in ('"', "\\", "\n", "-}", "{-", "|", "'")}
        self.starts = {s: np.array([bool(t) and t.startswith(s) for t in self.texts]) for s in ("-", "+", "]", "}", '"', '""', ".", "\\", "x", "X")}
        self.first_term_start = np.array([bool(t) and _TERM_START.match(t) is not None for t in self.texts])
        self.first_lower = np.array([bool(t) and "a" <= t[0] <= "z" for t in self.texts])
        self.first_symbol = np.array([bool(t) and t[0] in "+-/*=.<>:&|^?%!" for t in self.texts])
        self.first_ident = np.array([bool(t) and (t[0].isalnum() or t[0] == "_") for t in self.texts])
        self.first_upper = np.array([bool(t) and "A" <= t[0] <= "Z" for t in self.texts])
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
        self.has_dot = np.array([bool(t) and "." in t for t in self.texts])
        self.ends_dot = np.array([bool(t) and t.endswith(".") for t in self.texts])
        self.class_kind = np.array([c[0] for c in self.classes], dtype=np.int8)

    def _first_index(self, s: str) -> np.ndarray:
        return np.array([t.find(s) if t else -1 for t in self.texts], dtype=np.int32)

    def _classes_of(self, split) -> np.ndarray:
        out = np.full(len(self.texts), -1, dtype=np.int32)
        for i, t in enumerate(self.texts):
            if t:
                out[i] = self._class_of(t[split(t):])
        return out

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


def _effective_text(piece: bytes | None) -> str | None:
    """The text a piece appends in a state with no unfinished character: None for
    special tokens and for pieces that cannot follow a complete character."""
    if not piece:
        return None
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        pass
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(piece)
    except UnicodeDecodeError:
        return None
    pending = decoder.getstate()[0]
    width = 2 if pending[0] < 0xE0 else 3 if pending[0] < 0xF0 else 4
    return text + _STAND_INS[width]


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
        fragile = any(t.type == "COLON" for t in tokens) and "\n" in body  # names by value
        return (MULTI, where, (first.type,), flags, rest, tail, fragile)
    p = lexer.pending
    alternatives = lexer.pending_candidates()
    if alternatives is None:
        return (WS, where)
    if any(len(seq) > 1 for seq in alternatives):
        return (MULTI, where)
    types = tuple(sorted({seq[0].type for seq in alternatives} - {"INFIX", "EFFECT", "ALIAS"}))
    flags = ("alias".startswith(p), "effect".startswith(p), "infix".startswith(p),
             p.startswith(".") and len(p) > 1, False)
    return (TAIL, where, types, flags)


INDEX_VERSION = 5  # bump when VocabIndex or the classes change


def index_key(vocab: Vocab) -> str:
    """The cache key of a vocabulary's index: tokenizer, grammar and this code."""
    from importlib.resources import files

    grammar = files("elmgrammar").joinpath("elm.lark").read_bytes()
    lexer = files("elmgrammar").joinpath("lexer.py").read_bytes()
    digest = hashlib.sha256(grammar + lexer + str(INDEX_VERSION).encode()).hexdigest()[:12]
    return f"{vocab.digest}-{digest}"


def cached_index(vocab: Vocab, cache_dir: str | Path | None = None) -> VocabIndex:
    """The vocabulary's index, from the disk cache when it is there (built and
    saved otherwise). ``cache_dir`` defaults to ``~/.cache/elmgrammar/masks``."""
    folder = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "elmgrammar" / "masks"
    path = folder / f"{index_key(vocab)}.pickle"
    try:
        with path.open("rb") as f:
            index = pickle.load(f)
        index.vocab = vocab
        return index
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        pass
    index = VocabIndex(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as f:
        pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)  # atomic: a crash never leaves half a cache file
    return index


class FastMasker(Masker):
    """The exact full mask from the precomputed classes; the lazy path and single
    judgements are those of ``Masker``."""

    def __init__(self, vocab: Vocab, index: VocabIndex | None = None, cache_dir: str | Path | None = None) -> None:
        super().__init__(vocab)
        self.index = index or cached_index(vocab, cache_dir)
        self._verdicts: dict[tuple, np.ndarray] = {}
        # how far right of the cursor a judged class may place a token on its line
        self._reach = 1 + max((c[1][1] + (len(c[4]) + 1 if c[0] == MULTI else 0)
                               for c in self.index.classes if c[0] in (TAIL, MULTI) and c[1][0] == "same"), default=0)
        self.fallbacks = 0  # entries judged one by one in the last full_mask

    def full_mask(self, state: ElmParseState) -> np.ndarray:
        """Exactly ``Masker.full_mask(state)``, in a fraction of the time."""
        ix = self.index
        mask = np.zeros(self.size, dtype=bool)
        self.fallbacks = 0
        if not state.viable:
            return mask
        individual = np.zeros(self.size, dtype=bool)
        if state.decoder.getstate()[0] or _infix_pending(state):
            individual[:] = True
        else:
            self._classes(state, mask, individual)
        individual &= ~mask
        for i in np.flatnonzero(individual):
            mask[i] = self.allowed(state, int(i))
        self.fallbacks = int(individual.sum())
        if self.vocab.eos_id is not None:
            mask[self.vocab.eos_id] = state.is_complete()
        for i in self.vocab.special_ids:
            if i != self.vocab.eos_id:
                mask[i] = False
        return mask

    # -- the per-step work ------------------------------------------------------------

    def _classes(self, state: ElmParseState, mask: np.ndarray, individual: np.ndarray) -> None:
        ix = self.index
        lexer = state.lexer
        p = lexer.pending
        dec = ix.decodable
        if not p:
            self._judge(state, state, "boundary", np.ones(self.size, dtype=bool) & dec, mask, individual)
            return
        head = p[0]
        if p.startswith("--"):
            absorbed = dec & (ix.first_nl < 0)
            mask |= absorbed
            self._judge(state, state, "comment", dec & ~absorbed, mask, individual, trivia_end=True)
            return
        if p.startswith("{-") or p.startswith("[glsl|"):
            if head == "{":
                stop = ix.has["-}"] | ix.has["{-"]
                if p.endswith("-"):
                    stop = stop | ix.starts["}"]
                if p.endswith("{"):
                    stop = stop | ix.starts["-"]
            else:
                stop = ix.has["|"] | ix.starts["]"]
            mask |= dec & ~stop
            individual |= dec & stop
            return
        if head == '"' and p != '""' and not p.startswith('"""'):
            self._string(state, p, mask, individual)
            return
        if p.startswith('"""'):
            if p.endswith("\\"):
                individual |= dec
                return
            stop = ix.has['"'] | ix.has["\\"]
            mask |= dec & ~stop
            individual |= dec & stop
            return
        if head.isalpha() and head.islower():
            self._ident(state, p, mask, individual, "LOWER")
            return
        if head == "." and len(p) > 1 and p[1].isalpha():
            adjacent = lexer.prev_end == lexer.base + lexer.pos
            self._ident(state, p, mask, individual,
                        "DOTFIELD" if adjacent and lexer.prev_type in FIELD_TARGETS else "ACCESSOR")
            return
        if head.isupper():
            self._upper(state, p, mask, individual)
            return
        if head in "+-/*=.<>:&|^?%!":
            self._symbol(state, p, mask, individual)
            return
        if head == "{":
            cont = ix.starts["-"]
            individual |= dec & cont
            self._terminated(state, "LBRACE", "boundary", dec & ~cont, mask, individual)
            return
        if p == '""':
            cont = ix.starts['"']
            individual |= dec & cont
            self._terminated(state, "STRING", "boundary", dec & ~cont, mask, individual)
            return
        if head == "_":
            dead = ix.first_ident
            self._terminated(state, "UNDERSCORE", "boundary", dec & ~dead, mask, individual)
            return
        if head.isdigit():
            self._number(state, p, mask, individual)
            return
        if p == "[":
            glsl = dec & ix.glsl_start  # `[` + `gl` may open `[glsl|`
            individual |= glsl
            self._terminated(state, "LBRACK", "boundary", dec & ~glsl, mask, individual)
            return
        if head == "'":
            self._char(state, p, mask, individual)
            return
        # `[gl`...: rare states, judged one by one
        individual |= dec

    def _number(self, state, p, mask, individual) -> None:
        """``1`` + ``2``, ``1`` + ``)``: digits go on, anything else ends the number
        (a letter right after a number is an error); exponents, fractions and hex
        digits are judged one by one."""
        ix = self.index
        dec = ix.decodable
        if p.startswith("0x"):
            hexa = dec & ix.first_hex
            individual |= hexa                       # more hex digits, one by one
            self._terminated(state, "HEX", "boundary", dec & ~hexa & ~ix.first_ident, mask, individual)
            return
        if p[-1] in "eE+-":
            individual |= dec & (ix.first_digit | ix.starts["+"] | ix.starts["-"])  # the exponent
            return
        if p[-1] == ".":
            individual |= dec & (ix.first_ident | ix.first_symbol)  # `1.5`, `1 .x`, `1 .!`
            return
        if p == "0":
            individual |= dec & (ix.starts["x"] | ix.starts["X"])  # `0x1F`
        run = ix.cont["digits"]
        absorbed = dec & (run == ix.lengths)
        mask |= absorbed  # more digits: the same kind of number, viable as before
        # `.5` (or `1` then an accessor `.x`) and exponents `e3`: one by one; any
        # other letter right after a number is an error
        tricky = dec & (ix.starts["."] | ix.exponent_like)
        individual |= tricky
        grows = dec & (run > 0) & ~absorbed
        ends = dec & (run == 0) & ~tricky & ~ix.first_ident  # a letter or `_` after digits: dead
        # digits then something else: judged after the longer number (same type)
        self._terminated(state, None, "digits", (grows & ~ix.digits_then_numberish) | ends, mask, individual)
        individual |= grows & ix.digits_then_numberish

    def _char(self, state, p, mask, individual) -> None:
        """A character literal in the making: it closes at the entry's first quote."""
        ix = self.index
        dec = ix.decodable
        body = p[1:]
        if body.endswith("\\") or body.startswith("\\"):
            individual |= dec  # an escape in progress: rare, one by one
            return
        # without a quote the literal stays open: only a first character fits
        escaped = dec & ix.escaped_apostrophe   # `\\'` does not close the literal
        individual |= escaped
        if body == "":
            # one character keeps the literal open and viable; an escape, one by one
            mask |= dec & (ix.lengths == 1) & ~ix.has["'"] & ~ix.starts["\\"] & ~ix.has["\n"]
            individual |= dec & ~ix.has["'"] & ix.starts["\\"]
        closes = np.flatnonzero(dec & ix.has["'"] & ~escaped)
        good = [i for i in closes.tolist() if _one_char(body + ix.texts[i][:ix.first_apostrophe[i]])]
        if good:
            selection = np.zeros(self.size, dtype=bool)
            selection[good] = True
            closed = state.copy()
            if closed.advance("x'" if body == "" else "'"):
                base = self._complete_pending(closed) if closed.lexer.pending else closed
                if base is not None:
                    self._judge(state, base, "char", selection, mask, individual)

    def _complete_pending(self, state: ElmParseState, ttype: str | None = None) -> ElmParseState | None:
        """A copy of the state with the held-back lexeme finished where it stands,
        as the lexer would classify it (or as ``ttype``)."""
        new = state.copy()
        lx = new.lexer
        try:
            kind = _MASTER.match(lx.buffer, lx.pos).lastgroup
            tok = lx._lexeme(kind, lx.pos, len(lx.buffer), final=True)
            if ttype is not None:
                tok.type = ttype
            new._feed(tok)
        except ElmSyntaxError:
            return None
        return new

    def _terminated(self, state, ttype, kind, selection, mask, individual) -> None:
        base = self._complete_pending(state, ttype)
        if base is not None:
            self._judge(state, base, kind, selection, mask, individual)

    def _ident(self, state, p, mask, individual, ttype) -> None:
        ix = self.index
        dec = ix.decodable
        cont = ix.cont["ident"]
        absorbed = dec & (cont == ix.lengths)
        grows = dec & (cont > 0) & ~absorbed       # the name goes on, then something else
        if ttype != "LOWER":                       # a field name: its value never matters
            mask |= absorbed
            self._terminated(state, ttype, "ident", dec & ~absorbed, mask, individual)
            return
        # Words whose value matters: keywords the name may still become (`le` ->
        # `let`), and the name an annotation awaits, when this name is where its
        # definition starts. Entries that may spell them are judged one by one.
        words = [w for w in (*KEYWORDS, "alias", "effect", "infix") if w.startswith(p)]
        plain = self._pending_as(state, "x")
        awaited = _awaited_name(state)
        name_matters = awaited is not None and self._pending_as(state, awaited) != plain
        if name_matters:
            words.append(awaited)
        spelled = np.zeros(self.size, dtype=bool)
        for w in words:
            for j in range(len(p) + 1, len(w) + 1):
                ids = ix.runs.get(w[len(p):j])
                if ids is not None:
                    spelled[ids] = True
        individual |= spelled
        if plain:
            mask |= absorbed & ~spelled
        if not name_matters:
            self._terminated(state, "LOWER", "ident", grows & ~spelled, mask, individual)
        self._terminated(state, None, "ident", dec & (cont == 0), mask, individual)

    def _pending_as(self, state: ElmParseState, value: str) -> bool:
        """Would the held-back name be viable as a LOWER token of this value?"""
        alternatives = state.lexer.pending_candidates() or []
        for seq in alternatives:
            if seq[0].type == "LOWER":
                tok = Token("LOWER", value, seq[0].start_pos, seq[0].line, seq[0].column,
                            seq[0].line, seq[0].column, seq[0].start_pos)
                return _feeds([tok], state.layout.copy(), state.recognizer.copy(), state.rules.copy())
        return False

    def _upper(self, state, p, mask, individual) -> None:
        ix = self.index
        dec = ix.decodable
        run = ix.cont["ident"]
        absorbed = dec & (run == ix.lengths)
        qualified = dec & ix.dot_after_run   # `Html` + `.text`, `Html.` + `Attributes.`
        if p.endswith("."):
            # the next part of a qualified name: `Html.` + `Attributes` or `Html.` + `text`;
            # `Html.` + `!` is `Html` and an operator `.!`
            individual |= qualified
            self._dot_operator(state, mask, individual)
            for part, letter in ((ix.first_upper, "X"), (ix.first_lower, "x")):
                # `Html.` + `Attr` goes on as a qualified name, `Html.` + `text` ends
                # as one: judge the kind once, with a stand-in letter
                part = dec & part & ~qualified
                grown = state.copy()
                if not grown.advance(letter):
                    continue
                mask |= part & absorbed
                self._terminated(grown, None, "ident", part & ~absorbed, mask, individual)
            return
        mask |= absorbed
        individual |= qualified & ~absorbed
        ttype = "QUPPER" if "." in p else "UPPER"
        self._terminated(state, ttype, "ident", dec & ~absorbed & ~qualified, mask, individual)

    def _dot_operator(self, state, mask, individual) -> None:
        """``Html.`` + ``!``: the name ``Html``, then an operator that starts with the dot."""
        ix = self.index
        dec = ix.decodable
        run = ix.cont["symbol"]
        symbols = dec & ix.first_symbol
        dotdot = np.zeros(self.size, dtype=bool)
        if "." in ix.symbol_runs:
            dotdot[ix.symbol_runs["."]] = True
        for group, letter in ((symbols & ~dotdot, "!"), (symbols & dotdot, ".")):
            grown = state.copy()
            if grown.advance(letter):
                absorbed = group & (run == ix.lengths)
                mask |= absorbed & ~dotdot if letter == "!" else False
                individual |= absorbed & dotdot  # `Html.` + `.` may grow into `...`
                self._terminated(grown, None, "symbol", group & ~absorbed, mask, individual)

    def _symbol(self, state, p, mask, individual) -> None:
        ix = self.index
        dec = ix.decodable
        run = ix.cont["symbol"]
        grows = dec & (run > 0)
        rest = dec & ~grows
        if p == ".":
            # `.` + a lower-case name is a field (judged with a stand-in name);
            # `.` + other operator characters is an operator; anything else fails
            grown = state.copy()
            if grown.advance("x"):
                field = rest & ix.first_lower
                absorbed = field & (ix.cont["ident"] == ix.lengths)
                mask |= absorbed
                self._terminated(grown, None, "ident", field & ~absorbed, mask, individual)
            self._operator_run(state, p, grows, mask, individual)
            return
        self._operator_run(state, p, grows, mask, individual)
        ttype = RESERVED.get(p, "OP")
        if p == "-":
            lexer = state.lexer
            gap = lexer.prev_end != lexer.base + lexer.pos
            negation_context = gap or lexer.prev_type not in EXPRESSION_ENDERS
            if negation_context:
                self._terminated(state, "NEG", "boundary", rest & ix.first_term_start, mask, individual)
                rest = rest & ~ix.first_term_start
        self._terminated(state, ttype, "boundary", rest, mask, individual)

    def _operator_run(self, state, p, grows, mask, individual) -> None:
        """Entries that continue the operator ``p`` (``=`` + ``=``): one operator
        token, then what follows it."""
        ix = self.index
        run = ix.cont["symbol"]
        # spellings whose type is not OP (`-` + `>`, `.` + `.`), or that open a
        # comment (`-` + `-`): one by one
        special = np.zeros(self.size, dtype=bool)
        for word in (*RESERVED, "--"):
            for j in range(len(p) + 1, len(word) + 1):
                if word[:len(p)] == p:
                    ids = ix.symbol_runs.get(word[len(p):j])
                    if ids is not None:
                        special[ids] = True
        if p == "-":
            special |= ix.starts["-"]
        individual |= grows & special
        grows = grows & ~special
        absorbed = grows & (run == ix.lengths)
        grown = state.copy()
        if grown.advance("!"):          # any operator spelling beyond p is an OP
            mask |= absorbed
            self._terminated(grown, "OP", "symbol", grows & ~absorbed, mask, individual)

    def _string(self, state, p, mask, individual) -> None:
        ix = self.index
        dec = ix.decodable
        if p.endswith("\\"):
            individual |= dec  # an escape in progress
            return
        if p == '"':
            individual |= dec & ix.starts['""']  # `"` + `""` opens `"""`
        q, b, n = ix.first_quote, ix.first_backslash, ix.first_nl
        big = np.int32(1 << 30)
        qq = np.where(q < 0, big, q)
        bb = np.where(b < 0, big, b)
        nn = np.where(n < 0, big, n)
        absorbed = dec & (qq == big) & (bb == big) & (nn == big)
        mask |= absorbed
        closes = dec & (qq < bb) & (qq < nn) & ~individual
        individual |= dec & (bb < qq) & (bb < nn)  # escapes: one by one
        # a newline before the closing quote is an error: those stay False
        self._terminated_string(state, closes, mask, individual)

    def _terminated_string(self, state, selection, mask, individual) -> None:
        # the string closes inside the entry: finish it with the closing quote once,
        # then judge what follows the quote
        if not selection.any():
            return
        new = state.copy()
        if not new.advance('"'):
            return
        base = self._complete_pending(new, "STRING") if new.lexer.pending else new
        if base is not None:
            self._judge(state, base, "string", selection, mask, individual)

    # -- judging classes ------------------------------------------------------------

    def _judge(self, state, base, kind, selection, mask, individual, trivia_end: bool = False) -> None:
        """Judge the suffixes (after the continuation of ``kind``) of the selected
        entries against ``base``, the state with the held-back lexeme finished."""
        ix = self.index
        cls = ix.cls[kind]
        chosen = np.flatnonzero(selection)
        if not len(chosen):
            return
        ids = cls[chosen]
        kinds = ix.class_kind[ids]
        ws_or_empty = (kinds == WS) | (kinds == EMPTY)
        mask[chosen[ws_or_empty]] = True
        judged = (kinds == TAIL) | (kinds == MULTI)
        if not judged.any():
            return
        judge = _ClassJudge(base, trivia_end, self._reach)
        # Verdicts depend only on the base state's signature: the same syntactic
        # place recurs all the time (after `=` at the top level, in a list...), so
        # they are remembered across steps. -1: not judged yet.
        key = judge.signature()
        verdicts = self._verdicts.get(key)
        if verdicts is None:
            if len(self._verdicts) > 20_000:
                self._verdicts.clear()
            verdicts = self._verdicts[key] = np.full(len(ix.classes), -1, dtype=np.int8)
        needed = ids[judged]
        for c in np.unique(needed[verdicts[needed] < 0]).tolist():
            verdicts[c] = judge.verdict(ix.classes[c])
        v = verdicts[needed]
        mask[chosen[judged][v == 1]] = True
        undecided = chosen[judged][v == 2]
        awaited = _awaited_name(base)
        if awaited is not None and len(undecided) > 64:
            # a definition must start with the awaited name: a lone name that is a
            # prefix of it fits (the judge said the name itself does); the rest
            # are judged one by one
            cont = ix.cont[kind] if kind in ix.cont else None
            for i in undecided.tolist():
                if ix.class_kind[cls[i]] == TAIL:
                    text = ix.texts[i]
                    body = text[int(cont[i]) if cont is not None else 0:].lstrip(" \r\n")
                    if awaited.startswith(body):
                        mask[i] = True
                else:
                    individual[i] = True
        else:
            individual[undecided] = True


class _ClassJudge:
    """Judges TAIL classes against one base state, sharing work between them."""

    def __init__(self, base: ElmParseState, trivia_end: bool, reach: int = 17) -> None:
        self.base = base
        self.reach = reach
        lexer = base.lexer
        end = lexer.base + len(lexer.buffer)
        self.cursor_col = end - lexer.line_start + 1
        self.cursor_line = lexer.line
        if trivia_end:  # after a line comment: judged from the comment's end
            self.cursor_col = None
        self.gap = lexer.prev_end != end
        layout = base.layout
        crit = sorted({indent for _, indent in layout.stack} | {1} |
                      ({layout.pending[1]} if layout.pending else set()))
        self.critical = crit
        self.answers: dict[tuple, int] = {}
        self.prefixes: dict[tuple, tuple | None] = {}

    def signature(self) -> tuple:
        """Everything the verdicts depend on: the recognizer, layout and rules
        states, the lexical context, and where the cursor's columns fall."""
        base = self.base
        lexer = base.lexer
        rules = base.rules
        cursor = None if self.cursor_col is None else tuple(self._bucket(self.cursor_col + n) for n in range(self.reach))
        return (tuple(base.recognizer.stack), tuple(base.layout.stack), base.layout.pending,
                tuple((b[0], b[1].type if b[1] is not None else None, b[2]) for b in rules.blocks), rules.top,
                lexer.prev_type, lexer.first, self.gap, cursor, self.cursor_col is None)

    def _bucket(self, col: int) -> tuple:
        i = bisect.bisect_left(self.critical, col)
        exact = i < len(self.critical) and self.critical[i] == col
        return (i, exact)

    def verdict(self, cls: tuple) -> int:
        """1: allowed, 0: not, 2: judge one by one."""
        where, types, flags = cls[1], cls[2], cls[3]
        if where[0] == "nl":
            col, newline = where[1], True
        else:
            if self.cursor_col is None:
                return 2
            col, newline = self.cursor_col + where[1], False
        gap = self.gap or where[1] > 0 or newline
        lexer = self.base.lexer
        candidates = list(types)
        alias, effect, infix, field, negation = flags
        if field:
            candidates = [t for t in candidates if t not in ("DOTFIELD", "ACCESSOR")]
            candidates.append("DOTFIELD" if not gap and lexer.prev_type in FIELD_TARGETS else "ACCESSOR")
        if negation and not gap and lexer.prev_type in EXPRESSION_ENDERS:
            candidates = ["OP"]  # `a-x` is a subtraction
        if alias and lexer.prev_type == "TYPE":
            candidates.append("ALIAS")
        if effect and lexer.first:
            candidates.append("EFFECT")
        if infix and col == 1:
            candidates.append("INFIX")
        bucket = self._bucket(col)
        if cls[0] == MULTI:
            return self._sequence(cls, candidates, col, newline)
        verdict = 0
        for ttype in candidates:
            ok = self._answer(bucket, ttype, col)
            if ok == 1:
                return 1
            verdict = max(verdict, ok)
        return verdict

    def _answer(self, bucket: tuple, ttype: str, col: int) -> int:
        key = (bucket, ttype)
        ok = self.answers.get(key)
        if ok is None:
            ok = self.answers[key] = self._accepts(ttype, col)
        return ok

    def _sequence(self, cls: tuple, firsts: list[str], col: int, newline: bool) -> int:
        """Judge an entry of several tokens by feeding all of them."""
        _, where, _, _, rest, tail, fragile = cls
        base = self.base
        if fragile:
            return 2
        if _awaits_name(base) and ("LOWER" in firsts or any(t == "LOWER" for _, t in rest)
                                   or (tail is not None and any("LOWER" in alt for alt in tail[1]))):
            return 2  # a name at an item start must be the awaited one: by value
        bucket = self._bucket(col)
        firsts = [t for t in firsts if self._answer(bucket, t, col) != 0]
        if not firsts:
            return 0
        line = self.cursor_line + (where[1] > 0 and newline and 0)
        if newline:
            line = self.cursor_line + 1  # only the relative line matters to layout

        for first in firsts:
            after = self._after(bucket, first, col, line, rest)
            if after is None:
                continue
            if tail is None:
                return 1
            ln, cl = _place(tail[0], line, col)
            layout, recognizer, rules = after
            for alternative in tail[1]:
                seq = [Token(t, "x", 0, ln, cl + i, ln, cl + i, 0) for i, t in enumerate(alternative)]
                if _feeds(seq, layout.copy(), recognizer.copy(), rules.copy()):
                    return 1
        return 0

    def _after(self, bucket: tuple, first: str, col: int, line: int, tokens: tuple):
        """The (layout, recognizer, rules) after the first token and ``tokens``,
        or None if they do not fit; shared between entries with a common start."""
        key = (bucket, first, tokens)
        if key in self.prefixes:
            return self.prefixes[key]
        if tokens:
            parent = self._after(bucket, first, col, line, tokens[:-1])
            pos, ttype = tokens[-1]
            ln, cl = _place(pos, line, col)
            tok = Token(ttype, "x", 0, ln, cl, ln, cl, 0)
        else:
            base = self.base
            parent = (base.layout, base.recognizer, base.rules)
            tok = Token(first, "x", 0, line, col, line, col, 0)
        result = None
        if parent is not None:
            layout, recognizer, rules = parent[0].copy(), parent[1].copy(), parent[2].copy()
            if _feeds([tok], layout, recognizer, rules, partial=False):
                result = (layout, recognizer, rules)
        self.prefixes[key] = result
        return result

    def _accepts(self, ttype: str, col: int) -> int:
        """1 if a ``ttype`` token at ``col`` may come next, 0 if not, 2 if it depends
        on the name (a definition must be named as its annotation)."""
        base = self.base

        def feeds(value: str) -> bool:
            tok = Token(ttype, value, 0, self.cursor_line, col, self.cursor_line, col, 0)
            return _feeds([tok], base.layout.copy(), base.recognizer.copy(), base.rules.copy())

        if feeds("x"):
            return 1
        if ttype == "LOWER" and _awaits_name(base):
            awaited = next(b[0] for b in base.rules.blocks if b[0] is not None)
            return 2 if feeds(awaited) else 0
        return 0


def _one_char(body: str) -> bool:
    """Is ``body`` what a character literal may hold: one character or one escape?"""
    if body.startswith("\\"):
        return re.fullmatch(r"\\(?:[nrt\"'\\]|u\{[0-9a-fA-F]{4,6}\})", body) is not None
    return len(body) == 1 and body not in "\n'"


def _place(pos: tuple, line: int, col: int) -> tuple[int, int]:
    """Line and column of a token at ``pos`` in an entry whose first token is at
    (line, col): ("same", k) is k columns on, ("nl", d, c) is d lines down at c."""
    if pos[0] == "same":
        return line, col + pos[1]
    return line + pos[1], pos[2]


def _awaits_name(state: ElmParseState) -> bool:
    """Does an annotation await its definition (whose name must match)?"""
    return _awaited_name(state) is not None


def _awaited_name(state: ElmParseState) -> str | None:
    for block in reversed(state.rules.blocks):
        if block[0] is not None:
            return block[0]
    return None


def _infix_pending(state: ElmParseState) -> bool:
    """Is an infix declaration waiting for its associativity (a name by value)?"""
    first = state.rules.blocks[0][1]
    return first is not None and first.type == "INFIX"
