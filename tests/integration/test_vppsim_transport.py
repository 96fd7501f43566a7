"""Conformance of vppsim's API socket and stats segment, seen through the real vpp_papi 2.4.2.

Everything here goes through the unmodified client (``VPPApiClient``, its asyncio variant and
``VPPStats``). With ``VPP_API_SOCKET`` (and ``VPP_STATS_SOCKET``/``VPP_API_DIR``, and
``VPP_LB_API`` for a release VPP) set, the tests that do not need simulator-only features run
against a real VPP instead.

Every test that takes ``vppsim`` runs once per LB API personality (``lb_api``: 1.2.0 = VPP
master, 1.1.0 = releases up to v26.06); where the two differ the test expects each one's
recorded behaviour (vpp-facts Part 2 and Part 3).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Callable, Iterator

import pytest
from polling import wait_for
from vpp_papi import VPPApiClient, VPPValueError
from vpp_papi.vpp_papi import VPPIOError
from vpp_papi.vpp_papi_async import VPPApiClient as AsyncVPPApiClient
from vpp_papi.vpp_stats import VPPStats
from vpp_papi.vpp_transport_socket import VppTransportSocketIOError

# name_crc of every message the project uses, as a real VPP master announces them (vpp-facts
# Part 2 §3, plus the memclnt messages of vpp_papi's bundled memclnt.api.json).
REAL_VPP_CRCS = [
    "lb_conf_56cd3261", "lb_conf_reply_e8d4e804", "lb_conf_get_51077d14", "lb_conf_get_reply_923427ac",
    "lb_add_del_vip_6fa569c7", "lb_add_del_vip_reply_e8d4e804",
    "lb_add_del_vip_v2_7c520e0f", "lb_add_del_vip_v2_reply_e8d4e804",
    "lb_add_del_as_35d72500", "lb_add_del_as_reply_e8d4e804",
    "lb_add_del_as_v2_2f1d3b0e", "lb_add_del_as_v2_reply_e8d4e804",
    "lb_as_set_weight_2d89bdbd", "lb_as_set_weight_reply_e8d4e804",
    "lb_flush_vip_1063f819", "lb_flush_vip_reply_e8d4e804",
    "lb_vip_dump_56110cb7", "lb_vip_details_1329ec9b", "lb_as_dump_1063f819", "lb_as_details_8d24c29e",
    "lb_as_v2_dump_1063f819", "lb_as_v2_details_90064aae",
    "lb_add_del_intf_nat4_47d6e753", "lb_add_del_intf_nat4_reply_e8d4e804",
    "lb_add_del_intf_nat6_47d6e753", "lb_add_del_intf_nat6_reply_e8d4e804",
    "control_ping_51077d14", "control_ping_reply_f6b0b8ca",
    "show_version_51077d14", "show_version_reply_c919bde1",
    "cli_inband_f8377302", "cli_inband_reply_05879051",
    "ip_route_lookup_710d6471", "ip_route_lookup_reply_5d8febcb",
    "get_api_json_51077d14", "get_api_json_reply_ea715b59",
    "sockclnt_create_455fb9c4", "sockclnt_create_reply_35166268",
    "sockclnt_delete_8ac76db6", "sockclnt_delete_reply_8f38b1ee",
]
LB_MASTER_ONLY = ["lb_conf_get_51077d14", "lb_add_del_as_v2_2f1d3b0e", "lb_as_set_weight_2d89bdbd",
                  "lb_as_v2_dump_1063f819", "lb_as_v2_details_90064aae"]
REL_CRCS = [n for n in REAL_VPP_CRCS
            if not n.startswith(("lb_conf_get", "lb_add_del_as_v2", "lb_as_set_weight", "lb_as_v2_"))]
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LB_VIP_COUNTERS = ["packet from existing sessions", "first session packet", "untracked packet",
                   "no server configured"]
REL = "1.1.0"


@pytest.fixture
def vppsim(vppsim_lb):
    """This module's VPP: one per LB API personality (see conftest ``vppsim_lb``)."""
    return vppsim_lb


def ip4_vip(lb_api: str, prefix: str):
    """An IPv4 VIP prefix as each generation's API wants it: 1.1.0 takes the ip46 length 96 + plen
    (vpp-facts Part 3 §4.2), which vpp_papi passes through when given as address and len."""
    if lb_api != REL:
        return prefix
    address, plen = prefix.split("/")
    return {"address": address, "len": 96 + int(plen)}


def new_client(sim, *, bootstrap: bool = False, read_timeout: float = 5) -> VPPApiClient:
    if bootstrap or not sim.api_dir:
        return VPPApiClient(bootstrapapi=True, server_address=sim.api_socket, read_timeout=read_timeout)
    return VPPApiClient(apidir=sim.api_dir, server_address=sim.api_socket, read_timeout=read_timeout)


