"""heap.settle: long-lived objects leave the collector's passes; garbage cycles do not get frozen."""

from __future__ import annotations

import gc
import weakref

from ansible_collections.maglev.vpp.agent import heap


class Node:
    """A container the collector tracks, in a cycle with itself."""

    def __init__(self) -> None:
        self.me = self


def walked(obj) -> bool:
    """Whether the collector's passes walk ``obj`` (get_objects leaves out the frozen ones)."""
    return any(o is obj for o in gc.get_objects())


def test_settle_freezes_what_is_alive_and_collects_a_garbage_cycle_first():
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    kept = Node()
    thresholds = gc.get_threshold()
    try:
        heap.settle()
        assert gone() is None  # collected, not frozen for good
        assert not walked(kept)
        young = Node()
        assert walked(young)  # objects made later are collected as usual
        assert gc.get_threshold() == (*thresholds[:2], heap.FULL_PASS_EVERY)  # only full passes spaced out
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_a_second_settle_frees_a_cycle_that_died_while_frozen():
    """A reload: the old config's objects were frozen at start-up; once they are garbage, the
    next settle must collect them rather than freeze them again."""
    old = Node()
    gone = weakref.ref(old)
    thresholds = gc.get_threshold()
    try:
        heap.settle()
        del old
        assert gone() is not None  # frozen: no pass looks at it
        gc.collect()
        assert gone() is not None
        heap.settle()
        assert gone() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
