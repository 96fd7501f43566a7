"""The pipelined apply against vppsim: exact attribution when VPP refuses an op in the middle of
a window, make before break across windows, and a rerun that converges."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, planner, schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.errors import ApplyError
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import ADD_AS, SET_WEIGHT
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.pipeline import window_ends

pytestmark = pytest.mark.simulator(reason="makes VPP refuse one op with `sim fault error`")


@pytest.fixture
def lb_api() -> str:
    return "1.2.0"  # weights: lb_add_del_as_v2 and lb_as_set_weight


def maglev_lb(n_vips: int, weights: dict) -> dict:
    """n_vips VIPs, each with the backends of ``weights`` (name -> (address suffix, weight))."""
    backends, frontends = {}, {}
    for v in range(n_vips):
        members = {}
        for name, (suffix, weight) in weights.items():
            backends[f"{name}{v}"] = {"address": f"198.51.{100 + v}.{suffix}"}
            members[f"{name}{v}"] = {"weight": weight}
        frontends[f"f{v}"] = {"prefix": f"192.0.2.{v + 1}/32", "protocol": "tcp", "port": 80,
                              "pools": [{"name": "main", "backends": members}]}
    return {"conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe"},
            "backends": backends, "frontends": frontends}


def want(n_vips: int, weights: dict):
    return desired.desired_state(schema.parse_config(maglev_lb(n_vips, weights)))


@pytest.fixture
def client(vppsim_lb):
    with VppLbClient(vppsim_lb.api_socket, timeout=10) as c:
        assert c.capabilities.transport == "asyncio"  # the pipelining transport
        yield c


def test_refused_op_mid_window_attributes_applied_refused_and_not_sent(client):
    target = want(3, {"a": (1, 100), "b": (2, 50)})
    ops = planner.plan(target, client.dump())
    # conf | vip0 as as vip1 | as as vip2 as | as: the first AS add is the 2nd op of window 2
    client.pipeline_window = 4
    assert window_ends(ops, 4) == [1, 5, 9, 10]
    assert ops[2].action == ADD_AS
    client.cli("sim fault error lb_add_del_as_v2 -81 count 1")
    with pytest.raises(ApplyError) as info:
        client.apply(ops)
    err = info.value
    assert err.failed == ops[2]
    assert [op for op, _cause in err.refused] == [ops[2]]
    assert (err.cause.retval, err.cause.error_name) == (-81, "VALUE_EXIST")
    # sent in the same window after the refused op, so VPP executed them
    assert err.applied == [ops[0], ops[1], ops[3], ops[4]]
    assert err.not_sent == ops[5:] and err.in_doubt == []
    assert "4 operation(s) were applied, 1 refused, 5 not sent" in str(err)
    live = client.dump()
    assert {k: sorted(v.ases) for k, v in live.vips.items()} == {
        ops[1].vip: [ops[3].address], ops[4].vip: [],
    }
    # the rerun plans exactly what is missing and converges
    rerun = planner.plan(target, live)
    assert [op.describe() for op in rerun] == [op.describe() for op in [ops[2]] + ops[5:]]
    assert client.apply(rerun) == rerun
    assert planner.plan(target, client.dump()) == []


def test_refused_raise_stops_the_drop_after_it(client):
    # make before break across a pipelined apply: a failover raises the standby, then drops the
    # primary; if VPP refuses the raise the drop must not go out, or the VIP has no weighted AS.
    before = want(1, {"p": (1, 100), "s": (2, 0)})
    client.apply(planner.plan(before, client.dump()))
    after = want(1, {"p": (1, 0), "s": (2, 100)})
    ops = planner.plan(after, client.dump())
    assert [(op.action, op.weight) for op in ops] == [(SET_WEIGHT, 100), (SET_WEIGHT, 0)]
    client.cli("sim fault error lb_as_set_weight -2 count 1")
    with pytest.raises(ApplyError) as info:
        client.apply(ops)
    err = info.value
    assert (err.applied, err.failed, err.not_sent) == ([], ops[0], [ops[1]])
    weights = {a: s.weight for a, s in next(iter(client.dump().vips.values())).ases.items()}
    assert weights == {"198.51.100.1": 100, "198.51.100.2": 0}
    client.apply(planner.plan(after, client.dump()))
    assert planner.plan(after, client.dump()) == []


def test_large_plan_goes_out_in_windows_and_converges(client):
    # more ops than a window: the windows follow each other, and every op is applied once
    target = want(40, {"a": (1, 100), "b": (2, 50), "c": (3, 25)})
    ops = planner.plan(target, client.dump())
    assert len(window_ends(ops, client.pipeline_window)) > 2
    assert client.apply(ops) == ops
    assert client.api_calls[("lb_add_del_as_v2", "ok")] == 120
    assert planner.plan(target, client.dump()) == []