@pytest.fixture
def connect(vppsim) -> Iterator[Callable[..., VPPApiClient]]:
    """Connected vpp_papi clients; every one is disconnected (if still connected) afterwards."""
    clients: list[VPPApiClient] = []

    def make(name: str = "conformance", sim=None, **kw) -> VPPApiClient:
        c = new_client(sim or vppsim, **kw)
        c.connect(name)
        clients.append(c)
        return c

    yield make
    for c in clients:
        if c.transport.connected:
            try:
                c.disconnect()
            except Exception:  # a client the server already dropped
                pass


@pytest.fixture
def stats(vppsim) -> Iterator[Callable[..., VPPStats]]:
    opened: list[VPPStats] = []

    def make(sim=None) -> VPPStats:
        s = VPPStats(socketname=(sim or vppsim).stats_socket, timeout=5)
        s.connect()
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.disconnect()


def sim_only(sim) -> None:
    if not sim.is_sim:
        pytest.skip("needs the simulator")


def cli(c: VPPApiClient, cmd: str) -> tuple[int, str]:
    r = c.api.cli_inband(cmd=cmd)
    return r.retval, r.reply


# ------------------------------------------------------------------------- handshake
def test_handshake_with_apidir_gives_vpp_message_table(vppsim, connect, lb_api):
    c = connect()
    table = c.transport.message_table
    if lb_api == REL:
        assert c.validate_message_table(REL_CRCS) == []
        assert sorted(c.validate_message_table(LB_MASTER_ONLY)) == sorted(LB_MASTER_ONLY)
    else:
        assert c.validate_message_table(REAL_VPP_CRCS) == []
    # vpp_papi hardcodes 15/16; the rest of memclnt follows VPP's file order.
    assert table["sockclnt_create_455fb9c4"] == 15
    assert table["sockclnt_create_reply_35166268"] == 16
    assert table["sockclnt_delete_8ac76db6"] == 17
    assert table["control_ping_51077d14"] == 23
    assert table["control_ping_reply_f6b0b8ca"] == 24
    assert table["get_api_json_51077d14"] == 27
    assert c.transport.socket_index & 0x80000000
    for name in ("lb_add_del_vip_v2", "lb_as_dump", "ip_route_lookup", "show_version"):
        assert callable(getattr(c.api, name))
    for name in ("lb_as_v2_dump", "lb_conf_get", "lb_add_del_as_v2", "lb_as_set_weight"):
        assert hasattr(c.api, name) is (lb_api != REL)
    if vppsim.is_sim:
        assert sorted(table.values()) == list(range(1, len(table) + 1))  # dense, from 1


def test_bootstrap_from_get_api_json(vppsim, connect, lb_api):
    c = connect(bootstrap=True)
    if lb_api == REL:
        assert not hasattr(c.api, "lb_conf_get")
        assert c.api.lb_add_del_vip_v2(pfx="2001:db8:abcd::1/128").retval == 0
    else:
        assert c.api.lb_conf_get().retval == 0
    r = c.api.get_api_json()
    assert r.retval == 0
    docs = json.loads(r.json)
    modules = {d["module"] for d in docs}
    assert {"vpe", "vlib", "ip", "lb"} <= modules
    assert "memclnt" not in modules and "ip_types" not in modules and "lb_types" not in modules
    lb = next(d for d in docs if d["module"] == "lb")
    assert lb["options"]["version"] == lb_api
    assert len(lb["messages"]) == (18 if lb_api == REL else 26)  # Part 3 §3: v26.06 has 18
    assert any(t[0] == "lb_vip" for t in lb["types"]) and "address_with_prefix" in lb["aliases"]
    table = c.transport.message_table
    for d in docs:
        for m in d["messages"]:
            crc = next(x for x in m[1:] if isinstance(x, dict))["crc"]
            assert f"{m[0]}_{crc[2:]}" in table  # the asyncio client KeyErrors otherwise


def test_api_dir_files_match_what_the_server_sends(vppsim, connect):
    sim_only(vppsim)
    c = connect(bootstrap=True)
    docs = {d["module"]: d for d in json.loads(c.api.get_api_json().json)}
    for module, doc in docs.items():
        with open(os.path.join(vppsim.api_dir, module + ".api.json")) as f:
            assert json.load(f) == doc


def test_print_api_dir(vppsim, lb_api):
    sim_only(vppsim)
    out = subprocess.run([sys.executable, "-m", "vppsim", "--lb-api", lb_api, "--print-api-dir"],
                         capture_output=True, text=True, timeout=60, check=True, cwd=REPO_ROOT)
    d = out.stdout.strip()
    assert os.path.isabs(d) and os.path.samefile(d, vppsim.api_dir)
    assert {"memclnt.api.json", "lb.api.json", "ip_types.api.json"} <= set(os.listdir(d))
    with open(os.path.join(d, "lb.api.json")) as f:
        lb = json.load(f)
    assert lb["options"]["version"] == lb_api
    assert any(m[0] == "lb_conf_get" for m in lb["messages"]) is (lb_api != REL)


