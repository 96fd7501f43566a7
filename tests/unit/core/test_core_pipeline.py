"""pipeline.window_ends: which ops may go out together without waiting for replies."""

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
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.pipeline import window_ends

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
    "ops, limit, ends",
    [
        ([], 64, []),
        # conf ends its window; a VIP and its ASes share one (VPP refuses ASes of a refused VIP)
        ([CONF, add_vip(A), add_as(A, "10.0.0.1"), add_vip(B), add_as(B, "10.0.0.2")], 64, [1, 5]),
        # the size limit
        ([add_vip(A), add_as(A, "10.0.0.1"), add_as(A, "10.0.0.2"), add_as(A, "10.0.0.3")], 2, [2, 4]),
        ([add_vip(A), add_as(A, "10.0.0.1")], 1, [1, 2]),
        # make before break: a drop waits for the raise of the same VIP...
        ([weight(A, "10.0.0.2", 100), weight(A, "10.0.0.1", 0)], 64, [1, 2]),
        ([add_as(A, "10.0.0.3"), del_as(A, "10.0.0.1")], 64, [1, 2]),
        # ...not for another VIP's, and drops of one VIP go together
        ([weight(A, "10.0.0.2", 100), weight(B, "10.0.0.1", 0)], 64, [2]),
        ([weight(A, "10.0.0.1", 0), weight(A, "10.0.0.2", 0), del_as(A, "10.0.0.3")], 64, [3]),
        # a weight change to nonzero may be a raise: a later weight change of its VIP waits
        ([weight(A, "10.0.0.1", 50), weight(A, "10.0.0.2", 40)], 64, [1, 2]),
        # a tear-down: the ASes go together, the VIP waits for them and ends its window
        ([del_as(A, "10.0.0.1"), del_as(A, "10.0.0.2"), Op(DEL_VIP, A), add_vip(B)], 64, [2, 3, 4]),
        # a re-create: nothing after the VIP's removal goes before VPP confirmed it
        ([del_as(A, "10.0.0.1"), Op(DEL_VIP, A), add_vip(A), add_as(A, "10.0.0.1")], 64, [1, 2, 4]),
    ],
)
def test_window_ends(ops, limit, ends):
    assert window_ends(ops, limit) == ends


def test_window_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        window_ends([CONF], 0)
