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

import codecs
import hashlib
import re
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.lexer import make_token
from elmgrammar.lexicon import (BLOCK_COMMENT_PARTS, CHAR_PREFIX, CONTEXTUAL_WORDS, EXPRESSION_ENDERS, FIELD_TARGETS,
                                GOOD_ESCAPE, KEYWORDS, OPERATOR_CHARS, STRING_PREFIX, TRIPLE_PREFIX)
from elmgrammar.namechars import is_inner, is_lower_start, is_upper_start

from .class_judge import ClassJudge, Spelled, awaited_name, infix_pending, one_char, other_name
from .masks import Masker
from .memo import MaskMemo, context_key, line_reach
from .state import ElmParseState, _feeds, char_class, utf8_completions
from .verdict_store import LAYOUT_SPANS, SERIAL, SPANS, VERDICTS, VerdictStore
from .vocab import Vocab
from .vocab_index import EMPTY, MULTI, RESERVED, TAIL, WS, VocabIndex, cached_index, escape_in_progress, triple_tail

DIGITS = "0123456789"
HEX_DIGITS = "0123456789abcdefABCDEF"
SPREADS = 4096  # selections spread from verdicts that are remembered (~20 KB each)


class FastMasker(Masker):
    """The exact full mask from the precomputed classes; the lazy path and single
    judgements are those of ``Masker``."""

    def __init__(self, vocab: Vocab, index: VocabIndex | None = None, cache_dir: str | Path | None = None,
                 compiled: bool = True) -> None:
        super().__init__(vocab)
        self.index = index or cached_index(vocab, cache_dir)
        classes = self.index.classes
        # per class, its verdicts, remembered by where they were judged
        self._verdicts = VerdictStore(len(classes))
        self.memo = MaskMemo()
        self._line_reach = line_reach(self.index.texts)
        # how far right of the cursor a judged class may place a token on its line
        self._reach = 1 + max((c[1][1] + (len(c[4]) + 1 if _spelled(c) else 0)
                               for c in classes if c[0] in (TAIL, MULTI) and c[1][0] == "same"), default=0)
        # the columns a judged class may place a token at after a newline in it
        self._lines = _line_columns(classes)
        self.fallbacks = 0  # entries judged one by one in the last full_mask
        kinds = self.index.class_kind
        # a class of several tokens that does not spell them out (a lexeme alone
        # that may be more than one token): one by one
        opaque = np.array([c[0] == MULTI and not _spelled(c) for c in classes], dtype=bool)
        self._judged_class = ((kinds == TAIL) | (kinds == MULTI)) & ~opaque
        # per class, the answer before any judgement (trivia and empty suffixes are
        # allowed, opaque classes one by one), and one more slot: the class of
        # entries that have none
        self._free_answers = np.zeros(len(kinds) + 1, dtype=np.int8)
        self._free_answers[:-1] = (kinds == WS) | (kinds == EMPTY)
        self._free_answers[:-1][opaque] = 2
        # per kind, each index entry's class (entries without one: the extra slot),
        # of numpy's own index type, which a gather would otherwise convert to each time
        self._cls = {kind: np.where(cls < 0, len(kinds), cls).astype(np.intp) for kind, cls in self.index.cls.items()}
        # (kind, packed selection) -> the classes its entries have
        self._presence: dict[tuple, np.ndarray] = {}
        self._multi_class = kinds == MULTI
        # Classes grouped by their first token (placement, types, flags): ~100 groups
        # for ~900 classes. One answer per group decides its one-token classes and
        # every class whose first token cannot come next.
        groups: dict[tuple, int] = {}
        self._first_group = np.array([groups.setdefault(c[1:4], len(groups)) if c[0] == TAIL or _spelled(c) else -1
                                      for c in classes], dtype=np.int32)
        self._groups = list(groups)
        # per spelled class of several tokens, what ``ClassJudge.sequences`` reads
        # of it past its first token
        self._spelled = Spelled(self._groups, {i: c[4:] for i, c in enumerate(classes) if _spelled(c)}, compiled)
        self._among: np.ndarray | None = None  # the entries the current full_mask judges
        # within one full_mask: states with the held-back lexeme finished, and judges,
        # by the ids of the states they start from (see _terminated, _judge)
        self._finished: dict[tuple, tuple] = {}
        self._answered: dict[tuple, tuple] = {}  # see _spread
        self._judges: dict[tuple, tuple] = {}
        self._continuation_groups: dict[bytes, list[np.ndarray]] = {}
        self._lone: dict[str, np.ndarray] = {}  # see _lone_names
        # per index entry, how many more block comments its text closes than it
        # opens at its lowest point, scanned left to right (0 or less); and the
        # same after a `-` or a `{` (``-`` + ``}`` closes one, ``{`` + ``-`` opens one)
        self._comment_lows = {lead: _comment_low(self.index.texts, lead) for lead in ("", "-", "{")}
        # The shapes of entries that matter after a number (see ``_number``) and in
        # a ``\\u{...}`` escape (see ``_code_point``).
        texts = self.index.texts
        # `.` alone, or `.` and a digit: the number may still go on (`1` + `.5`, `1.5` + `.5e`)
        self._dot_fraction = _shaped(texts, _fraction_start)
        # the text after the entry's hex digits is such a dot (`0x1F` + `F.`)
        self._hex_then_fraction = np.array([bool(t) and _fraction_start(t[run:])
                                            for t, run in zip(texts, self.index.cont["hex"].tolist())])
        # `+` or `-`, alone or before a digit: an exponent's sign (`1e` + `-5`)
        self._exponent_sign = _shaped(texts, lambda t: t[0] in "+-" and _digit_or_end(t[1:]))
        # `{` and hex digits, then `}` or nothing: what may follow `\\u` in an escape
        self._brace_hex = _shaped(texts, lambda t: t[0] == "{" and t[1:].lstrip(HEX_DIGITS)[:1] in ("", "}"))
        # `x` and hex digits (`0` + `xFF`), then nothing (``_x_hex``), or then a
        # character that may end a number (``_x_hex_more``: not a letter or `_`)
        x_hex = [bool(t) and t[0] == "x" and t[1:2] != "" and t[1] in HEX_DIGITS for t in texts]
        after_x_hex = [t[1:].lstrip(HEX_DIGITS)[:1] if x else "" for x, t in zip(x_hex, texts)]
        self._x_hex = np.array([x and c == "" for x, c in zip(x_hex, after_x_hex)])
        self._x_hex_more = np.array([x and c != "" and not is_inner(c) for x, c in zip(x_hex, after_x_hex)])
        # (verdicts' serial, kind, packed selection) -> packed (allowed, undecided or None)
        self._spreads: dict[tuple, tuple[np.ndarray, np.ndarray | None]] = {}

    def full_mask(self, state: ElmParseState, among: np.ndarray | None = None) -> np.ndarray:
        """Exactly ``Masker.full_mask(state, among)``, in a fraction of the time
        (with ``among``, the classes of the other entries are not judged: a few
        hundred candidates cost a fraction of the whole vocabulary)."""
        if among is not None or not state.is_viable():
            return self._full_mask(state, among)
        key = context_key(state, self._line_reach)
        stack = state.recognizer.stack
        mask = self.memo.get(key, stack)
        if mask is None:
            recognizer = state.recognizer
            recognizer.watch = watch = [len(stack) - 1]
            try:
                mask = self._full_mask(state, None)
            finally:
                recognizer.watch = None
            self.memo.put(key, stack, watch[0], mask)
            mask = mask.copy()
        else:
            self.fallbacks = 0
            mask = mask.copy()
        if self.vocab.eos_id is not None:
            mask[self.vocab.eos_id] = state.is_complete()
        return mask

    def _full_mask(self, state: ElmParseState, among: np.ndarray | None) -> np.ndarray:
        ix = self.index
        self.fallbacks = 0
        if not state.is_viable():
            return np.zeros(self.size, dtype=bool)
        unfinished = state.unfinished
        if unfinished:
            # the next piece must finish the character: only pieces that begin with
            # a continuation byte can; one judgement per group of alike pieces
            mask = np.zeros(self.size, dtype=bool)
            spelled = _awaits_non_ascii(state)
            for members in self._continuations(unfinished):
                chosen = members if among is None else members[among[members]]
                if spelled:  # the character itself counts (see _awaits_non_ascii)
                    for i in chosen.tolist():
                        mask[i] = self.allowed(state, i)
                    self.fallbacks += len(chosen)
                elif len(chosen):
                    mask[chosen] = self.allowed(state, int(chosen[0]))
                    self.fallbacks += 1
            return mask
        # entries of the index: the vocabulary, then the virtual ones (other
        # completions of a piece's unfinished character)
        mask = np.zeros(ix.size, dtype=bool)
        individual = np.zeros(ix.size, dtype=bool)
        # _judge reads the selection from here (the helpers below all lead to it)
        self._among = None if among is None else np.concatenate([among, among[ix.virtual_of]])
        try:
            if infix_pending(state):
                individual[:self.size] = True
            else:
                self._classes(state, mask, individual)
        finally:
            self._among, selected = None, self._among
            self._finished.clear()
            self._judges.clear()
        individual &= ~mask
        if selected is not None:
            individual &= selected
        for i in np.flatnonzero(individual):
            mask[i] = self.allowed(state, int(i)) if i < self.size else state.allows(ix.texts[i])
        self.fallbacks = int(individual.sum())
        if len(ix.virtual_of):
            np.logical_or.at(mask, ix.virtual_of, mask[self.size:])
        mask = mask[:self.size]
        if _awaits_non_ascii(state):
            # the entries stand for a piece's unfinished character by its class: where
            # a name must be spelled out, the character itself counts
            for i in np.flatnonzero(ix.ends_inside_char if among is None else ix.ends_inside_char & among).tolist():
                mask[i] = self.allowed(state, i)
                self.fallbacks += 1
        if self.vocab.eos_id is not None:
            mask[self.vocab.eos_id] = among is not None and state.is_complete()
        for i in self.vocab.special_ids:
            if i != self.vocab.eos_id:
                mask[i] = False
        return mask if among is None else mask & among

    def _continuations(self, unfinished: bytes) -> list[np.ndarray]:
        """The pieces that may follow the bytes of an ``unfinished`` character, in
        groups that every state judges alike: each completes a character of the
        same class (``char_class``), then appends the same text, and leaves bytes of
        a next character that complete to the same classes. Pieces that make
        invalid UTF-8 are in no group (never allowed)."""
        groups = self._continuation_groups.get(unfinished)
        if groups is None:
            found: dict[tuple, list[int]] = {}
            for i in np.flatnonzero(self.index.continues_char).tolist():
                decoder = codecs.getincrementaldecoder("utf-8")()
                try:
                    text = decoder.decode(unfinished + self.vocab.pieces[i])
                except UnicodeDecodeError:
                    continue
                rest = decoder.getstate()[0]
                key = (char_class(text[0]) if text else None, text[1:], _classes_after(rest))
                found.setdefault(key, []).append(i)
            if len(self._continuation_groups) > 4096:
                self._continuation_groups.clear()
            groups = self._continuation_groups[unfinished] = [np.array(g) for g in found.values()]
        return groups

    # -- the per-step work ------------------------------------------------------------

    def _classes(self, state: ElmParseState, mask: np.ndarray, individual: np.ndarray) -> None:
        ix = self.index
        lexer = state.lexer
        p = lexer.pending
        dec = ix.decodable
        if not p:
            self._judge(state, state, "boundary", np.ones(self.index.size, dtype=bool) & dec, mask, individual)
            return
        head = p[0]
        if p.startswith("--"):
            absorbed = dec & (ix.first_nl < 0)
            mask |= absorbed
            self._judge(state, state, "comment", dec & ~absorbed, mask, individual, trivia_end=True)
            return
        if p.startswith("{-"):
            self._block_comment(state, p, mask, individual)
            return
        if p.startswith("[glsl|"):
            stop = ix.has["|"] | ix.starts["]"]
            mask |= dec & ~stop
            individual |= dec & stop
            return
        if head == '"' and p != '""' and not p.startswith('"""'):
            self._string(state, p, mask, individual)
            return
        if p.startswith('"""'):
            self._triple_string(state, p, mask, individual)
            return
        if is_lower_start(head):
            self._ident(state, p, mask, individual, "LOWER")
            return
        if head == "." and len(p) > 1 and is_lower_start(p[1]):
            adjacent = lexer.prev_end == lexer.base + lexer.pos
            self._ident(state, p, mask, individual,
                        "DOTFIELD" if adjacent and lexer.prev_type in FIELD_TARGETS else "ACCESSOR")
            return
        if is_upper_start(head):
            self._upper(state, p, mask, individual)
            return
        if head in OPERATOR_CHARS:
            self._symbol(state, p, mask, individual)
            return
        if head == "{":
            # `{` + `-...` opens a block comment: one that neither closes nor nests
            # in the entry (nor is a doc comment) stays open; the others one by one
            cont = dec & ix.starts["-"]
            plain = cont & ~ix.has["-}"] & ~ix.has["{-"] & ~ix.has["|"]
            opened = state.copy()
            if opened.advance("-"):
                mask |= plain
            individual |= cont & ~plain
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

    def _block_comment(self, state, p, mask, individual) -> None:
        """Inside a block comment: an entry stays inside it unless it closes as
        many as are open (then what follows is code: one by one), or its first
        character joins the comment's last one. After a last loose ``-`` at depth 1
        the entries that start with ``}`` close it there: what follows is judged
        by class after the stand-in ``}``."""
        ix = self.index
        dec = ix.decodable
        parts = list(BLOCK_COMMENT_PARTS.finditer(p))
        depth = sum(1 if m.group() == "{-" else -1 for m in parts)
        # a last `-` or `{` that no part took may make one with the entry
        loose = p[-1] if p[-1] in "-{" and parts[-1].end() < len(p) else ""
        stop = dec & (self._comment_lows[loose] <= -depth)
        if p == "{-":
            stop |= ix.starts["|"]  # `{-` + `|` is a doc comment: a token of the grammar
        mask |= dec & ~stop
        if loose == "-" and depth == 1:
            closing = stop & ix.starts["}"]
            stop &= ~closing
            closed = state.copy()
            # where `}` alone is a dead end, so is every entry that starts with it
            if closing.any() and closed.advance("}"):
                if closed.lexer.pending:
                    individual |= closing
                else:
                    self._judge(state, closed, "first_char", closing, mask, individual)
        individual |= stop

    def _number(self, state, p, mask, individual) -> None:
        """``1`` + ``2``, ``1`` + ``)``: digits go on, anything else ends the number
        (a letter right after a number is an error). After ``1.``, ``0x`` and an
        exponent's ``e`` or sign only digits may come: they are judged as the
        continuation of ``1.0``, ``0x0`` and ``1e0``, which lex alike. What is left
        one by one is what may keep the number in the making in another shape:
        ``.`` and ``.5`` after a number, an exponent's ``e``, its sign."""
        ix = self.index
        dec = ix.decodable
        exponent = p[-1] in "eE+-" and not p.startswith("0x")
        if p == "0x" or p[-1] == "." and p[:-1].isdigit() or exponent:
            # `1.` + `5)` lexes as `1.0` + `5)` does, `1e` + `5)` as `1e0` + `5)`; any
            # entry that does not start with a digit is an error (`2.x`: the compiler's
            # WEIRD NUMBER; `1ex`, `0xs`: a number that runs into a letter), but for
            # an exponent's sign (`1e` + `-`, `1e` + `-5`)
            digit = ix.first_hex if p == "0x" else ix.first_digit
            longer = state.copy()
            if longer.advance("0"):
                grown, judged = np.zeros_like(mask), np.zeros_like(individual)
                self._number(longer, longer.lexer.pending, grown, judged)
                mask |= grown & digit
                individual |= judged & digit
            if p[-1] in "eE":
                individual |= dec & self._exponent_sign
            return
        if p[-1] == ".":
            # `1.5.`, `1e3.`, `0x1F.`: a whole number, then `.x` may follow; one by one
            individual |= dec & (ix.first_ident | ix.first_symbol)
            return
        # After the number, a dot: `.` and `.5` may keep it in the making (one by one).
        # After a whole number any other dot is the compiler's WEIRD NUMBER (`1.x`,
        # `1..`); after a float or a hex number it ends the number (`1.5` + `.x`:
        # the float, then `.x`, judged by class)
        fraction = dec & self._dot_fraction
        if p.startswith("0x"):
            run = ix.cont["hex"]
            absorbed = dec & (run == ix.lengths)
            mask |= absorbed                          # more hex digits
            # the run, then a letter or `_`: an error; then `.` or `.5`: one by one
            dotted = dec & self._hex_then_fraction
            individual |= dotted
            after = dec & ~absorbed & ~dotted & ~ix.hex_then_inner
            self._terminated(state, "HEX", "hex", after, mask, individual)
            return
        run = ix.cont["digits"]
        absorbed = dec & (run == ix.lengths)
        mask |= absorbed  # more digits: the same kind of number, viable as before
        if p == "0":
            # `0` + `x1F`: a hexadecimal number in the making, viable as `0x0` is (`x`
            # alone: one by one); `0X`, `0xs`, `0x1Fs` run into a letter (errors); `0x1F`
            # and something else: one by one
            if state.allows("x0"):
                mask |= dec & self._x_hex
            individual |= dec & ((ix.starts["x"] & (ix.lengths == 1)) | self._x_hex_more)
        # exponents (`e3`): one by one; any other letter right after a number is an error
        tricky = fraction | (dec & ix.exponent_like)
        individual |= tricky
        whole = p.isascii() and p.isdigit()
        grows = dec & (run > 0) & ~absorbed
        ends = dec & (run == 0) & ~tricky & ~ix.first_ident  # a letter or `_` after digits: dead
        if whole:
            ends &= ~ix.starts["."]
        # digits then something else: judged after the longer number (same type)
        self._terminated(state, None, "digits", (grows & ~ix.digits_then_numberish) | ends, mask, individual)
        individual |= grows & ix.digits_then_numberish

    def _char(self, state, p, mask, individual) -> None:
        """A character literal in the making: it closes at the entry's first quote."""
        ix = self.index
        dec = ix.decodable
        body = p[1:]
        escape = escape_in_progress(p)
        if escape == "\\":  # `'\\`: the entries that may go on with it, one by one
            individual |= dec & ix.char_escape_next
            return
        if escape:  # `'\\u{1F`
            self._code_point(state, p, escape, mask, individual, char=True)
            return
        # without a quote the literal stays open: only a first character fits
        escaped = dec & ix.escaped_apostrophe   # `\\'` does not close the literal
        individual |= escaped
        if body == "":
            # one character keeps the literal open and viable; an escape, one by one
            mask |= dec & (ix.lengths == 1) & ~ix.has["'"] & ~ix.starts["\\"] & ~ix.has["\n"]
            individual |= dec & ~ix.has["'"] & ix.starts["\\"]
        closes = np.flatnonzero(dec & ix.has["'"] & ~escaped)
        good = [i for i in closes.tolist() if one_char(body + ix.texts[i][:ix.first_apostrophe[i]])]
        if good:
            selection = np.zeros(self.index.size, dtype=bool)
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
        try:
            tok = new.lexer.pending_token()
            if ttype is not None:
                tok.type = ttype
            new._feed(tok)
        except ElmSyntaxError:
            return None
        return new

    def _terminated(self, state, ttype, kind, selection, mask, individual) -> None:
        # within one mask, a state is finished as the same type for several kinds
        # (`Html.X` as QUPPER: a name that ends, or goes on past a dot): once (the
        # state is kept with it, so that its id is not reused during the mask)
        key = (id(state), ttype)
        found = self._finished.get(key)
        if found is None:
            found = self._finished[key] = (state, self._complete_pending(state, ttype))
        if found[1] is not None:
            self._judge(state, found[1], kind, selection, mask, individual)

    def _ident(self, state, p, mask, individual, ttype) -> None:
        ix = self.index
        dec = ix.decodable
        cont = ix.cont["ident"]
        absorbed = dec & (cont == ix.lengths)
        grows = dec & (cont > 0) & ~absorbed       # the name goes on, then something else
        if ttype != "LOWER":
            # a field name: its value matters only where it would end as a reserved
            # word (`.ty` then `pe)`): those entries are judged one by one
            name = p[1:]
            spelled = grows & self._spelling(name, [w for w in KEYWORDS if w.startswith(name)])
            individual |= spelled
            mask |= absorbed
            ending = dec & ~absorbed & ~spelled
            if name in KEYWORDS:
                # ended here the name is a reserved word (refused); grown first it is not
                # (no reserved word begins with another): judged as a grown name
                grown = state.copy()
                if grown.advance("x"):
                    self._terminated(grown, ttype, "ident", ending & grows, mask, individual)
                return
            self._terminated(state, ttype, "ident", ending, mask, individual)
            return
        # Words whose value matters: keywords the name may still become (`le` ->
        # `let`), and the name an annotation awaits, when this name is where its
        # definition starts. Entries that may spell them are judged one by one.
        words = [w for w in (*KEYWORDS, *CONTEXTUAL_WORDS) if w.startswith(p)]
        plain = self._pending_as(state, other_name(state))  # any name but the awaited one
        awaited = awaited_name(state)
        name_matters = awaited is not None and self._pending_as(state, awaited) != plain
        if name_matters:
            words.append(awaited)
        spelled = self._spelling(p, words)
        individual |= spelled
        if plain:
            mask |= absorbed & ~spelled
        if not name_matters:
            self._terminated(state, "LOWER", "ident", grows & ~spelled, mask, individual)
        self._terminated(state, None, "ident", dec & (cont == 0), mask, individual)

    def _spelling(self, name: str, words: list[str]) -> np.ndarray:
        """The entries whose name part, after ``name``, may spell one of ``words``."""
        ix = self.index
        spelled = np.zeros(ix.size, dtype=bool)
        for w in words:
            for j in range(len(name) + 1, len(w) + 1):
                ids = ix.runs.get(w[len(name):j])
                if ids is not None:
                    spelled[ids] = True
        return spelled

    def _pending_as(self, state: ElmParseState, value: str) -> bool:
        """Would the held-back name be viable as a LOWER token of this value?"""
        alternatives = state.lexer.pending_candidates() or []
        for seq in alternatives:
            if seq[0].type == "LOWER":
                tok = make_token("LOWER", value, seq[0].start_pos, seq[0].line, seq[0].column,
                            seq[0].line, seq[0].column, seq[0].start_pos)
                return _feeds([tok], state.layout.copy(), state.recognizer.copy(), state.rules.copy())
        return False

    def _upper(self, state, p, mask, individual) -> None:
        m = self._upper_masks
        if p.endswith("."):
            # the next part of a qualified name: `Html.` + `Attributes` or `Html.` + `text`;
            # `Html.` + `!` is `Html` and an operator `.!`
            self._dot_operator(state, mask, individual)
            # `Html.` + `Attr...` goes on exactly as `Html.X` + `Attr...` does (the
            # part's word goes on): judged as after that stand-in letter, a part
            # that goes on past a dot (`Attributes.`, `Attr.x)`) included
            grown = state.copy()
            if m.upper_part.any() and grown.advance("X"):
                grown_mask, grown_individual = np.zeros_like(mask), np.zeros_like(individual)
                self._upper(grown, grown.lexer.pending, grown_mask, grown_individual)
                mask |= grown_mask & m.upper_part
                individual |= grown_individual & m.upper_part
            # `Html.` + `text` ends as a name with a lower-case last part, which never
            # goes on past a dot (`Html.text` + `.x` is a field of it): judged once,
            # after a stand-in letter
            grown = state.copy()
            if m.lower_part.any() and grown.advance("x"):
                mask |= m.lower_part & m.absorbed
                self._terminated(grown, None, "ident", m.lower_part & ~m.absorbed, mask, individual)
            return
        mask |= m.absorbed
        dotted = "." in p
        self._terminated(state, "QUPPER" if dotted else "UPPER", "ident", m.ends, mask, individual)
        # `Review` + `.Rule`, `.Rule.`, `.Rule exposing`, `.rule)`, `.|`: the name is
        # still in the making (such names are held back alike: one judgement for a
        # final dot, a lower-case and an upper-case last part), or it ends and what
        # follows is judged
        if dotted and is_lower_start(p.rsplit(".", 1)[1][:1]):
            # `Node.value` + `.range`, `.)`: a name with a lower-case last part never
            # goes on past a dot; what follows it is lexed as after any name (a
            # field `.range` of it, an operator `.>`, a stray dot) and judged by class
            self._terminated(state, "QLOWER", "ident", m.qualified, mask, individual)
            return
        for group, stand_in in m.held:
            if state.allows(stand_in):
                mask |= group
        self._terminated(state, "QLOWER", "upper_word", m.lower_word, mask, individual)
        self._terminated(state, "QUPPER", "upper_word", m.dotted_word[dotted], mask, individual)
        self._terminated(state, "UPPER", "upper_word", m.upper_word[dotted], mask, individual)

    @cached_property
    def _upper_masks(self) -> SimpleNamespace:
        """The entries ``_upper`` tells apart, whatever the name (worked out once)."""
        ix = self.index
        dec = ix.decodable
        absorbed = dec & (ix.cont["ident"] == ix.lengths)
        qualified = dec & ix.dot_after_run & ~absorbed  # `Html` + `.text`, `Html.` + `Attributes.`
        held = qualified & ((ix.cont["upper_word"] == ix.lengths) | ix.dot_ends_word)
        ended = qualified & ~held
        lower = ended & ix.qualified_lower
        # in a name without a dot so far, a part ends it as a qualified name only
        # where the entry's word has a dot
        dotted = {False: ended & ~lower & ix.word_has_dot, True: ended & ~lower}
        groups = ((held & ix.dot_ends_word, "."), (held & ~ix.dot_ends_word & ix.qualified_lower, ".x"),
                  (held & ~ix.dot_ends_word & ~ix.qualified_lower, ".X"))
        return SimpleNamespace(
            absorbed=absorbed, ends=dec & ~absorbed & ~(dec & ix.dot_after_run), qualified=qualified,
            held=[(group, stand_in) for group, stand_in in groups if group.any()], lower_word=lower,
            dotted_word=dotted, upper_word={k: ended & ~lower & ~v for k, v in dotted.items()},
            upper_part=dec & ix.first_upper, lower_part=dec & ix.first_lower)

    def _dot_operator(self, state, mask, individual) -> None:
        """``Html.`` + ``!``: the name ``Html``, then an operator that starts with the dot."""
        for letter, group, absorbed in self._dot_operator_masks:
            grown = state.copy()
            if grown.advance(letter):
                if letter == "!":
                    mask |= absorbed
                else:
                    individual |= absorbed  # `Html.` + `.` may grow into `...`
                self._terminated(grown, None, "symbol", group & ~absorbed, mask, individual)

    @cached_property
    def _dot_operator_masks(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Per stand-in after the dot (``!`` for an operator, ``.`` where a second
        dot may make ``..``), its entries and those of them it absorbs whole."""
        ix = self.index
        dec = ix.decodable
        symbols = dec & ix.first_symbol
        dotdot = np.zeros(ix.size, dtype=bool)
        if "." in ix.symbol_runs:
            dotdot[ix.symbol_runs["."]] = True
        whole = ix.cont["symbol"] == ix.lengths
        return [(letter, group, group & whole) for letter, group in (("!", symbols & ~dotdot), (".", symbols & dotdot))]

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
        ttype = RESERVED.get(p, "DOTOP" if p[0] == "." else "OP")
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
        absorbed = grows & (run == ix.lengths)
        # spellings whose type is not OP (`:` + `:`, `-` + `>`): that token (as the
        # lexer types it), then what follows it, by class
        special = np.zeros(self.index.size, dtype=bool)
        if p == "-":
            # `-` + `-...` opens a line comment: it goes on to the entry's first
            # newline, and what follows that is judged by class
            special |= ix.starts["-"]
            comment = state.copy()
            if comment.advance("-"):
                mask |= grows & special & (ix.first_nl < 0)
                self._judge(comment, comment, "comment", grows & special & (ix.first_nl >= 0), mask, individual,
                            trivia_end=True)
        for word in RESERVED:
            if len(word) > len(p) and word.startswith(p):
                ids = ix.symbol_runs.get(word[len(p):])
                if ids is None:
                    continue
                group = np.zeros(self.index.size, dtype=bool)
                group[ids] = True
                group &= grows
                special |= group
                grown = state.copy()
                if group.any() and grown.advance(word[len(p):]):
                    mask |= group & absorbed
                    self._terminated(grown, None, "symbol", group & ~absorbed, mask, individual)
        grows = grows & ~special
        absorbed &= ~special
        grown = state.copy()
        if grown.advance("!"):          # any operator spelling beyond p is an OP
            mask |= absorbed
            self._terminated(grown, "DOTOP" if p[0] == "." else "OP", "symbol", grows & ~absorbed, mask, individual)

    def _string(self, state, p, mask, individual) -> None:
        ix = self.index
        dec = ix.decodable
        escape = escape_in_progress(p)
        if escape == "\\":
            self._escaped(state, "", mask, individual)
            return
        if escape:
            self._code_point(state, p, escape, mask, individual)
            return
        if p == '"':
            individual |= dec & ix.starts['""']  # `"` + `""` opens `"""`
        mask |= dec & ix.string_inside & ~individual
        # a newline or a bad escape before the closing quote is an error: those stay False
        self._terminated_string(state, dec & ix.string_closes & ~individual, mask, individual)

    def _triple_string(self, state, p, mask, individual) -> None:
        """A multi-line string: entries stay inside it (valid escapes), or close it
        and what follows the closing quotes is judged as a class."""
        ix = self.index
        dec = ix.decodable
        tail = triple_tail(p)
        if tail is None:
            escape = escape_in_progress(p)
            if escape == "\\":
                self._escaped(state, '""', mask, individual)
            else:
                self._code_point(state, p, escape, mask, individual, more_quotes='""')
            return
        mask |= dec & ix.triple_inside[tail]
        closes = dec & ix.triple_closes[tail]
        if not closes.any():
            return
        new = state.copy()
        if not new.advance('"' * (3 - len(tail))):
            return
        base = self._complete_pending(new, "STRING") if new.lexer.pending else new
        if base is not None:
            self._judge(state, base, "triple" + tail, closes, mask, individual)

    def _escaped(self, state, more_quotes: str, mask, individual) -> None:
        """After a backslash in a string (``more_quotes``: ``""`` in a multi-line
        one): an entry that starts with a one-character escape finishes it, then
        goes on as string text, judged by class after a stand-in escape ``\\n``;
        ``u`` may begin ``\\u{...}`` (one by one); anything else is a bad escape."""
        ix = self.index
        dec = ix.decodable
        individual |= dec & ix.unicode_escape_start
        escaped = state.copy()
        if not escaped.advance("n"):
            return
        self._after_escape(escaped, dec & ix.simple_escape_start, more_quotes, mask, individual)

    def _after_escape(self, escaped, selection, more_quotes: str, mask, individual) -> None:
        """The ``selection`` of entries whose first character ends an escape, then
        go on as string text, against ``escaped``: the state after that character."""
        ix = self.index
        triple = bool(more_quotes)
        mask |= selection & (ix.escaped_triple_inside if triple else ix.escaped_inside)
        closes = selection & (ix.escaped_triple_closes if triple else ix.escaped_closes)
        self._terminated_string(escaped, closes, mask, individual, "triple_escaped" if triple else "escaped",
                                '"' + more_quotes)

    def _code_point(self, state, p: str, escape: str, mask, individual, more_quotes: str = "",
                    char: bool = False) -> None:
        """Inside a ``\\u{...}`` escape of a string (``more_quotes``: ``""`` in a
        multi-line one) or, with ``char``, of a character literal. Hex digits keep
        it open while they may still make a code point (4 to 6 digits, at most
        10FFFF); ``}`` closes it where the digits make one. In a string what
        follows is string text, judged by class after the stand-in ``}``; in a
        character literal ``}'`` closes the literal too, and what follows is
        judged by class after the stand-in ``}'``. Hex digits then ``}``, and
        ``}`` alone in a character literal, are judged one by one; anything else
        is a bad escape."""
        ix = self.index
        dec = ix.decodable
        if escape == "\\u":  # only `{` may come, and hex digits after it
            individual |= dec & self._brace_hex
            return
        digits = p[p.rindex("{") + 1:]
        prefix = CHAR_PREFIX if char else TRIPLE_PREFIX if more_quotes else STRING_PREFIX
        hexes = dec & (ix.hex_run == ix.lengths) & (ix.lengths > 0)
        mask |= hexes & (ix.lengths + len(digits) <= 5)
        for i in np.flatnonzero(hexes & (ix.lengths + len(digits) == 6)).tolist():
            if prefix.fullmatch("\\u{" + digits + ix.texts[i]):  # six digits: up to 10FFFF
                mask[i] = True
        individual |= dec & ~hexes & (ix.hex_run > 0) & ix.hex_then_close & (ix.hex_run + len(digits) <= 6)
        braces = dec & ix.starts["}"]
        if not re.fullmatch(GOOD_ESCAPE, "\\u{" + digits + "}"):
            return  # too few digits to close
        closed = state.copy()
        if not char:
            if closed.advance("}"):
                self._after_escape(closed, braces, more_quotes, mask, individual)
            return
        # a character literal: `}` alone leaves it open (one by one), `}'` closes it
        # and what follows is judged by class after the stand-in `}'`; anything else
        # after `}` would be a second character
        individual |= braces & (ix.lengths == 1)
        closing = braces & (ix.first_apostrophe == 1)
        if closing.any() and closed.advance("}'"):
            base = self._complete_pending(closed) if closed.lexer.pending else closed
            if base is not None:
                self._judge(state, base, "char", closing, mask, individual)

    def _terminated_string(self, state, selection, mask, individual, kind: str = "string", quotes: str = '"') -> None:
        # the string closes inside the entry: finish it with the closing quotes once,
        # then judge what follows them
        if not selection.any():
            return
        new = state.copy()
        if not new.advance(quotes):
            return
        base = self._complete_pending(new, "STRING") if new.lexer.pending else new
        if base is not None:
            self._judge(state, base, kind, selection, mask, individual)

    # -- judging classes ------------------------------------------------------------

    def _judge(self, state, base, kind, selection, mask, individual, trivia_end: bool = False) -> None:
        """Judge the suffixes (after the continuation of ``kind``) of the selected
        entries against ``base``, the state with the held-back lexeme finished."""
        ix = self.index
        if self._among is not None:
            selection = selection & self._among
        if not selection.any():
            return
        if infix_pending(base):
            # `infix` + ` left`: the associativity is a name read by its value, which
            # the classes do not carry (a few declarations per file: one by one)
            individual |= selection
            return
        # Verdicts depend on the judge's signature and on the parts of the stacks
        # that they consulted (see ``VerdictStore``).
        stack = base.recognizer.stack
        found = self._judges.get((id(base), trivia_end))
        if found is None:  # one judge per base and mask (the base kept: its id stays its)
            judge = ClassJudge(base, trivia_end, self._reach, self._lines, self._spelled)
            found = self._judges[id(base), trivia_end] = (base, judge, (judge.signature(), stack[-1]))
        _, judge, slot = found
        entry = self._verdicts.entry(slot, stack, judge.ranked_layout())
        # What the verdicts make of this selection is remembered too (the same
        # selections recur with the same verdicts): entries allowed, and entries the
        # classes leave undecided.
        packed = np.packbits(selection).tobytes() if self._among is None else None
        key = (entry[SERIAL], kind, packed) if packed is not None else None
        spread = self._spreads.get(key) if key is not None else None
        if spread is None:
            present = self._present(kind, selection, packed)
            allowed, undecided, span, entry = self._spread(judge, kind, selection, packed, present, slot, entry)
            undecided = undecided if undecided.any() else None
            if key is not None:
                key = (entry[SERIAL], *key[1:])
                self._spreads[key] = (np.packbits(allowed), None if undecided is None else np.packbits(undecided), span)
                if len(self._spreads) > SPREADS:
                    del self._spreads[next(iter(self._spreads))]
        else:
            self._spreads[key] = self._spreads.pop(key)  # most recently used last
            allowed = np.unpackbits(spread[0], count=ix.size).view(bool)
            undecided = None if spread[1] is None else np.unpackbits(spread[1], count=ix.size).view(bool)
            span = spread[2]
        mask |= allowed
        step_watch = base.recognizer.watch
        if span and step_watch is not None:
            # the state's mask now depends on the deepest suffix these verdicts read
            step_watch[0] = min(step_watch[0], len(stack) - span)
        if undecided is None:
            return
        awaited = awaited_name(base)
        if awaited is not None and np.count_nonzero(undecided) > 64:
            # a definition must start with the awaited name: a lone name that is a
            # prefix of it fits (the judge said the name itself does); the rest
            # are judged one by one
            lone = undecided & self._lone_names(kind)
            individual |= undecided & ~lone
            mask |= lone & self._prefixes_of(kind, awaited)
        else:
            individual |= undecided

    def _present(self, kind: str, selection: np.ndarray, packed: bytes | None) -> np.ndarray:
        """The classes (after the split of ``kind``) of the selected entries; kept
        by the selection's ``packed`` bits where given (selections recur)."""
        key = (kind, packed)
        found = self._presence.get(key) if packed is not None else None
        if found is None:
            found = np.zeros(len(self.index.classes) + 1, dtype=bool)
            found[self._cls[kind][selection]] = True
            found = found[:-1]
            if packed is not None:
                self._presence[key] = found
                if len(self._presence) > SPREADS:
                    del self._presence[next(iter(self._presence))]
        return found

    def _spread(self, judge: ClassJudge, kind, selection, packed: bytes | None, present, slot: tuple,
                entry: tuple) -> tuple[np.ndarray, np.ndarray, int, tuple]:
        """The selected entries that the classes allow, those they leave to the
        one-by-one judgement, how many stack entries from the top their verdicts
        consulted (0: none needed one), and the entry: the verdicts of classes met
        for the first time under ``entry`` (of those ``present`` in the selection)
        are judged now and kept in its arrays, and then a new entry (a new serial,
        the suffix they read) stands for it in ``slot``. ``packed``: the
        selection's bits (None where it is not to be remembered)."""
        # Work per class, then spread the answers over the selected entries with one
        # gather: 1 allowed (trivia and empty suffixes are), 0 not, 2 judged one by one.
        judged = present & self._judged_class
        per_class = self._free_answers.copy()
        verdicts, spans, layout_spans = entry[VERDICTS], entry[SPANS], entry[LAYOUT_SPANS]
        todo = np.flatnonzero(judged & (verdicts < 0))
        if len(todo):
            # each verdict is kept with how far down each stack it consulted
            stack, layout = judge.base.recognizer.stack, judge.base.layout.stack
            found = judge.verdicts(todo, self._first_group[todo])
            verdicts[todo] = found[:, 0]
            spans[todo] = len(stack) - found[:, 1]
            layout_spans[todo] = len(layout) - found[:, 2]
            # the entry now stands for the deepest suffixes its verdicts read; they
            # changed, so what was spread from them is not looked up again
            entry = self._verdicts.renewed(slot, entry, stack, judge.ranked_layout())
        per_class[:-1][judged] = verdicts[judged]
        span = int(spans[judged].max()) if judged.any() else 0
        # Places with the same answers for the classes present spread them over the
        # same selection alike: kept by a digest of both (the selection's ``packed``
        # bits where given), as selections and verdicts recur at new places.
        key = None if packed is None else (kind, hashlib.blake2b(packed + per_class.tobytes(), digest_size=16).digest())
        found = self._answered.get(key) if key is not None else None
        if found is not None:
            self._answered[key] = self._answered.pop(key)  # most recently used last
            size = self.index.size
            undecided = (np.zeros(size, dtype=bool) if found[1] is None
                         else np.unpackbits(found[1], count=size).view(bool))
            return np.unpackbits(found[0], count=size).view(bool), undecided, span, entry
        answers = per_class.take(self._cls[kind])
        allowed = answers == 1
        allowed &= selection
        if ((per_class[:-1] == 2) & present).any():
            undecided = answers == 2
            undecided &= selection
        else:  # nearly always: the selection leaves nothing to the one-by-one judgement
            undecided = None
        if key is not None:
            self._answered[key] = (np.packbits(allowed), None if undecided is None else np.packbits(undecided))
            if len(self._answered) > SPREADS:
                del self._answered[next(iter(self._answered))]
        return allowed, np.zeros_like(selection) if undecided is None else undecided, span, entry

    def _lone_names(self, kind: str) -> np.ndarray:
        """The entries whose text after the continuation of ``kind`` is one
        unfinished lexeme (a TAIL class)."""
        lone = self._lone.get(kind)
        if lone is None:
            cls = self.index.cls[kind]
            lone = self._lone[kind] = (cls >= 0) & (self.index.class_kind[np.maximum(cls, 0)] == TAIL)
        return lone

    def _prefixes_of(self, kind: str, name: str) -> np.ndarray:
        """The entries whose text after the split of ``kind`` is, past its leading
        whitespace, a prefix of ``name`` (a bool per index entry)."""
        out = np.zeros(self.index.size, dtype=bool)
        for j in range(1, len(name) + 1):
            out[self.index.entries_named(kind, name[:j])] = True
        return out