# ------------------------------------------------------------------------- basic messages
def test_control_ping_fields(vppsim, connect, lb_api):
    c = connect()
    r = c.api.control_ping(context=424242)
    assert r.context == 424242 and r.retval == 0
    # master echoes the caller's client_index; a real v26.06 answers 0 to every client
    assert r.client_index == (0 if lb_api == REL else c.transport.socket_index)
    if vppsim.is_sim:
        assert r.vpe_pid == vppsim.pid
    assert c.api.control_ping().vpe_pid == r.vpe_pid


def test_show_version_and_cli_show_version(vppsim, connect, lb_api):
    c = connect()
    v = c.api.show_version()
    assert v.retval == 0 and v.program == "vpe" and v.build_directory == ""
    assert v.version and v.build_date
    rv, text = cli(c, "show version")
    assert rv == 0
    assert text.startswith(f"vpp v{v.version} built by ") and text.endswith(f" at {v.build_date}\n")
    if vppsim.is_sim:
        if lb_api == REL:
            assert v.version == "26.06-release"  # Part 3 §3
        else:
            assert v.version.startswith("26.10-rc0")


def test_retval_is_returned_not_raised(vppsim, connect):
    c = connect()
    assert c.api.lb_add_del_intf_nat4(is_add=True, sw_if_index=99).retval == -2
    assert c.api.lb_add_del_intf_nat6(is_add=False, sw_if_index=99).retval == -2


@pytest.mark.parametrize("message", ["lb_add_del_intf_nat4", "lb_add_del_intf_nat6"])
def test_nat_feature_on_local0_is_accepted(vppsim, connect, message):
    # sw_if_index 0 is local0, which every VPP has: VPP answers 0 for add and delete (Part 2 §5).
    c = connect()
    call = getattr(c.api, message)
    assert call(is_add=True, sw_if_index=0).retval == 0
    assert call(is_add=False, sw_if_index=0).retval == 0
    assert c.api.lb_add_del_vip_v2(pfx="2001:db8:77::1/128", is_del=True).retval == -6


def test_ip_route_lookup_for_vip_and_missing_prefix(vppsim, connect, lb_api):
    c = connect()
    vip = ip4_vip(lb_api, "192.0.2.1/32")
    assert c.api.lb_add_del_vip_v2(pfx=vip, protocol=6, port=80, encap=0).retval == 0
    try:
        r = c.api.ip_route_lookup(table_id=0, exact=1, prefix="192.0.2.1/32")
        assert r.retval == 0 and r.route.n_paths == 1 and len(r.route.paths) == 1
        assert str(r.route.prefix) == "192.0.2.1/32" and r.route.table_id == 0
        assert r.route.stats_index >= 8  # 0..7 belong to boot routes
        assert r.route.paths[0].sw_if_index == 0xFFFFFFFF and r.route.paths[0].weight == 1
        miss = c.api.ip_route_lookup(table_id=0, exact=1, prefix="192.0.2.9/32")
        assert miss.retval == -6 and miss.route.n_paths == 0 and miss.route.paths == []
        assert str(miss.route.prefix) == "0.0.0.0/0"
        assert c.api.lb_add_del_vip_v2(pfx="2001:db8::10/128", encap=1).retval == 0
        r6 = c.api.ip_route_lookup(table_id=0, exact=1, prefix="2001:db8::10/128")
        assert r6.retval == 0 and str(r6.route.prefix) == "2001:db8::10/128"
        assert r6.route.stats_index not in (0, r.route.stats_index)
        assert r6.route.paths[0].proto == 1  # FIB_API_PATH_NH_PROTO_IP6
    finally:
        c.api.lb_add_del_vip_v2(pfx=vip, protocol=6, port=80, is_del=True)
        c.api.lb_add_del_vip_v2(pfx="2001:db8::10/128", is_del=True)


def test_old_style_dumps_end_with_the_ping(vppsim, connect, lb_api):
    c = connect()
    vips = [f"2001:db8:100::{i:x}/128" for i in range(1, 41)]
    try:
        for p in vips:
            assert c.api.lb_add_del_vip_v2(pfx=p, encap=1, new_flows_table_length=64).retval == 0
        if lb_api == REL:
            for i in range(1, 4):
                assert c.api.lb_add_del_as(pfx=vips[0], as_address=f"2001:db8:200::{i}").retval == 0
        else:
            for i in range(1, 4):
                r = c.api.lb_add_del_as_v2(pfx=vips[0], as_address=f"2001:db8:200::{i}", weight=10 * i)
                assert r.retval == 0
        details = c.api.lb_vip_dump()
        assert [str(d.vip.pfx) for d in details] == vips
        assert len({d.context for d in details}) == 1
        if lb_api == REL:  # Part 3 §4.6: protocol always 0, flow_table_length 0
            assert all(d.flow_table_length == 0 and d.vip.protocol == 0 for d in details)
        else:
            assert all(d.flow_table_length == 64 and d.vip.protocol == 255 for d in details)
        if lb_api == REL:
            ases = c.api.lb_as_dump()
            assert [(str(a.app_srv), a.flags) for a in ases] == [(f"2001:db8:200::{i}", 1) for i in range(1, 4)]
            assert c.api.control_ping().retval == 0
            return
        ases = c.api.lb_as_v2_dump()
        assert [(str(a.app_srv), a.weight, a.flags) for a in ases] == [
            (f"2001:db8:200::{i}", 10 * i, 1) for i in range(1, 4)]
        assert sum(a.num_buckets for a in ases) == 64
        assert len(c.api.lb_as_dump()) == 3
        assert c.api.control_ping().retval == 0  # nothing left over in the stream
    finally:
        for p in vips:
            c.api.lb_add_del_vip_v2(pfx=p, is_del=True)


