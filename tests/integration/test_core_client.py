"""The core's VPP client against vppsim over real sockets, through the real vpp_papi client."""

from __future__ import annotations

import os
import shutil
import socket
import threading

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import (
    VppLbClient,
    is_connection_error,
    is_retryable,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.errors import (
    ApplyError,
    VppApiMissingError,
    VppConnectError,
    VppDisconnectedError,
    VppRetvalError,
)
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
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.stats import LbStatsReader
from vpp_under_test import restart_vpp, send_flows

V4 = VipKey("192.0.2.1/32", 6, 80)
V6 = VipKey("2001:db8::10/128")


def scenario_a_ops() -> list:
    """vpp-facts Part 2 §2.2: the scenario observed on a real VPP master."""
    return [
        Op(SET_CONF, conf=LbConf("192.0.2.254", "2001:db8::fe", 1024, 40)),
        Op(ADD_VIP, V4, spec=VipSpec("gre4", src_ip_sticky=True, new_flows_table_length=1024)),
        Op(ADD_VIP, V6, spec=VipSpec("gre6", new_flows_table_length=512)),
        Op(ADD_AS, V4, address="198.51.100.11", weight=100),
        Op(ADD_AS, V4, address="198.51.100.12", weight=50),
        Op(ADD_AS, V6, address="2001:db8:1::1", weight=100),
    ]


@pytest.fixture
def lb_api() -> str:
    """These tests are written for VPP master (weights, lb_conf_get): against a real VPP they run
    when it is LB API 1.2.0. test_core_client_generations.py covers both generations."""
    return "1.2.0"


@pytest.fixture
def vppsim(vppsim_lb):
    return vppsim_lb


@pytest.fixture(params=["asyncio", "sync"])
def client(request, vppsim):
    """Both transports: definitions from VPP (asyncio client) and from an API directory (sync)."""
    api_dir = vppsim.api_dir if request.param == "sync" else None
    if request.param == "sync" and not api_dir:
        pytest.skip("the sync transport needs API definitions: set VPP_API_DIR")
    with VppLbClient(vppsim.api_socket, api_dir=api_dir, timeout=5) as c:
        assert c.capabilities.transport == request.param
        yield c


def test_scenario_a_dump_matches_real_vpp(client):
    applied = client.apply(scenario_a_ops())
    assert len(applied) == 6
    state = client.dump()
    assert state.conf == LbConf("192.0.2.254", "2001:db8::fe", 1024, 40)
    assert set(state.vips) == {V4, V6}
    v4, v6 = state.vips[V4], state.vips[V6]
    assert (v4.index, v6.index) == (1, 2)
    assert v4.spec == VipSpec("gre4", src_ip_sticky=True, new_flows_table_length=1024)
    assert v6.spec == VipSpec("gre6", src_ip_sticky=False, new_flows_table_length=512)
    assert {a: (s.weight, s.num_buckets) for a, s in v4.ases.items()} == {
        "198.51.100.11": (100, 674),
        "198.51.100.12": (50, 350),
    }
    assert {a: (s.weight, s.num_buckets) for a, s in v6.ases.items()} == {"2001:db8:1::1": (100, 512)}


def test_set_weight_and_delete_hide_removed_as(client):
    client.apply(scenario_a_ops())
    client.apply([
        Op(SET_WEIGHT, V4, address="198.51.100.12", weight=100),
        Op(DEL_AS, V4, address="198.51.100.12", flush=True),
    ])
    v4 = client.dump().vips[V4]
    assert {a: (s.weight, s.num_buckets) for a, s in v4.ases.items()} == {"198.51.100.11": (100, 1024)}
    # VPP keeps the removed AS until GC; the CLI still lists it, the client's state does not.
    assert "198.51.100.12 weight:100 buckets:0 flows:0" in client.cli("show lb vips verbose")


def test_retval_error_names_vpp_error_and_reports_applied_ops(client):
    ops = scenario_a_ops()
    client.apply(ops[:2])
    with pytest.raises(ApplyError) as info:
        client.apply([ops[2], ops[1], ops[3]])  # re-adding V4 fails with VALUE_EXIST
    err = info.value
    assert err.failed == ops[1] and [op for op, _cause in err.refused] == [ops[1]]
    if client.capabilities.transport == "asyncio":
        # pipelined: the AS add went out in the refused VIP's window, and VPP applied it
        assert (err.applied, err.not_sent) == ([ops[2], ops[3]], [])
    else:
        assert (err.applied, err.not_sent) == ([ops[2]], [ops[3]])
    assert isinstance(err.cause, VppRetvalError)
    assert (err.cause.retval, err.cause.error_name) == (-81, "VALUE_EXIST")
    assert "lb_add_del_vip_v2" in str(err) and "lb vip 192.0.2.1/32 protocol tcp port 80" in str(err)
    assert set(client.dump().vips) == {V4, V6}
    assert sorted(client.dump().vips[V4].ases) == sorted(op.address for op in err.applied if op.vip == V4)


@pytest.mark.parametrize(
    "op, retval",
    [
        (Op(ADD_VIP, VipKey("192.0.2.9/32"), spec=VipSpec(new_flows_table_length=1000)), -70),
        (Op(ADD_VIP, VipKey("192.0.2.9/32"), spec=VipSpec(encap="nat6")), -97),
        (Op(DEL_VIP, VipKey("192.0.2.99/32")), -6),
        (Op(ADD_AS, V4, address="2001:db8::1", weight=100), -97),
        (Op(ADD_AS, VipKey("192.0.2.77/32"), address="10.0.0.1", weight=100), -6),
        (Op(SET_WEIGHT, V4, address="10.9.9.9", weight=10), -6),
        (Op(DEL_AS, V4, address="10.9.9.9"), -6),
    ],
)
def test_vpp_retvals_for_bad_input(client, op, retval):
    client.apply(scenario_a_ops())
    with pytest.raises(VppRetvalError) as info:
        client.execute(op)
    assert info.value.retval == retval


def test_zero_table_length_is_refused_before_reaching_vpp(client):
    with pytest.raises(VppRetvalError) as info:
        client.execute(Op(ADD_VIP, VipKey("192.0.2.9/32"), spec=VipSpec(new_flows_table_length=0)))
    assert info.value.retval == -70
    assert client.dump().vips == {}


def test_recreate_gets_a_new_pool_index(client):
    client.apply(scenario_a_ops())
    client.apply([
        Op(DEL_AS, V4, address="198.51.100.11", flush=True),
        Op(DEL_AS, V4, address="198.51.100.12", flush=True),
        Op(DEL_VIP, V4),
        Op(ADD_VIP, V4, spec=VipSpec("gre4", src_ip_sticky=False)),
    ])
    v4 = client.dump().vips[V4]
    assert v4.spec.src_ip_sticky is False
    assert v4.index == 3  # the removed VIP keeps index 1 until GC
    assert v4.ases == {}


def test_restart_fault_disconnects_and_reconnect_sees_empty_state(vppsim, client):
    client.apply(scenario_a_ops())
    pid = client.ping()
    assert client.alive and client.capabilities is not None
    restart_vpp(vppsim, client)
    with pytest.raises(VppDisconnectedError) as info:
        client.ping()
    assert is_connection_error(info.value)
    assert is_retryable(info.value)
    assert not client.alive  # a failed call left the session marked dead
    client.disconnect()
    assert client.capabilities is None and client.fileno() == -1
    for call in (lambda: client.apply(scenario_a_ops()), client.dump):  # retryable, not AttributeError
        with pytest.raises(VppDisconnectedError):
            call()
    client.reconnect()
    assert client.alive and client.fileno() >= 0
    assert client.ping() != pid
    state = client.dump()
    assert state.vips == {}
    assert state.conf == LbConf()  # boot defaults


def test_missing_socket_is_a_clear_error(tmp_path):
    path = str(tmp_path / "nope.sock")
    with pytest.raises(VppConnectError, match="does not exist: is VPP running"):
        VppLbClient(path).connect()


def test_socket_without_listener_is_a_clear_error(tmp_path):
    path = str(tmp_path / "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)  # bound, never listening: connect is refused
    try:
        with pytest.raises(VppConnectError, match="nothing listens"):
            VppLbClient(path).connect()
    finally:
        s.close()


def test_api_dir_without_definitions_is_a_clear_error(vppsim, tmp_path):
    with pytest.raises(VppConnectError, match="no usable VPP API definitions in " + str(tmp_path)):
        VppLbClient(vppsim.api_socket, api_dir=str(tmp_path)).connect()


def test_peer_that_never_answers_times_out(tmp_path):
    path = str(tmp_path / "silent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    accepted = []
    stop = threading.Event()

    def accept_and_stay_silent():
        conn, _addr = srv.accept()
        accepted.append(conn)
        stop.wait(10)

    t = threading.Thread(target=accept_and_stay_silent, daemon=True)
    t.start()
    try:
        with pytest.raises(VppConnectError, match="did not answer"):
            VppLbClient(path, timeout=0.5).connect()
    finally:
        stop.set()
        t.join(5)
        for c in accepted:
            c.close()
        srv.close()


def test_api_definitions_missing_lb_messages(vppsim, tmp_path):
    if not vppsim.api_dir:
        pytest.skip("needs the VPP's API definitions: set VPP_API_DIR")
    api_dir = tmp_path / "api"
    shutil.copytree(vppsim.api_dir, api_dir)
    removed = list(api_dir.rglob("lb.api.json"))
    assert removed, "the simulator's API dir has lb.api.json"
    for p in removed:
        os.unlink(p)
    with pytest.raises(VppApiMissingError) as info:
        VppLbClient(vppsim.api_socket, api_dir=str(api_dir)).connect()
    assert "lb_add_del_vip_v2" in info.value.missing and "lb_vip_dump" in info.value.missing


def test_one_client_shared_by_threads_is_serialised(client):
    errors, counts = [], []

    def worker():
        try:
            pids = {client.ping() for _call in range(200)}
            counts.append(len(pids))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _worker in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert counts == [1, 1, 1, 1]


def test_stats_reader_follows_simulated_traffic(vppsim, client):
    client.apply(scenario_a_ops())
    state = client.dump()
    send_flows(vppsim, client, "192.0.2.1/32", "tcp", 80, flows=100, packets=3, seed=7)
    with LbStatsReader(vppsim.stats_socket) as stats:
        assert stats.boottime() > 0
        counters = stats.vip_counters({k: v.index for k, v in state.vips.items()})
        assert counters[V4]["first_packets"] == 100
        assert counters[V4]["next_packets"] == 200
        assert counters[V6] == {"next_packets": 0, "first_packets": 0, "untracked_packets": 0,
                                "no_server_packets": 0}
        route = client.route_stats_index(V4.prefix)
        assert route is not None
        packets, octets = stats.route_counters({V4: route})[V4]
        assert packets == 300 and octets > 0
    assert client.route_stats_index("192.0.2.99/32") is None
    # The CLI's counters (summed by VPP) agree with the stats segment.
    assert client.dump().vips[V4].counters.first_packets == 100


@pytest.mark.parametrize("window", [1, 2, 64])
def test_route_lookups_pipelined_go_on_past_prefixes_without_a_route(client, window):
    """A lookup without a route is a refusal, after which the pipeline sends nothing more: the
    lookups behind it are sent again, each prefix once, whatever the window."""
    client.apply(scenario_a_ops())
    client.pipeline_window = window
    missing = ["192.0.2.99/32", "198.18.0.1/32", "2001:db8::99/128"]
    asked = [missing[0], V4.prefix, missing[1], missing[2], V6.prefix, V4.prefix]
    before = dict(client.api_calls)
    found = client.route_stats_indexes(asked)
    calls = {k[1]: n - before.get(k, 0) for k, n in client.api_calls.items() if k[0] == "ip_route_lookup"}
    assert list(found) == [missing[0], V4.prefix, missing[1], missing[2], V6.prefix]
    assert [found[p] for p in missing] == [None, None, None]
    assert None not in (found[V4.prefix], found[V6.prefix]) and found[V4.prefix] != found[V6.prefix]
    assert calls == {"ok": 2, "error": 3}
    assert found == {p: client.route_stats_index(p) for p in asked}  # one by one: the same answers


def _flows(client, key: VipKey) -> dict:
    (vip,) = [v for v in client.parsed_vips() if (v.prefix, v.protocol, v.port) == (key.prefix, key.protocol, key.port)
              and not v.removed]
    return {a.address: a.flows for a in vip.ases}


@pytest.mark.simulator(reason="needs flows spread over the whole table (random sources: `sim traffic src`)")
def test_traffic_follows_weights_drains_and_flushes(client):
    client.apply(scenario_a_ops())
    # Room for every flow in the sticky table (4 entries per bucket), so none goes untracked.
    client.apply([Op(SET_CONF, conf=LbConf("192.0.2.254", "2001:db8::fe", 65536, 40))])
    traffic = "sim traffic 192.0.2.1/32 protocol tcp port 80 flows 3000 src 198.18.0.0/15 seed {}"
    client.cli(traffic.format(1))
    flows = _flows(client, V4)
    sessions = client.dump().vips[V4].counters.first_packets  # src_ip_sticky: one per source
    assert 2900 < sessions <= 3000 and sum(flows.values()) == sessions
    share = flows["198.51.100.11"] / sessions  # 674 of 1024 buckets
    assert 0.60 < share < 0.72, flows

    client.apply([Op(SET_WEIGHT, V4, address="198.51.100.12", weight=0)])  # drain
    client.cli(traffic.format(2))
    drained = _flows(client, V4)
    new_sessions = client.dump().vips[V4].counters.first_packets - sessions
    assert new_sessions > 2800  # some sources of the second batch already have a session
    assert drained["198.51.100.12"] == flows["198.51.100.12"]  # no new flows, old ones stay
    assert drained["198.51.100.11"] == flows["198.51.100.11"] + new_sessions

    client.apply([Op(DEL_AS, V4, address="198.51.100.12", flush=True)])
    assert _flows(client, V4)["198.51.100.12"] == 0  # flushed: its sticky entries are gone
    assert set(client.dump().vips[V4].ases) == {"198.51.100.11"}
