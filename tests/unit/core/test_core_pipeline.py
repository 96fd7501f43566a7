"""pipeline.barrier_ends: which ops may be in flight together, and where every reply must be in."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    ADD_AS,
    ADD_VIP,
    DEL_AS,
    DEL_VIP,
    SET_CONF,
    SET_WEIGHT,
    LbConf,
    Op,
    VipKey,
    VipSpec,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.pipeline import barrier_ends, check_window

A, B = VipKey("192.0.2.1/32", 6, 80), VipKey("192.0.2.2/32", 6, 80)
CONF = Op(SET_CONF, conf=LbConf("192.0.2.254", "2001:db8::fe"))


def add_vip(key):
    return Op(ADD_VIP, key, spec=VipSpec())


def add_as(key, address, weight=100):
    return Op(ADD_AS, key, address=address, weight=weight)


def weight(key, address, value):
    return Op(SET_WEIGHT, key, address=address, weight=value)


def del_as(key, address):
    return Op(DEL_AS, key, address=address, flush=True)


@pytest.mark.parametrize(
    "ops, ends",
    [
        ([], []),
        # conf ends its stretch; a VIP and its ASes share one (VPP refuses ASes of a refused VIP)
        ([CONF, add_vip(A), add_as(A, "10.0.0.1"), add_vip(B), add_as(B, "10.0.0.2")], [1, 5]),
        # no size limit: the window bounds ops in flight, not the stretch
        ([add_vip(A)] + [add_as(A, f"10.0.0.{i}") for i in range(1, 200)], [200]),
        # make before break: a drop waits for the raise of the same VIP...
        ([weight(A, "10.0.0.2", 100), weight(A, "10.0.0.1", 0)], [1, 2]),
        ([add_as(A, "10.0.0.3"), del_as(A, "10.0.0.1")], [1, 2]),
        # ...however far behind it the drop comes...
        ([weight(A, "10.0.0.2", 100)] + [add_as(B, f"10.0.1.{i}") for i in range(100)]
         + [weight(A, "10.0.0.1", 0)], [101, 102]),
        # ...not for another VIP's, and drops of one VIP go together
        ([weight(A, "10.0.0.2", 100), weight(B, "10.0.0.1", 0)], [2]),
        ([weight(A, "10.0.0.1", 0), weight(A, "10.0.0.2", 0), del_as(A, "10.0.0.3")], [3]),
        # a weight change to nonzero may be a raise: a later weight change of its VIP waits
        ([weight(A, "10.0.0.1", 50), weight(A, "10.0.0.2", 40)], [1, 2]),
        # a tear-down: the ASes go together, the VIP waits for them and ends its stretch
        ([del_as(A, "10.0.0.1"), del_as(A, "10.0.0.2"), Op(DEL_VIP, A), add_vip(B)], [2, 3, 4]),
        # a re-create: nothing after the VIP's removal goes before VPP confirmed it
        ([del_as(A, "10.0.0.1"), Op(DEL_VIP, A), add_vip(A), add_as(A, "10.0.0.1")], [1, 2, 4]),
    ],
)
def test_barrier_ends(ops, ends):
    assert barrier_ends(ops) == ends


@pytest.mark.parametrize("window", [0, -1, 1.5, "64", True, None])
def test_unusable_window_is_refused(window):
    with pytest.raises(ValueError, match="at least 1"):
        check_window(window)


@pytest.mark.parametrize("window", [1, 64, 100000])
def test_usable_window_is_kept(window):
    assert check_window(window) == window