# ------------------------------------------------------------------------- concurrency
def test_asyncio_client_pipelined_requests_answered_in_order(vppsim):
    async def run() -> None:
        c = AsyncVPPApiClient(server_address=vppsim.api_socket)
        events: asyncio.Queue = asyncio.Queue()
        assert await c.connect("async", events) == 0
        futures = []
        for i in range(300):
            if i % 50 == 0:
                futures.append(c.api.lb_vip_dump())
            elif i % 7 == 0:
                futures.append(c.api.show_version())
            else:
                futures.append(c.api.control_ping())
        results = await asyncio.wait_for(asyncio.gather(*futures), 30)
        for i, r in enumerate(results):
            if i % 50 == 0:
                reply, details = r
                assert type(reply).__name__ == "control_ping_reply" and details == []
            elif i % 7 == 0:
                assert type(r).__name__ == "show_version_reply" and r.program == "vpe"
            else:
                assert type(r).__name__ == "control_ping_reply" and r.retval == 0
        contexts = [r[0].context if i % 50 == 0 else r.context for i, r in enumerate(results)]
        assert contexts == sorted(contexts) and len(set(contexts)) == 300
        assert events.empty()
        r = await asyncio.wait_for(c.api.sockclnt_delete(index=c.socket_index), 10)
        assert r.response == 1
        c.writer.close()
        c.socket_task.cancel()
        c.queue_task.cancel()

    asyncio.run(run())


def test_several_clients_at_once(vppsim, lb_api):
    n_clients, n_calls = 4, 300
    errors: list[BaseException] = []
    seen: dict[int, set] = {}
    barrier = threading.Barrier(n_clients)

    def worker(k: int) -> None:
        c = new_client(vppsim)
        try:
            c.connect(f"worker{k}")
            barrier.wait(30)
            pfx = f"2001:db8:{k + 1}::/64"
            indexes = set()
            for i in range(n_calls):
                if i == 10:
                    assert c.api.lb_add_del_vip_v2(pfx=pfx, encap=1).retval == 0
                r = c.api.control_ping()
                assert r.retval == 0
                indexes.add(r.client_index)
            assert pfx in [str(d.vip.pfx) for d in c.api.lb_vip_dump()]
            assert c.api.lb_add_del_vip_v2(pfx=pfx, is_del=True).retval == 0
            seen[k] = indexes
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            if c.transport.connected:
                c.disconnect()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert all(len(s) == 1 for s in seen.values()) and len(seen) == n_clients
    if lb_api == REL:  # v26.06 answers client_index 0 to every client
        assert {next(iter(s)) for s in seen.values()} == {0}
    else:
        assert len({next(iter(s)) for s in seen.values()}) == n_clients  # distinct registrations


# ------------------------------------------------------------------------- disconnect
def test_disconnect_answers_sockclnt_delete_then_reconnect(vppsim, connect):
    c = connect()
    rv = c.disconnect()
    assert rv.response == 1
    c.connect("again")
    assert c.api.control_ping().retval == 0


def test_sockclnt_delete_closes_the_registration(vppsim, connect):
    c = connect(read_timeout=3)
    r = c.api.sockclnt_delete(index=c.transport.socket_index)
    assert r.response == 1
    with pytest.raises((VPPIOError, VppTransportSocketIOError)):
        c.api.control_ping()
    other = connect("other")
    assert other.api.sockclnt_delete(index=0x7FFFFFFF).response == -1  # unknown registration
    assert other.api.control_ping().retval == 0


def test_unknown_message_id_drops_only_that_client(vppsim, connect):
    sim_only(vppsim)
    bad, good = connect("bad", read_timeout=3), connect("good")
    bad.transport.write(struct.pack(">HII", 0xFFF0, bad.transport.socket_index, 1))
    with pytest.raises((VPPIOError, VppTransportSocketIOError)):
        bad.api.control_ping()
    assert good.api.control_ping().retval == 0


# ------------------------------------------------------------------------- stats segment
def test_stats_sys_entries(vppsim, stats):
    s = stats()
    assert [s.directory_by_idx[i] for i in range(3)] == ["/sys/heartbeat", "/sys/last_stats_clear",
                                                         "/sys/boottime"]
    boottime = s["/sys/boottime"]
    assert isinstance(boottime, int) and abs(time.time() - boottime) < 7 * 86400
    assert s.ls("/sys/") and all(n.startswith("/sys/") for n in s.ls("/sys/"))
    for name in ("/net/route/to", "/net/route/via"):
        rows = s[name]
        assert len(rows) >= 1 and len(rows[0]) >= 8
        assert rows[0][0]["packets"] == 0 and rows[0][0]["bytes"] == 0
    if vppsim.is_sim:
        assert s["/sys/num_worker_threads"] == 0


