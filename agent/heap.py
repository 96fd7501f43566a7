"""The agent's long-lived objects, kept out of the cyclic garbage collector's full passes.

At 5,000 backends the imported modules, the config and the core's state are ~200,000 objects
that live as long as the process (or until a reload). Every full pass of CPython's collector
walked them all, 190-270 ms with the event loop stopped; probes due meanwhile started late, and
often enough that the probe schedule stretched (agent/starvation.py) for want of nothing but a
collection. ``gc.freeze`` moves the objects alive now where no pass walks them: the passes took
75-121 ms after it, and run a tenth as often (FULL_PASS_EVERY; docs/performance.md, "The agent
at 5,000 backends: what stretched the schedule").

Frozen objects are still freed when their last reference goes; only garbage cycles among them
would stay for good, so every settle first collects (one full pass: once at start-up and once
per reload, each of which stalls the loop for longer anyway).
"""

from __future__ import annotations

import gc

# Collections of the middle generation before a full pass is considered (CPython's default: 10).
# At 5,000 backends every probe leaves objects that live one interval (its result, views, the
# sleep's future): enough for a full pass every ~4 s. One every ~40 s frees the same (nearly all
# of it goes by reference counting anyway) with a tenth of the stalls.
FULL_PASS_EVERY = 100


def settle() -> None:
    """Collect once, then freeze what is alive: the start-up's or a reload's long-lived state;
    full passes spaced out (FULL_PASS_EVERY)."""
    gc.unfreeze()  # what an earlier settle froze is examined again: the old config may be garbage now
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], FULL_PASS_EVERY)
