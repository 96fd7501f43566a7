"""Where a plan may be sent pipelined: which ops may be in flight together. Pure.

VPP answers one client's requests in order, and executes them in that order, so pipelined ops
run exactly as if sent one by one while they all succeed. What pipelining changes is the failure
case: the ops sent after a refused one still run. The transport (papi_session) keeps up to
``DEFAULT_WINDOW`` ops in flight and tops the window up whenever half of it has been answered
(a sliding window: VPP never idles between batches, and both sides still read and write in
bursts), and sends nothing more once a reply says refused. A
**barrier** stops the sliding: every op before it must be answered, and accepted, before any
op after it goes out. ``barrier_ends`` puts one wherever an op must not run once an earlier,
still unanswered op failed:

* ``set_conf`` is followed by a barrier: nothing after it is sent until VPP took it (the VIPs'
  encap sources depend on it).
* Make before break, per VIP: an op that takes capacity away (``del_as``, ``set_weight``,
  ``del_vip``) is preceded by a barrier when an op since the last barrier adds capacity to the
  same VIP (``add_vip``, ``add_as``, ``set_weight`` to a nonzero weight). A refused raise then
  stops the drop after it, as in the one-by-one apply. (``set_weight`` cannot tell a raise from
  a drop by itself, so any weight change counts as a possible drop.)
* ``del_vip`` waits for every earlier op of its VIP, and is followed by a barrier: a re-create
  or an add the planner moved behind a removal must not run if the removal was refused.

Between two barriers any ops may be in flight together, whatever the window, so the window
only bounds how much still runs after a refused op (at most ``window - 1`` ops).
``add_as`` right after its ``add_vip`` needs no barrier: if VPP refuses the VIP it refuses the
ASes too (no such VIP), so a VIP always exists before its ASes.
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


def barrier_ends(ops: Sequence[Op]) -> List[int]:
    """The end (exclusive index) of each stretch of ``ops`` whose ops may all be in flight
    together, in order; the last is len(ops). Every op of a stretch must be answered and
    accepted before the next stretch starts."""
    ends: List[int] = []
    start = 0
    touched = set()  # VIPs with any op since the last barrier
    growing = set()  # VIPs with an op adding capacity since the last barrier
    for position, op in enumerate(ops):
        waits = (
            (_takes_capacity(op) and op.vip in growing)
            or (op.action == model.DEL_VIP and op.vip in touched)
        )
        if position > start and waits:
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


def check_window(window: int) -> int:
    """``window`` if it is a usable count of ops in flight (>= 1; 1 sends one op at a time)."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"pipeline window must be an integer of at least 1, got {window!r}")
    return window