def test_heartbeat_moves(vppsim_factory, stats, lb_api):
    sim = vppsim_factory("--stats-interval", "0.05", "--lb-api", lb_api)
    s = stats(sim)
    first = s["/sys/heartbeat"]
    wait_for(lambda: s["/sys/heartbeat"] >= first + 2, 10.0, "heartbeat")


def test_lb_counters_appear_after_first_vip_with_epoch_bump(vppsim, connect, stats, lb_api):
    sim_only(vppsim)  # a real VPP may already hold VIPs
    s = stats()
    c = connect()
    for name in LB_VIP_COUNTERS:
        assert name not in s.ls(".*")
        with pytest.raises(KeyError):
            s[name]
    epoch = s.epoch
    assert c.api.lb_add_del_vip_v2(pfx=ip4_vip(lb_api, "192.0.2.10/32"), encap=0).retval == 0
    assert s.epoch > epoch
    assert sorted(s.ls(LB_VIP_COUNTERS)) == sorted(LB_VIP_COUNTERS)
    for name in LB_VIP_COUNTERS:
        assert s[name] == [[0, 0]]  # 1 thread x (placeholder VIP 0, VIP 1)
    route = c.api.ip_route_lookup(table_id=0, exact=1, prefix="192.0.2.10/32").route.stats_index
    assert s["/net/route/to"][:, route].sum_packets() == 0
    # A second VIP grows the vectors; the same reader sees the new length.
    assert c.api.lb_add_del_vip_v2(pfx=ip4_vip(lb_api, "192.0.2.11/32"), encap=0).retval == 0
    assert s["first session packet"] == [[0, 0, 0]]


def test_stats_reader_during_vector_growth(vppsim, connect, stats):
    """Vectors move while a reader reads: it must only ever see consistent, growing vectors."""
    sim_only(vppsim)
    c = connect()
    assert c.api.lb_add_del_vip_v2(pfx="2001:db8:300::/64", encap=1).retval == 0  # creates the entries
    s = stats()
    stop = threading.Event()
    lengths: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                rows = s["first session packet"]
                assert len(rows) == 1 and not any(rows[0])
                lengths.append(len(rows[0]))
        except BaseException as e:  # reported below
            errors.append(e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    for i in range(1, 150):
        assert c.api.lb_add_del_vip_v2(pfx=f"2001:db8:300:{i:x}::/64", encap=1).retval == 0
    stop.set()
    t.join(60)
    assert not t.is_alive() and errors == []
    assert lengths and lengths == sorted(lengths)
    assert len(s["first session packet"][0]) == 151  # placeholder VIP 0 + 150 VIPs


def test_stats_segment_layout_through_vppstats():
    """StatsSegment on its own, read by VPPStats: directory growth, per-thread rows, in-place values."""
    import array
    import shutil
    import socket
    import tempfile

    from vppsim.statseg import StatsSegment

    seg = StatsSegment(n_threads=2, size=4 << 20, boottime=1_700_000_000)
    workdir = tempfile.mkdtemp(prefix="statseg-", dir="/tmp")  # short: AF_UNIX paths max 108 bytes
    path = os.path.join(workdir, "stats.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(4)

    def serve_fd() -> None:
        conn, _addr = listener.accept()
        conn.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [seg.fd]))])
        conn.close()

    t = threading.Thread(target=serve_fd, daemon=True)
    t.start()
    s = VPPStats(socketname=path, timeout=5)
    try:
        s.connect()
        t.join(10)
        assert s["/sys/boottime"] == 1_700_000_000 and s["/sys/num_worker_threads"] == 1
        assert len(s["/net/route/to"]) == 2 and len(s["/net/route/to"][1]) == 8
        epoch = s.epoch
        for i in range(200):  # the directory starts with room for 64 entries
            seg.set_scalar(f"/test/scalar{i}", i * 3)
        assert s.epoch > epoch
        assert len(s.ls("/test/")) == 200 and s["/test/scalar199"] == 597
        seg.set_scalar("/test/scalar7", 12345)  # in place: no epoch bump needed to see it
        assert s["/test/scalar7"] == 12345
        seg.ensure_simple("/test/simple", 3)
        seg.add_simple("/test/simple", 1, 2, 5)
        seg.add_simple("/test/simple", 1, 2)
        seg.set_simple("/test/simple", 0, 0, 9)
        assert s["/test/simple"] == [[9, 0, 0], [0, 0, 6]]
        seg.ensure_simple("/test/simple", 100)  # relocates the rows, keeps the values
        rows = s["/test/simple"]
        assert [len(r) for r in rows] == [100, 100] and rows[1][2] == 6 and rows[0][0] == 9
        seg.ensure_combined("/net/route/to", 10)
        seg.add_combined("/net/route/to", 1, 9, 3, 300)
        seg.add_combined("/net/route/to", 0, 9, 1, 64)
        assert s["/net/route/to"][:, 9].sum_packets() == 4 and s["/net/route/to"][:, 9].sum_octets() == 364
        with pytest.raises(IndexError):
            seg.add_simple("/test/simple", 2, 0)  # no thread 2
        with pytest.raises(IndexError):
            seg.add_simple("/test/simple", 0, 100)
        assert seg.length("/test/simple") == 100
    finally:
        s.disconnect()
        listener.close()
        seg.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_worker_threads_give_counter_rows(vppsim_factory, stats, lb_api):
    sim = vppsim_factory("--threads", "3", "--lb-api", lb_api)
    s = stats(sim)
    assert s["/sys/num_worker_threads"] == 2
    assert len(s["/net/route/to"]) == 3