def _spelled(cls: tuple) -> bool:
    """Is ``cls`` a class of several tokens that spells them out (its first
    token, the rest, the unfinished lexeme's alternatives)?"""
    return cls[0] == MULTI and len(cls) == 7


def _shaped(texts: list[str | None], shape) -> np.ndarray:
    """Per text, is it a text (not None nor empty) of that ``shape``?"""
    return np.array([bool(t) and bool(shape(t)) for t in texts], dtype=bool)


def _fraction_start(text: str) -> bool:
    """Is ``text`` a dot, alone or before a digit (what may go on with a number)?"""
    return text[:1] == "." and _digit_or_end(text[1:])


def _digit_or_end(text: str) -> bool:
    """Does ``text`` start with a digit, or is it empty?"""
    return text[:1] == "" or text[0] in DIGITS


def _comment_low(texts: list[str], lead: str) -> np.ndarray:
    """Per text, after ``lead``: the lowest depth of block comments that scanning
    it left to right reaches (0 or less: each ``-}`` is one less, each ``{-`` one more)."""
    low = np.zeros(len(texts), dtype=np.int32)
    for i, text in enumerate(texts):
        text = lead + (text or "")
        if "-}" in text:
            depth = 0
            for m in BLOCK_COMMENT_PARTS.finditer(text):
                depth += 1 if m.group() == "{-" else -1
                low[i] = min(low[i], depth)
    return low


def _line_columns(classes: list[tuple]) -> tuple[int, ...]:
    """The columns the judged classes place a token at after a newline (none
    for a tokenizer whose entries break lines only in leading whitespace)."""
    found = set()
    for cls in classes:
        if cls[0] not in (TAIL, MULTI):
            continue
        places = [cls[1]]
        if _spelled(cls):
            places += [pos for pos, _ in cls[4]] + ([cls[5][0]] if cls[5] is not None else [])
        found |= {pos[-1] for pos in places if pos[0] == "nl"}
    return tuple(sorted(found))


def _awaits_non_ascii(state: ElmParseState) -> bool:
    """Does a type annotation await a name with non-ASCII characters? (A piece's
    unfinished character, judged by its class elsewhere, is judged by itself then.)"""
    return any(not name.isascii() for name in state.rules.awaited())


def _classes_after(unfinished: bytes) -> frozenset:
    """The classes of the characters that complete ``unfinished`` bytes (what a
    state's verdict on them depends on), empty for none."""
    return frozenset(map(char_class, utf8_completions(unfinished))) if unfinished else frozenset()
