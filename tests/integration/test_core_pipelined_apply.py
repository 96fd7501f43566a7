"""The pipelined apply against vppsim: exact attribution when VPP refuses an op in the middle of
a window or stops answering, make before break across barriers, and a rerun that converges."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, planner, schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.errors import ApplyError, VppTimeoutError
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import ADD_AS, ADD_VIP, SET_WEIGHT
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.pipeline import barrier_ends

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
    # conf | vip0 as as vip1 as as vip2 as as: a barrier after conf only
    assert barrier_ends(ops) == [1, 10]
    assert ops[2].action == ADD_AS
    # 4 in flight: vip0 as as vip1 go out; the refused ops[2] stops sending before the window
    # is topped up again (at half of it); ops[3:5] were in flight behind it, so VPP executed them
    client.pipeline_window = 4
    client.cli("sim fault error lb_add_del_as_v2 -81 count 1")
    with pytest.raises(ApplyError) as info:
        client.apply(ops)
    err = info.value
    assert err.failed == ops[2]
    assert [op for op, _cause in err.refused] == [ops[2]]
    assert (err.cause.retval, err.cause.error_name) == (-81, "VALUE_EXIST")
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


def test_window_slides_before_every_reply_is_in(client):
    # window 2: vip0 and its first AS go out; vip0's answer alone lets the next AS go, before
    # the first AS's (refused) answer came back: the window slides, it does not wait for all
    # its replies (stop-and-wait would have applied ops[:2] and not sent ops[3])
    target = want(2, {"a": (1, 100), "b": (2, 50)})
    ops = planner.plan(target, client.dump())
    assert [op.action for op in ops[1:4]] == [ADD_VIP, ADD_AS, ADD_AS]
    client.pipeline_window = 2
    client.cli("sim fault error lb_add_del_as_v2 -81 count 1")
    with pytest.raises(ApplyError) as info:
        client.apply(ops)
    err = info.value
    assert (err.applied, err.failed, err.not_sent) == ([ops[0], ops[1], ops[3]], ops[2], ops[4:])
    assert sorted(client.dump().vips[ops[1].vip].ases) == [ops[3].address]


def test_unanswered_op_mid_window_puts_what_was_in_flight_in_doubt(vppsim_lb):
    # VPP holds every AS add's answer past the client's timeout: the one watchdog of the
    # pipelined transport fails the first unanswered op, and the attribution says exactly what
    # was sent (in doubt) and what never was
    target = want(3, {"a": (1, 100), "b": (2, 50)})
    with VppLbClient(vppsim_lb.api_socket, timeout=3) as client:
        ops = planner.plan(target, client.dump())
        client.pipeline_window = 4
        client.cli("sim fault stall 6000 lb_add_del_as_v2")
        with pytest.raises(ApplyError) as info:
            client.apply(ops)
    err = info.value
    assert isinstance(err.cause, VppTimeoutError)
    assert (err.applied, err.failed) == (ops[:2], ops[2])
    # vip0's answer left 3 of 4 in flight: no top-up yet, so ops[5] was never sent
    assert err.in_doubt == ops[2:5] and err.not_sent == ops[5:] and err.refused == []
    with VppLbClient(vppsim_lb.api_socket, timeout=10) as client:
        client.cli("sim fault stall 0")
        client.apply(planner.plan(target, client.dump()))
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


def test_large_plan_slides_through_the_window_and_converges(client):
    # many times more ops than the window: the window slides, and every op is applied once
    target = want(40, {"a": (1, 100), "b": (2, 50), "c": (3, 25)})
    ops = planner.plan(target, client.dump())
    assert len(ops) > 2 * client.pipeline_window
    assert client.apply(ops) == ops
    assert client.api_calls[("lb_add_del_as_v2", "ok")] == 120
    assert planner.plan(target, client.dump()) == []