# ------------------------------------------------------------------------- fault injection
def test_fault_restart(vppsim, connect, stats, lb_api):
    sim_only(vppsim)
    c = connect(read_timeout=3)
    other = connect("bystander", read_timeout=3)
    s_old = stats()
    boot_old = s_old["/sys/boottime"]
    pid = c.api.control_ping().vpe_pid
    assert c.api.lb_add_del_vip_v2(pfx=ip4_vip(lb_api, "192.0.2.1/32"), encap=0).retval == 0
    rv, text = cli(c, "sim fault restart")
    assert rv == 0 and text.startswith("sim fault: restart")
    for client in (c, other):
        with pytest.raises(VPPIOError):
            client.api.control_ping()
        with pytest.raises((VPPIOError, VppTransportSocketIOError)):
            client.api.control_ping()
        client.disconnect()
        client.connect("again")
    r = c.api.control_ping()
    assert r.retval == 0 and r.vpe_pid != pid
    assert c.api.lb_vip_dump() == []
    assert other.api.lb_vip_dump() == []
    # The old mapping still reads the old segment; a new connection gets the new one.
    assert s_old["/sys/boottime"] == boot_old
    s_new = stats()
    assert s_new["/sys/boottime"] > boot_old
    assert "first session packet" not in s_new.ls(".*")


def test_fault_stall(vppsim, connect):
    sim_only(vppsim)
    c = connect(read_timeout=10)
    rv, text = cli(c, "sim fault stall 300")
    assert rv == 0 and "300" in text
    t0 = time.monotonic()
    assert c.api.control_ping().retval == 0
    assert time.monotonic() - t0 >= 0.3
    assert cli(c, "sim fault clear")[0] == 0  # itself delayed, then clears
    t0 = time.monotonic()
    for _round in range(20):
        c.api.control_ping()
    assert time.monotonic() - t0 < 0.3 * 20 / 2


def test_fault_error_injection(vppsim, connect, lb_api):
    sim_only(vppsim)
    c = connect()
    rv, text = cli(c, "sim fault error lb_add_del_vip_v2 -81")
    assert rv == 0 and "lb_add_del_vip_v2" in text
    assert c.api.lb_add_del_vip_v2(pfx="2001:db8::1/128", encap=1).retval == -81
    assert c.api.lb_vip_dump() == []  # not executed
    assert c.api.lb_add_del_vip_v2(pfx="2001:db8::1/128", encap=1).retval == 0  # one-shot
    assert [str(d.vip.pfx) for d in c.api.lb_vip_dump()] == ["2001:db8::1/128"]
    if lb_api == REL:
        assert cli(c, "sim fault error lb_conf_get_51077d14 -7")[0] == -1  # no such message in 1.1.0
        assert cli(c, "sim fault error lb_conf_56cd3261 -7 count 2")[0] == 0
        assert [c.api.lb_conf(ip4_src_address="192.0.2.1", ip6_src_address="2001:db8::1").retval
                for _round in range(3)] == [-7, -7, 0]
    else:
        # name_crc form, a count, and a message with a payload in its reply
        assert cli(c, "sim fault error lb_conf_get_51077d14 -7 count 2")[0] == 0
        assert [c.api.lb_conf_get().retval for _round in range(3)] == [-7, -7, 0]
    # rejected: unknown message, a dump (no retval), malformed
    assert cli(c, "sim fault error no_such_msg -1")[0] == -1
    assert cli(c, "sim fault error lb_vip_dump -1")[0] == -1
    assert cli(c, "sim fault error lb_conf x")[0] == -1
    assert cli(c, "sim fault bogus")[0] == -1
    # clear disarms
    assert cli(c, "sim fault error control_ping -5")[0] == 0
    assert cli(c, "sim fault clear")[0] == 0
    assert c.api.control_ping().retval == 0


# ------------------------------------------------------------------------- lifecycle / versions
def test_sigterm_exits_cleanly_and_unlinks_sockets(vppsim_factory, lb_api):
    sim = vppsim_factory("--lb-api", lb_api)
    c = new_client(sim)
    c.connect("victim")
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(20) == 0
    assert not os.path.exists(sim.api_socket) and not os.path.exists(sim.stats_socket)
    with pytest.raises((VPPIOError, VppTransportSocketIOError)):
        c.api.control_ping()
    c.disconnect()


