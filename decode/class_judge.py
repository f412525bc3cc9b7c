"""Judging lexical classes against one parse state (for the fast full mask).

A class's verdict depends only on where its first token falls among the open
layout blocks (a column bucket) and on the token types: the judge answers each
(bucket, type) question once, and shares the states after common token prefixes.
The same judgement runs in C where the extension ``_fastjudge`` is built (see
``Spelled``); this module's is the reference, over the Python machines.
"""

from __future__ import annotations

import bisect
import re

import numpy as np

from elmgrammar.layout import BLOCKS
from elmgrammar.lexer import make_token
from elmgrammar.lexicon import EXPRESSION_ENDERS, FIELD_TARGETS, GOOD_ESCAPE

from .recognizer import SHIFT, tables
from .state import ElmParseState, _feeds


class ClassJudge:
    """Judges classes against one base state, sharing work between them."""

    def __init__(self, base: ElmParseState, trivia_end: bool, reach: int = 17, lines: tuple[int, ...] = (),
                 spelled: "Spelled | None" = None) -> None:
        self.base = base
        self.spelled = spelled
        self.reach = reach
        self.lines = lines
        lexer = base.lexer
        end = lexer.base + len(lexer.buffer)
        self.cursor_col = end - lexer.line_start + 1
        self.cursor_line = lexer.line
        if trivia_end:  # after a line comment: judged from the comment's end
            self.cursor_col = None
        self.gap = lexer.prev_end != end
        layout = base.layout
        crit = sorted({indent for _, indent in layout.blocks()} | {1} |
                      ({layout.pending[1]} if layout.pending else set()))
        self.critical = crit
        self.rank = {indent: i for i, indent in enumerate(crit)}  # layout compares indents by rank
        # Answers and the states after token prefixes are shared between classes,
        # each kept with the lowest index of the recognizer's and the layout's stack
        # it consulted (``watch``, shared by both, set where the judging starts):
        # a class that reuses one has consulted that far too.
        self.watch: list[int] | None = None
        self.answers: dict[tuple, tuple[int, int, int]] = {}
        self.prefixes: dict[tuple, tuple[tuple | None, int, int]] = {}
        self.tokens: dict[tuple, object] = {}  # synthetic tokens by (type, line, column): read, never changed
        self.openings: dict[tuple, tuple[int, int, int] | None] = {}
        self.fitting: dict[tuple, tuple[list[str], int, bool, int, int]] = {}
        self.buckets: dict[int, tuple] = {}
        self.awaits = awaits_name(base)
        self.other = other_name(base)

    def signature(self) -> tuple:
        """Everything the verdicts depend on but the parts of the two stacks that
        they consulted (the recognizer's, and the layout's with its brackets and
        keywords), which the caller compares: the mode, the layout's blocks and the
        rules' state, the lexical context, and where the columns of the classes'
        tokens fall.

        Of an annotation's awaited name, only that there is one: the judge asks
        whether a name fits by feeding a name that no awaited one starts with, and
        the awaited name itself (which fits, where a name may start the item,
        whatever it is), and leaves a class whose tokens include a name to the
        one-by-one judgement while one is awaited. So the verdicts hold for every
        annotation alike (the positions inside annotations are a large part of
        real code).

        Layout only compares columns: with each other, and with the indents of
        the open blocks (and 1), which grow inward. So the indents enter by their
        rank, and the columns the classes may place a token at (``reach`` columns
        from the cursor, and ``lines``: those after a newline) by where they fall
        among them: the same verdicts hold at every indentation alike. Of the
        layout's stack, the blocks only: the brackets and keywords between them
        are compared as far as read (``ranked_layout``), like the recognizer's
        stack."""
        base = self.base
        lexer = base.lexer
        rules = base.rules
        layout = base.layout
        rank = self.rank
        cursor = None
        if self.cursor_col is not None:
            # where the columns cursor .. cursor + reach - 1 fall among the indents:
            # the rank of the first, and which of them are indents
            start = self.cursor_col
            cursor = (bisect.bisect_left(self.critical, start),
                      tuple(c - start for c in self.critical if start <= c < start + self.reach))
        return (base.mode, tuple((kind, rank[indent]) for kind, indent in layout.blocks()),
                None if layout.pending is None else (layout.pending[0], rank[layout.pending[1]]),
                tuple((b[0] is not None, b[1].type if b[1] is not None else None, b[2]) for b in rules.blocks), rules.top,
                lexer.prev_type, lexer.first, lexer.declared, self.gap, cursor, self.cursor_col is None,
                tuple(self._bucket(col) for col in self.lines))

    def ranked_layout(self) -> list[tuple]:
        """The layout's stack as verdicts read it: blocks with their indents by
        rank, markers by kind."""
        rank = self.rank
        return [(kind, rank[indent] if kind in BLOCKS else None) for kind, indent in self.base.layout.stack]

    def _bucket(self, col: int) -> tuple:
        found = self.buckets.get(col)
        if found is None:
            i = bisect.bisect_left(self.critical, col)
            found = self.buckets[col] = (i, i < len(self.critical) and self.critical[i] == col)
        return found

    def verdicts(self, classes: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """The verdicts of ``classes`` (their numbers) whose first tokens are of
        ``groups`` (numbers in ``self.spelled.groups``): per class, the verdict (1
        allowed, 0 not, 2 judged one by one) and the lowest indexes of the
        recognizer's and the layout's stack it consulted, as an (n, 3) array.

        A class of one token (one unfinished lexeme) has its group's first answer,
        and so has a class of several tokens whose first token cannot come next;
        classes share it by the hundred. The other classes of several tokens are
        judged by feeding all their tokens (``sequences``)."""
        classes, groups = classes.astype(np.int32), groups.astype(np.int32)
        if self.spelled.core is not None:
            fast = self.spelled.judge(self)
            return np.frombuffer(fast.verdicts(classes, groups), dtype=np.int32).reshape(-1, 3)
        # judged on a copy that records how far down each stack a verdict reads
        base = self.base = self.base.copy()
        base.recognizer.watch = base.layout.watch = self.watch = list(self._tops())
        first = {g: self._first_answer(g) for g in np.unique(groups).tolist()}
        out = np.array([first[g] for g in groups.tolist()], dtype=np.int32).reshape(-1, 3)
        sequels = self.spelled.sequels
        alike: dict[int, list[int]] = {}
        for row, (c, g) in enumerate(zip(classes.tolist(), groups.tolist())):
            if first[g][0] != 0 and c in sequels:
                alike.setdefault(g, []).append(row)
        for g, rows in alike.items():
            out[rows] = self.sequences(g, classes[rows].tolist())
        return out

    def _first_answer(self, group: int) -> tuple[int, int, int]:
        """May the first token of ``group`` come next? 1 yes, 0 no, 2 it depends
        on more (judged one by one); and the lowest indexes of the two stacks
        consulted."""
        opening = self._opening(self.spelled.groups[group])
        return (2, *self._tops()) if opening is None else opening

    def _opening(self, key: tuple) -> tuple[int, int, int] | None:
        """The answer for a class of one token placed by ``key`` (its placement,
        token types and flags): 1 at the first type that may come next, else the
        highest (0 or 2); and the lowest indexes of the recognizer's and the
        layout's stack consulted up to it. Worked out once per judge: hundreds of
        classes share it. None where the token's column is unknown (after a line
        comment)."""
        if key not in self.openings:
            tried = self._tried(key, until_allowed=True)
            self.openings[key] = None if tried is None else (max((ok for _, ok in tried[0]), default=0), *tried[3:])
        return self.openings[key]

    def _fits(self, key: tuple) -> tuple[list[str], int, bool, int, int]:
        """For an entry whose first token is placed by ``key`` (where ``_opening``
        is not None): the types it may take that may come next, its column,
        whether it starts a line, and the lowest indexes of the two stacks that
        all their answers consulted."""
        found = self.fitting.get(key)
        if found is None:
            answers, *rest = self._tried(key, until_allowed=False)
            found = self.fitting[key] = ([ttype for ttype, ok in answers if ok != 0], *rest)
        return found

    def _tried(self, key: tuple, until_allowed: bool) -> tuple[list[tuple[str, int]], int, bool, int, int] | None:
        """The answers for the types a first token placed by ``key`` may take (up
        to the first allowed one, with ``until_allowed``), its column, whether it
        starts a line, and the lowest indexes of the two stacks those answers
        consulted; None where its column is unknown."""
        placed = self._first(*key)
        if placed is None:
            return None
        candidates, col, newline = placed
        bucket = self._bucket(col)
        answers = []
        low_all, layout_all = self._tops()
        for ttype in candidates:
            ok, low, layout_low = self._answer(bucket, ttype, col)
            answers.append((ttype, ok))
            low_all, layout_all = min(low_all, low), min(layout_all, layout_low)
            if ok == 1 and until_allowed:
                break
        return answers, col, newline, low_all, layout_all

    def _tops(self) -> tuple[int, int]:
        """The top indexes of the base state's recognizer and layout stacks."""
        return len(self.base.recognizer.stack) - 1, len(self.base.layout.stack) - 1

    def _first(self, where: tuple, types: tuple, flags: tuple) -> tuple[list[str], int, bool] | None:
        """The types the first token may take here, its column and whether it
        starts a line; None where its column is unknown (after a line comment)."""
        if where[0] == "nl":
            col, newline = where[1], True
        else:
            if self.cursor_col is None:
                return None
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
        if infix and col == 1 and not lexer.declared:
            candidates.append("INFIX")
        if "RPAR" in candidates and gap and lexer.prev_type == "LPAR":
            candidates = ["LONE_RPAR"]  # `( )`
        return candidates, col, newline

    def _answer(self, bucket: tuple, ttype: str, col: int) -> tuple[int, int, int]:
        """Whether a ``ttype`` token at ``col`` may come next (see ``_accepts``),
        and the lowest indexes of the two stacks that consulted."""
        key = (bucket, ttype)
        found = self.answers.get(key)
        if found is None:
            found = self.answers[key] = self._watched(self._accepts, ttype, col)
        return found

    def _watched(self, judge, *args) -> tuple:
        """``judge(*args)`` and the lowest indexes of the recognizer's and the
        layout's stack it consulted."""
        watch = self.watch
        watch[0], watch[1] = self._tops()
        result = judge(*args)
        return result, watch[0], watch[1]

    def sequences(self, group: int, classes: list[int]) -> list[tuple[int, int, int]]:
        """Judge classes of several tokens (spelled out, by their numbers in
        ``self.spelled``) whose first token is of ``group``, by feeding all their
        tokens: per class, the verdict (1 allowed, 0 not, 2 judged one by one) and
        the lowest indexes of the recognizer's and the layout's stack it consulted.

        The work that classes share is done once: the first token's answers, and
        the states after each common start (``prefixes``)."""
        key = self.spelled.groups[group]
        opening = self._opening(key)
        if opening is None:  # the first token's column is unknown (after a line comment)
            top, layout_top = self._tops()
            return [(2, top, layout_top)] * len(classes)
        _, opened, layout_opened = opening
        firsts, col, newline, fitted, layout_fitted = self._fits(key)
        low_all, layout_all = min(opened, fitted), min(layout_opened, layout_fitted)
        bucket = self._bucket(col)
        line = self.cursor_line + 1 if newline else self.cursor_line  # only the relative line matters to layout
        # a name at an item start must be the awaited one: judged by value
        by_value = self.awaits and "LOWER" in firsts
        out = []
        sequels = self.spelled.sequels
        for rest, tail, fragile, names in (sequels[c] for c in classes):
            if fragile or self.awaits and (by_value or names):
                out.append((2, opened, layout_opened))
                continue
            low, layout_low = low_all, layout_all
            verdict = 0
            for first in firsts:
                after, fed_low, fed_layout_low = self._after(bucket, first, col, line, rest)
                low, layout_low = min(low, fed_low), min(layout_low, fed_layout_low)
                if after is None:
                    continue
                if tail is None:
                    verdict = 1
                    break
                ln, cl = _place(tail[0], line, col)
                for alternative in tail[1]:
                    seq = [self._token(t, ln, cl + i) for i, t in enumerate(alternative)]
                    ok, fed_low, fed_layout_low = self._probe(seq, after, partial=True)
                    low, layout_low = min(low, fed_low), min(layout_low, fed_layout_low)
                    if ok is not None:
                        verdict = 1
                        break
                if verdict:
                    break
            out.append((verdict, low, layout_low))
        return out

    def _after(self, bucket: tuple, first: str, col: int, line: int, rest: int) -> tuple[tuple | None, int, int]:
        """The (layout, recognizer, rules) after the first token and the tokens of
        ``rest`` (None if they do not fit), and the lowest indexes of the two stacks
        that feeding them consulted; shared between entries with a common start."""
        key = (bucket, first, rest)
        found = self.prefixes.get(key)
        if found is None:
            if rest:
                rests = self.spelled.rests
                parent, low, layout_low = self._after(bucket, first, col, line, rests.parent[rest])
                pos, ttype = rests.last[rest]
                tok = self._token(ttype, *_place(pos, line, col))
            else:
                base = self.base
                parent = (base.layout, base.recognizer, base.rules)
                low, layout_low = self._tops()
                tok = self._token(first, line, col)
            if parent is not None:
                parent, fed_low, fed_layout_low = self._probe([tok], parent, partial=False)
                low, layout_low = min(low, fed_low), min(layout_low, fed_layout_low)
            found = self.prefixes[key] = (parent, low, layout_low)
        return found

    def _probe(self, tokens: list, parent: tuple, partial: bool) -> tuple[tuple | None, int, int]:
        """Feed ``tokens`` to copies of ``parent`` (layout, recognizer, rules): the
        copies (None if the tokens do not fit), and the lowest indexes of the base
        state's two stacks that feeding them consulted."""
        layout, recognizer, rules = parent[0].copy(), parent[1].copy(), parent[2].copy()
        watch = self.watch
        watch[0], watch[1] = self._tops()
        fits = _feeds(tokens, layout, recognizer, rules, partial)
        return ((layout, recognizer, rules) if fits else None), watch[0], watch[1]

    def _token(self, ttype: str, line: int, col: int):
        """A synthetic token (any value) of ``ttype`` at ``line``, ``col``."""
        key = (ttype, line, col)
        tok = self.tokens.get(key)
        if tok is None:
            tok = self.tokens[key] = make_token(ttype, "x", 0, line, col, line, col, 0)
        return tok

    def _accepts(self, ttype: str, col: int) -> int:
        """1 if a ``ttype`` token at ``col`` may come next, 0 if not, 2 if it depends
        on the name (a definition must be named as its annotation)."""
        base = self.base

        def feeds(value: str) -> bool:
            tok = make_token(ttype, value, 0, self.cursor_line, col, self.cursor_line, col, 0)
            return _feeds([tok], base.layout.copy(), base.recognizer.copy(), base.rules.copy())

        if feeds(self.other):
            return 1
        awaited = awaited_name(base)
        if ttype == "LOWER" and awaited is not None:
            return 2 if feeds(awaited) else 0
        return 0


class Rests:
    """The tokens after the first of the classes of several tokens, and every
    start of them, numbered (0: none), so that states after a common start are
    shared by a small key: per number, the last token (its placement and type)
    and the number of the start without it."""

    def __init__(self, rests) -> None:
        ids: dict[tuple, int] = {(): 0}
        for rest in rests:
            for k in range(1, len(rest) + 1):
                ids.setdefault(tuple(rest[:k]), len(ids))
        self.ids = ids
        self.last: list[tuple | None] = [None] * len(ids)
        self.parent: list[int] = [0] * len(ids)
        for rest, i in ids.items():
            if rest:
                self.last[i], self.parent[i] = rest[-1], ids[rest[:-1]]


class Spelled:
    """What the judge reads of the classes: their first tokens by group, the
    classes of several tokens that spell their tokens out past the first, and the
    compiled core that judges them.

    ``groups``: per group number, the first token's placement, types and
    context flags. ``classes``: per class number, its tokens after the first
    (placement and type), its unfinished lexeme's alternatives (``tail``, or
    None) and whether it is fragile. ``compiled``: judge in compiled code
    (``_fastjudge``, a C mirror of this module's judgement over the layout, the
    recognizer and the item rules) where it is built; otherwise, and without
    it, in Python over the machines themselves."""

    def __init__(self, groups: list[tuple], classes: dict[int, tuple], compiled: bool = True) -> None:
        self.groups = groups
        self.rests = Rests(rest for rest, _, _ in classes.values())
        # per class: its rest's number, tail, whether fragile, and whether a name
        # (which an awaited definition name would decide by value) comes in it
        self.sequels = {i: (self.rests.ids[tuple(rest)], tail, fragile, _names_in(rest, tail))
                        for i, (rest, tail, fragile) in classes.items()}
        # the compiled core, and its numbers of the token types (the last, "?",
        # stands for every type the parse table does not know: it rejects them alike)
        self.core, self._types = _compiled_core(self) if compiled else (None, {})

    def type_id(self, ttype: str) -> int:
        """The compiled core's number for a token type."""
        return self._types.get(ttype, len(self._types) - 1)

    def judge(self, judge: "ClassJudge"):
        """The compiled counterpart of ``judge``: its base state, its names and
        what its first tokens read of the lexer."""
        base = judge.base
        layout, rules, lexer = base.layout, base.rules, base.lexer
        blocks = [(b[0], -1 if b[1] is None else self.type_id(b[1].type), None if b[1] is None else b[1].value, b[2])
                  for b in rules.blocks]
        prev = lexer.prev_type
        context = (-1 if judge.cursor_col is None else judge.cursor_col, judge.gap, prev in FIELD_TARGETS,
                   prev in EXPRESSION_ENDERS, prev == "TYPE", prev == "LPAR", bool(lexer.first), bool(lexer.declared))
        return self.core.judge(layout.stack, layout.pending, base.recognizer.stack, blocks, rules.top, judge.other,
                               awaited_name(base), context)


def _names_in(rest: list, tail: tuple | None) -> bool:
    """Does a name come in a class's tokens after the first (``rest``) or in its
    unfinished lexeme's alternatives (``tail``)?"""
    return any(t == "LOWER" for _, t in rest) or tail is not None and any("LOWER" in a for a in tail[1])


def _compiled_core(spelled: Spelled) -> tuple[object | None, dict[str, int]]:
    """The compiled core of ``spelled``'s classes and its numbers of the token
    types; (None, {}) where the extension is not built (the judge then feeds the
    Python machines)."""
    try:
        from . import _fastjudge
    except ImportError:
        return None, {}
    t = tables()
    terms = sorted({term for row in t.actions for term in row})
    nonterms = sorted({nt for row in t.gotos for nt in row})
    rests, sequels = spelled.rests, spelled.sequels
    tails = [sequels[c][1] for c in sorted(sequels) if sequels[c][1] is not None]
    named = {last[1] for last in rests.last if last}
    named |= {ttype for tail in tails for alternative in tail[1] for ttype in alternative}
    types = terms + sorted(named - set(terms)) + ["?"]
    ids = {ttype: i for i, ttype in enumerate(types)}
    nt_id = {nt: i for i, nt in enumerate(nonterms)}
    rules: dict[tuple, int] = {}
    act = [0] * (len(t.actions) * len(terms))
    for state, row in enumerate(t.actions):
        for i, term in enumerate(terms):
            action = row.get(term)
            if action is None:
                continue
            if action[0] == SHIFT:
                act[state * len(terms) + i] = action[1] + 1
            else:
                rule = rules.setdefault((action[1], nt_id[action[2]]), len(rules))
                act[state * len(terms) + i] = -(rule + 1)
    gotos = [0] * (len(t.gotos) * len(nonterms))
    for state, row in enumerate(t.gotos):
        for nt, target in row.items():
            gotos[state * len(nonterms) + nt_id[nt]] = target

    def place(pos: tuple) -> tuple[int, int, int]:
        return (0, pos[1], 0) if pos[0] == "same" else (1, pos[1], pos[2])

    lasts = [((("same", 0), "?") if last is None else last) for last in rests.last]
    rest_table = (rests.parent, [ids[ttype] for _, ttype in lasts], *zip(*(place(pos) for pos, _ in lasts)))
    size = max(sequels, default=-1) + 1
    cls = [[-1] * size, [0] * size, [0] * size, [-1] * size]
    tail_table: list[list[int]] = [[], [], [], [], []]
    alternatives: list[list[int]] = [[], [], []]
    for c in sorted(sequels):
        rest, tail, fragile, names = sequels[c]
        cls[0][c], cls[1][c], cls[2][c] = rest, int(fragile), int(names)
        if tail is not None:
            cls[3][c] = len(tail_table[0])
            for column, value in zip(tail_table, (*place(tail[0]), len(alternatives[0]),
                                                  len(alternatives[0]) + len(tail[1]))):
                column.append(value)
            for alternative in tail[1]:
                alternatives[0].append(len(alternatives[2]))
                alternatives[1].append(len(alternative))
                alternatives[2].extend(ids[ttype] for ttype in alternative)
    group_table: list[list[int]] = [[], [], [], [], [], []]
    for where, group_types, flags in spelled.groups:
        for column, value in zip(group_table, (int(where[0] == "nl"), where[1], len(group_table[4]), len(group_types))):
            column.append(value)
        group_table[4].extend(ids.get(ttype, ids["?"]) for ttype in group_types)
        group_table[5].append(sum(1 << i for i, flag in enumerate(flags) if flag))
    core = _fastjudge.Core(len(terms), types, act, gotos, len(nonterms), [p for p, _ in rules], [n for _, n in rules],
                           rest_table, tuple(cls), tuple(tail_table), tuple(alternatives), tuple(group_table))
    return core, ids


def one_char(body: str) -> bool:
    """Is ``body`` what a character literal may hold: one character or one escape?"""
    if body.startswith("\\"):
        return re.fullmatch(GOOD_ESCAPE, body) is not None
    return len(body) == 1 and body not in "\n'"


def _place(pos: tuple, line: int, col: int) -> tuple[int, int]:
    """Line and column of a token at ``pos`` in an entry whose first token is at
    (line, col): ("same", k) is k columns on, ("nl", d, c) is d lines down at c."""
    if pos[0] == "same":
        return line, col + pos[1]
    return line + pos[1], pos[2]


def other_name(state: ElmParseState) -> str:
    """A name that stands for any name but those annotations await (a definition
    must start with its annotation's name: its prefixes pass where others fail),
    so one that no awaited name starts with."""
    taken = {name[0] for name in state.rules.awaited()}
    return next(c for c in "xyz" if c not in taken)


def awaits_name(state: ElmParseState) -> bool:
    """Does an annotation await its definition (whose name must match)?"""
    return awaited_name(state) is not None


def awaited_name(state: ElmParseState) -> str | None:
    """The name an annotation awaits (the innermost), if any."""
    names = state.rules.awaited()
    return names[-1] if names else None


def infix_pending(state: ElmParseState) -> bool:
    """Is an infix declaration waiting for its associativity (a name by value)?"""
    first = state.rules.blocks[0][1]
    return first is not None and first.type == "INFIX"

