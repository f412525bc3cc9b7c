"""The store of verdicts remembered by the parts of the stacks they read."""

from __future__ import annotations

from elmgrammar.decode.verdict_store import LAYOUT_SPANS, SPANS, VERDICTS, VerdictStore

LAYOUT = [("top", 0), ("(", None)]


def judged(store: VerdictStore, slot: tuple, stack: list, i: int, verdict: int, span: int) -> tuple:
    """Record verdict ``i`` read ``span`` entries deep at ``stack``, as a judge does."""
    entry = store.entry(slot, stack, LAYOUT)
    entry[VERDICTS][i], entry[SPANS][i] = verdict, span
    return store.renewed(slot, entry, stack, LAYOUT)


def test_a_verdict_is_found_where_the_stack_ends_as_deep_as_it_read():
    store = VerdictStore(3)
    judged(store, "s", [1, 2, 3, 4], 0, 1, 2)
    assert store.entry("s", [9, 9, 3, 4], LAYOUT)[VERDICTS][0] == 1  # the two entries it read agree
    assert store.entry("s", [9, 3, 4], LAYOUT)[VERDICTS][0] == 1


def test_a_verdict_is_not_taken_where_the_part_it_read_differs():
    store = VerdictStore(3)
    judged(store, "s", [1, 2, 3, 4], 0, 1, 3)
    judged(store, "s", [1, 2, 3, 4], 1, 0, 1)
    other = store.entry("s", [1, 7, 3, 4], LAYOUT)
    assert other[VERDICTS][0] == -1  # read down to the 2, which differs: judged again
    assert other[VERDICTS][1] == 0   # read the top only: taken over
    assert store.entry("s", [5, 2, 3, 4], LAYOUT)[VERDICTS][0] == 1


def test_the_layout_suffix_is_compared_as_the_stack_is():
    store = VerdictStore(2)
    entry = store.entry("s", [1, 2], LAYOUT)
    entry[VERDICTS][0], entry[SPANS][0] = 1, 1
    entry[LAYOUT_SPANS][0] = 2  # read the layout's two entries
    store.renewed("s", entry, [1, 2], LAYOUT)
    assert store.entry("s", [1, 2], [("top", 0), ("[", None)])[VERDICTS][0] == -1
    assert store.entry("s", [1, 2], LAYOUT)[VERDICTS][0] == 1


def test_a_renewed_entry_replaces_the_old_one_in_its_slot():
    store = VerdictStore(2)
    old = store.entry("s", [1, 2, 3], LAYOUT)
    assert store.holds("s", old)
    old[VERDICTS][0], old[SPANS][0] = 1, 2
    new = store.renewed("s", old, [1, 2, 3], LAYOUT)
    assert not store.holds("s", old) and store.holds("s", new)
    assert new[0] == (2, 3) and new[-1] != old[-1]  # deeper suffix, new serial
    assert store.entry("s", [8, 2, 3], LAYOUT) is new