def test_lb_api_1_1_0_definitions():
    """The 1.1.0 message table and lb document leave out the 8 master-only messages."""
    from vpp_papi.vpp_papi import VPPApiJSONFiles

    from vppsim.handlers import ApiDefinitions

    rel, master = ApiDefinitions(lb_api_version="1.1.0"), ApiDefinitions()
    rel_names = {n for _index, n in rel.message_table}
    assert set(REL_CRCS) <= rel_names and not set(LB_MASTER_ONLY) & rel_names
    assert {n for _index, n in master.message_table} - rel_names == set(REAL_VPP_CRCS) - set(REL_CRCS)
    assert [i for i, _name in rel.message_table] == list(range(1, len(rel.message_table) + 1))
    lb = next(d for d in json.loads(rel.api_json) if d["module"] == "lb")
    assert lb["options"]["version"] == "1.1.0" and "lb_conf_get" not in lb["services"]
    messages, _services = VPPApiJSONFiles.process_json_array_str(rel.api_json)
    assert all(f"{n}_{m.crc[2:]}" in rel_names for n, m in messages.items())


# ------------------------------------------------------------------------- LB API 1.1.0 on the wire
# The recorded v26.06 outputs of vpp-facts Part 3 §4, reproduced through stock vpp_papi 2.4.2.
REL_COUNTERS_ZERO = (
    "  counters:\n    packet from existing sessions: 0\n    first session packet: 0\n"
    "    untracked packet: 0\n    no server configured: 0\n"
)
REL_VERBOSE = (  # §4.9, the repr of cli_inband's reply
    " ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky\n  new_size:1024\n" + REL_COUNTERS_ZERO + "  #as:3\n"
    "    10.0.0.1 342 buckets   0 flows  dpo:10 used\n"
    "    10.0.0.2 341 buckets   0 flows  dpo:11 used\n"
    "    10.0.0.3 341 buckets   0 flows  dpo:12 used\n\n"
    " ip6-gre6 [2] 2001:db8:100::10/128\n  new_size:1024\n" + REL_COUNTERS_ZERO + "  #as:2\n"
    "    2001:db8:200::1 512 buckets   0 flows  dpo:13 used\n"
    "    2001:db8:200::2 512 buckets   0 flows  dpo:14 used\n\n"
)


# LB API 1.1.0 behaviour that 1.2.0 fixed: these run on the 1.1.0 personality only.
rel_only = pytest.mark.parametrize("lb_api", [REL], indirect=True, ids=[f"lb-api-{REL}"])


def part3_scenario(c: VPPApiClient) -> None:
    """§4.9's state: lb_conf (§4.1), the two VIPs of §4.4 with 3 IPv4 + 2 IPv6 ASes."""
    v4 = {"address": "192.0.2.10", "len": 128}
    assert c.api.lb_conf(ip4_src_address="192.0.2.1", ip6_src_address="2001:db8::1",
                         sticky_buckets_per_core=1024, flow_timeout=40).retval == 0
    assert c.api.lb_add_del_vip_v2(pfx=v4, encap=0, src_ip_sticky=True).retval == 0
    assert c.api.lb_add_del_vip_v2(pfx="2001:db8:100::10/128", encap=1, src_ip_sticky=False).retval == 0
    for last in (1, 2, 3):
        assert c.api.lb_add_del_as(pfx=v4, as_address=f"10.0.0.{last}").retval == 0
    for last in (1, 2):
        assert c.api.lb_add_del_as(pfx="2001:db8:100::10/128", as_address=f"2001:db8:200::{last}").retval == 0


@rel_only
def test_rel_cli_text_is_v26_06s(vppsim, connect, lb_api):
    sim_only(vppsim)  # needs a fresh VPP (pool indexes, dpo numbers)
    c = connect()
    part3_scenario(c)
    assert cli(c, "show lb") == (0, "lb_main ip4-src-address: 192.0.2.1 \n ip6-src-address: 2001:db8::1 \n"
                                    " #vips: 3\n #ass: 5\n")
    assert cli(c, "show lb vips") == (0, "")
    assert cli(c, "show lb vips x") == (0, "ip4-gre4 192.0.2.10/32 new_size:1024 #as:3\n"
                                           "ip6-gre6 2001:db8:100::10/128 new_size:1024 #as:2\n")
    assert cli(c, "show lb vips verbose") == (0, REL_VERBOSE)
    assert c.api.lb_conf(sticky_buckets_per_core=1000, ip4_src_address="192.0.2.1",
                         ip6_src_address="2001:db8::1").retval == -70  # §4.1


