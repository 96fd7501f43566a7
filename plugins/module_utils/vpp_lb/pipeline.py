"""Where a plan may be sent pipelined: windows of ops that go out without waiting for replies. Pure.

VPP answers one client's requests in order, and executes them in that order, so ops inside a
window run exactly as if sent one by one while that window succeeds. What pipelining changes is
the failure case: the ops sent after a refused one (in its window) still run. A window
therefore never holds an op that must not run once an earlier op of it failed:

* ``set_conf`` ends its window: nothing after it is sent until VPP took it (the VIPs' encap
  sources depend on it).
* Make before break, per VIP: an op that takes capacity away (``del_as``, ``set_weight``,
  ``del_vip``) starts a new window when the current one holds an op that adds capacity to the
  same VIP (``add_vip``, ``add_as``, ``set_weight`` to a nonzero weight). A refused raise then
  stops the drop after it, as in the one-by-one apply. (``set_weight`` cannot tell a raise from
  a drop by itself, so any weight change counts as a possible drop.)
* ``del_vip`` waits for every earlier op of its VIP, and ends its window: a re-create or an
  add the planner moved behind a removal must not run if the removal was refused.

``add_as`` right after its ``add_vip`` shares the window: if VPP refuses the VIP it refuses
the ASes too (no such VIP), so a VIP always exists before its ASes.
"""

from __future__ import annotations

from typing import List, Sequence

from . import model
from .model import Op

DEFAULT_WINDOW = 64  # ops in flight at most; bounds what still runs after a refused op


def _adds_capacity(op: Op) -> bool:
    if op.action == model.SET_WEIGHT:
        return bool(op.weight)
    return op.action in (model.ADD_VIP, model.ADD_AS)


def _takes_capacity(op: Op) -> bool:
    return op.action in (model.DEL_AS, model.SET_WEIGHT, model.DEL_VIP)


def window_ends(ops: Sequence[Op], limit: int = DEFAULT_WINDOW) -> List[int]:
    """The end (exclusive index) of each window of ``ops``, in order; the last is len(ops).

    ``limit`` >= 1 bounds a window's size; 1 sends one op at a time.
    """
    if limit < 1:
        raise ValueError(f"window limit must be at least 1, got {limit}")
    ends: List[int] = []
    start = 0
    touched = set()  # VIPs with any op in the current window
    growing = set()  # VIPs with an op adding capacity in the current window
    for position, op in enumerate(ops):
        full = position - start >= limit
        waits = (
            (_takes_capacity(op) and op.vip in growing)
            or (op.action == model.DEL_VIP and op.vip in touched)
        )
        if position > start and (full or waits):
            ends.append(position)
            start, touched, growing = position, set(), set()
        touched.add(op.vip)
        if _adds_capacity(op):
            growing.add(op.vip)
        if op.action in (model.SET_CONF, model.DEL_VIP):
            ends.append(position + 1)
            start, touched, growing = position + 1, set(), set()
    if start < len(ops):
        ends.append(len(ops))
    return ends
