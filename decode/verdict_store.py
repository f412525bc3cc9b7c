"""Verdicts remembered across decoding steps, by where they were judged.

A class judge's verdicts depend on its signature and on the parts of two
stacks they read: the recognizer's LALR states and the layout's blocks and
markers. The same syntactic place recurs all the time (after ``=`` at the top
level, inside a list...) at any depth, so a slot, keyed by the signature and
the top LALR state, keeps entries that each stand for the stack suffixes their
verdicts read.

An entry is a plain tuple (the garbage collector stops tracking tuples of
untracked things, so a full collection does not walk thousands of them):
(the recognizer's stack's top as deep as any verdict read; the layout's stack's
top likewise, ranked; per verdict, 1 allowed, 0 not, 2 judged one by one, -1
not judged yet; per verdict, how many entries from the top of each stack it
read; a serial that changes with the verdicts).
"""

from __future__ import annotations

import itertools

import numpy as np

SUFFIX, LAYOUT_SUFFIX, VERDICTS, SPANS, LAYOUT_SPANS, SERIAL = range(6)


class VerdictStore:
    """Slots of verdict entries (see the module docstring), ``size`` verdicts each;
    a slot maps each entry's pair of suffixes to it."""

    def __init__(self, size: int, slots: int = 20_000, depths: int = 64) -> None:
        self.size = size
        self.slots = slots    # a full store starts again empty
        self.depths = depths  # a place seen at many depths that each read deep: keep the latest
        self._slots: dict[tuple, dict[tuple, tuple]] = {}
        # per slot, the pairs of suffix lengths its entries have, deepest first
        # (a tuple, kept as entries come and go: a lookup tries each)
        self._depths: dict[tuple, tuple] = {}
        self._serials = itertools.count()

    def __len__(self) -> int:
        return len(self._slots)

    def entry(self, slot_key: tuple, stack: list, layout: list) -> tuple:
        """The remembered verdicts for ``slot_key`` whose stack suffixes ``stack``
        and ``layout`` (ranked) end with. Where none is, a new entry takes over the
        verdicts of the one that shares the most that read no deeper than it
        shares (the others are judged again when needed)."""
        slot = self._slots.get(slot_key)
        if slot is None:
            if len(self._slots) >= self.slots:
                self._slots.clear()
                self._depths.clear()
            slot = self._slots[slot_key] = {}
        # the entries of a slot read a few depths: one lookup per pair of depths,
        # the deepest first (where several entries match, it knows the most)
        for depth, layout_depth in self._depths.get(slot_key, ()):
            found = slot.get((tuple(stack[-depth:]), tuple(layout[len(layout) - layout_depth:])))
            if found is not None:
                return found
        # the entry that shares the most of the stack, then of the layout
        nearest, best = None, (0, 0)
        shares = [(_common_suffix(stack, entry[SUFFIX]), entry) for entry in slot.values()]
        most = max((n for n, _ in shares), default=0)
        for n, entry in shares:
            if n == most and n:
                shared = (n, _common_suffix(layout, entry[LAYOUT_SUFFIX]))
                if shared > best:
                    nearest, best = entry, shared
        verdicts = np.full(self.size, -1, dtype=np.int8)
        spans = np.zeros(self.size, dtype=np.int16)
        layout_spans = np.zeros(self.size, dtype=np.int16)
        if nearest is not None:
            known, reads, layout_reads = nearest[VERDICTS], nearest[SPANS], nearest[LAYOUT_SPANS]
            keep = (reads > 0) & (reads <= best[0]) & (layout_reads <= best[1])
            verdicts[keep] = known[keep]
            spans[keep] = reads[keep]
            layout_spans[keep] = layout_reads[keep]
        return self._put(slot_key, slot, self._made(stack, layout, verdicts, spans, layout_spans))

    def renewed(self, slot_key: tuple, entry: tuple, stack: list, layout: list) -> tuple:
        """The entry that stands for ``entry`` once its verdicts changed (judged in
        place, at ``stack`` and ``layout``): the suffixes as deep as they now read,
        and a new serial (what was made of the old verdicts is not looked up again)."""
        slot = self._slots.setdefault(slot_key, {})
        if self.holds(slot_key, entry):
            del slot[entry[SUFFIX], entry[LAYOUT_SUFFIX]]
        return self._put(slot_key, slot, self._made(stack, layout, entry[VERDICTS], entry[SPANS], entry[LAYOUT_SPANS]))

    def holds(self, slot_key: tuple, entry: tuple) -> bool:
        """Does ``entry`` still stand in its slot (not renewed since)?"""
        slot = self._slots.get(slot_key)
        return slot is not None and slot.get((entry[SUFFIX], entry[LAYOUT_SUFFIX])) is entry

    def _put(self, slot_key: tuple, slot: dict, entry: tuple) -> tuple:
        slot.pop((entry[SUFFIX], entry[LAYOUT_SUFFIX]), None)  # the latest last
        slot[entry[SUFFIX], entry[LAYOUT_SUFFIX]] = entry
        if len(slot) > self.depths:
            del slot[next(iter(slot))]
        # a tuple of tuples: nothing here for the garbage collector to walk
        self._depths[slot_key] = tuple(sorted({(len(a), len(b)) for a, b in slot}, reverse=True))
        return entry

    def _made(self, stack, layout, verdicts, spans, layout_spans) -> tuple:
        return (tuple(stack[-max(1, int(spans.max())):]), tuple(layout[len(layout) - int(layout_spans.max()):]),
                verdicts, spans, layout_spans, next(self._serials))


def _common_suffix(stack: list, suffix: tuple) -> int:
    """How many entries from the top ``stack`` and ``suffix`` share (at most
    ``len(suffix)``)."""
    k = 0
    for a, b in zip(reversed(stack), reversed(suffix)):
        if a != b:
            break
        k += 1
    return k