@rel_only
def test_rel_details_are_v26_06s(vppsim, connect, lb_api):
    """§4.6 / §4.7: the details as stock vpp_papi decodes them (IPv6 VIPs and the ::/32 quirk)."""
    sim_only(vppsim)
    c = connect()
    assert c.api.lb_add_del_vip_v2(pfx="2001:db8:100::10/128", encap=1).retval == 0
    assert c.api.lb_add_del_vip_v2(pfx="192.0.2.10/32", encap=0).retval == 0  # -> ip6-gre4 ::/32 (§4.2)
    assert c.api.lb_add_del_vip_v2(pfx="192.0.2.51/32", encap=0).retval == -81  # the same ::/32 key
    assert c.api.lb_add_del_as(pfx="2001:db8:100::10/128", as_address="2001:db8:200::1").retval == 0
    assert cli(c, "show lb vips x")[1].splitlines()[1] == "ip6-gre4 ::/32 new_size:1024 #as:0"

    def body(d) -> str:
        """repr without message id and context, enum members as the record shows them (the class
        prefix in an enum's repr depends on the Python version)."""
        text = repr(d).split("context=", 1)[1].split(", ", 1)[1]
        return re.sub(r"<vl_api_\w+_t\.", "<", text)

    vips = c.api.lb_vip_dump()
    assert body(vips[0]) == (
        "vip=vl_api_lb_vip_t(pfx=IPv6Interface('2001:db8:100::10/128'), protocol=<IP_API_PROTO_HOPOPT: 0>, "
        "port=0), encap=<LB_API_ENCAP_TYPE_GRE4: 0>, dscp=<IP_API_DSCP_CS0: 0>, "
        "srv_type=<LB_API_SRV_TYPE_CLUSTERIP: 0>, target_port=0, flow_table_length=0)")
    assert str(vips[1].vip.pfx) == "0.0.0.0/32" and vips[1].encap == 1  # ip6-gre4 is internal type 1
    ases = c.api.lb_as_dump(pfx="2001:db8:100::10/128", protocol=255, port=0)
    assert [body(a) for a in ases] == [
        "vip=vl_api_lb_vip_t(pfx=IPv6Interface('2001:db8:100::10/128'), protocol=<IP_API_PROTO_HOPOPT: 0>, "
        "port=0), app_srv=IPv6Address('2001:db8:200::1'), flags=1, in_use_since=0)"]
    assert c.api.lb_as_dump(pfx="2001:db8:100::10/128") == []  # protocol has no default: 0 matches nothing


@rel_only
def test_rel_ipv4_vip_details_break_stock_vpp_papi(vppsim, connect, lb_api):
    """§4.2: an IPv4 VIP comes back as af=IP4 with len 128, which vpp_papi 2.4.2 cannot decode."""
    import ipaddress

    c = connect()
    assert c.api.lb_add_del_vip_v2(pfx={"address": "192.0.2.10", "len": 128}, encap=0).retval == 0
    with pytest.raises(ipaddress.NetmaskValueError, match="128"):
        c.api.lb_vip_dump()


@rel_only
@pytest.mark.parametrize(
    ("pfx", "encap", "retval"),
    [  # §4.3
        ({"address": "192.0.2.10", "len": 128}, 0, 0),
        ({"address": "192.0.2.10", "len": 128}, 1, -97),
        ({"address": "192.0.2.10", "len": 128}, 3, -97),
        ("2001:db8::10/128", 2, 0),  # silently ip6-gre6
    ],
)
def test_rel_encap_only_0_is_honoured(vppsim, connect, lb_api, pfx, encap, retval):
    c = connect()
    assert c.api.lb_add_del_vip_v2(pfx=pfx, encap=encap).retval == retval


@rel_only
def test_rel_has_no_weights(vppsim, connect, lb_api):
    c = connect()
    assert c.api.lb_add_del_vip_v2(pfx="2001:db8::10/128", encap=1).retval == 0
    with pytest.raises(VPPValueError, match="weight"):  # §4.5: papi refuses the keyword
        c.api.lb_add_del_as(pfx="2001:db8::10/128", as_address="2001:db8:1::1", weight=50)
    assert cli(c, "lb as 2001:db8::10/128 2001:db8:1::1 weight 50") == (
        -1, "lb as: parse error: 'weight 50'\n")


def test_lb_api_1_1_0_file_is_the_master_file_without_the_master_only_messages():
    """vppsim/api-1.1.0/lb.api.json must not drift from vppsim/api/lb.api.json."""
    from vppsim import api_dir_for
    from vppsim.handlers import LB_MASTER_ONLY as MASTER_ONLY_NAMES

    with open(os.path.join(api_dir_for("1.2.0"), "lb.api.json")) as f:
        master = json.load(f)
    with open(os.path.join(api_dir_for("1.1.0"), "lb.api.json")) as f:
        rel = json.load(f)
    expected = dict(master, messages=[m for m in master["messages"] if m[0] not in MASTER_ONLY_NAMES],
                    services={k: v for k, v in master["services"].items() if k not in MASTER_ONLY_NAMES},
                    options=dict(master["options"], version="1.1.0"),
                    vl_api_version="0x49e3c1c1")  # as a real v26.06 reports it
    assert rel == expected
    assert len(rel["messages"]) == 18
    for name in os.listdir(api_dir_for("1.1.0")):  # every other file is the master one
        if name != "lb.api.json":
            assert os.path.samefile(os.path.join(api_dir_for("1.1.0"), name), os.path.join(api_dir_for("1.2.0"), name))
