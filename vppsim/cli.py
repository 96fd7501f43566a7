"""CLI of the simulated lb plugin, as ``cli_inband`` sees it: dispatch, the lb commands and their
text (the word-by-word input is :mod:`vppsim.cli_input`, the ``sim`` commands :mod:`vppsim.cli_sim`).

Commands (VPP master ``cli.c``; parsing follows its ``unformat`` loops):

* ``show lb`` / ``show lb vips`` / ``show lb vips verbose`` - byte-exact ``format_lb_main``,
  ``format_lb_vip`` and ``format_lb_vip_detailed``.
* ``lb conf [ip4-src-address A] [ip6-src-address A] [buckets N | buckets-log2 L] [timeout S]``
  (runs the global GC first).
* ``lb vip <prefix> [protocol tcp|udp port N] [encap gre4|gre6|l3dsr|nat4|nat6] [dscp N]
  [type clusterip|nodeport target_port N] [new_len N] [src_ip_sticky] [del]`` (global GC first;
  prints ``lb_vip_add ok <index>``).
* ``lb as <vip-prefix> [protocol tcp|udp port N] <addr>... [weight 0-100] [del] [flush]``
  (with ``weight``: add, and on VALUE_EXIST set the weight instead; 1.1.0 has no ``weight``
  and runs the global GC first).  Like VPP master (commit
  db44addb60c removed the call), it runs only the per-VIP (rate-limited) GC inside the
  add/delete, not the global pass.
* ``lb flush vip <prefix> [protocol tcp|udp port N]``, ``test lb flowtable flush``,
  ``lb set interface nat4|nat6 in local0 [del]`` (the simulator has no other interface).

Simulator-only commands (not in VPP):

* ``sim traffic <vip-prefix> [protocol tcp|udp] [port N] flows F [packets P] [src <prefix>]
  [seed S] [thread T]`` - see :meth:`vppsim.lb.LbPlugin.simulate_traffic`.  Reply::

      vip [1] 192.0.2.1/32 protocol:6 port:80 thread:0 flows:100 packets:500
        packet from existing sessions: 400
        first session packet: 100
        untracked packet: 0
        no server configured: 0
        198.51.100.11 flows:67
        198.51.100.12 flows:33
        drop flows:0

  The counter lines are this batch's packets; one ``<addr> flows:<n>`` line per AS of the VIP
  (pool order) counts this batch's flows steered to that AS (tracked or not), ``drop`` the
  flows that hit the drop AS.  When no per-port VIP matches, the header reads ``vip [0]``
  (VPP's placeholder VIP) with the prefix that was asked for; an all-port NAT VIP answers
  ``  dropped: all-port NAT VIP has no lb node`` after the header.
* ``sim buckets <vip-prefix> [protocol tcp|udp port N]`` - the VIP's new-flow table as VPP
  fills it (:mod:`vppsim.maglev`), one line per bucket: ``<bucket> <AS address>`` (``drop`` for
  the drop AS).  Reply::

      vip [1] 192.0.2.1/32 new_size:4
        0 198.51.100.11
        1 198.51.100.12
        2 198.51.100.11
        3 198.51.100.12

  A per-port VIP's header adds `` protocol:6 port:80`` after the prefix.
* ``sim gc`` - a full GC pass now (ignoring, and not resetting, the per-VIP 60 s rate limit;
  the 10 s and zero-reference rules for ASes still apply).  Reply::

      gc: freed 1 as, 1 vip
        as [3] 198.51.100.12 vip [1]
        vip [2] 192.0.2.5/32

Errors are VPP's: ``<command path>: <message>`` with retval -1; unknown words give
``<path>: unknown input `<rest>'`` (or ``unknown input `<rest>'`` at the top).  Only these
commands are known; commands are matched as whole words (VPP also accepts unique
abbreviations).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vppsim.cli_input import (
    IP_PROTOCOL_ANY,
    CliError,
    CliInput,
    ProtocolPortWords,
    format_unformat_error,
    i32,
    parse_ip4,
    parse_ip6,
    parse_ip46_address,
    parse_ip46_prefix,
    take_vip,
)
from vppsim.cli_sim import sim_buckets, sim_gc, sim_traffic
from vppsim.lb_model import (
    AS_FLAG_USED,
    COUNTER_NEXT,
    CRASH_ALL_PORT_NAT_AS,
    ENCAP_GRE4,
    ENCAP_GRE6,
    ENCAP_L3DSR,
    ENCAP_NAT4,
    ENCAP_NAT6,
    RV_INVALID_ARGUMENT,
    RV_NO_SUCH_ENTRY,
    RV_OK,
    RV_VALUE_EXIST,
    SRV_CLUSTERIP,
    SRV_NODEPORT,
    U32,
    VIP_COUNTER_NAMES,
    VIP_IP4_GRE4,
    VIP_IP4_GRE6,
    VIP_IP4_L3DSR,
    VIP_IP4_NAT4,
    VIP_IP6_GRE4,
    VIP_IP6_GRE6,
    VIP_IP6_NAT6,
    VIP_TYPE_NAMES,
    format_ip4,
    format_ip6,
    ip46_prefix_is_ip4,
    swap16,
)

if TYPE_CHECKING:
    from vppsim.lb import LbPlugin
    from vppsim.lb_model import Vip

_TOKEN = re.compile(r"\S+")
_NAT = (VIP_IP4_NAT4, VIP_IP6_NAT6)
_CN = VIP_COUNTER_NAMES


# --------------------------------------------------------------------------- text formats
def format_lb_main(p: LbPlugin) -> str:
    out = [
        f"lb_main ip4-src-address: {format_ip4(p.ip4_src)} \n",
        f" ip6-src-address: {format_ip6(p.ip6_src)} \n",
        f" #vips: {p.n_vips()}\n",
        f" #ass: {p.n_ass() - 1}\n",
    ]
    now = p.hash_now()
    tables = p.sticky_tables()
    for thread in range(p.n_threads):
        table = tables.get(thread)
        if table is not None:
            # lb_hash_size() is buckets_mask + 4 (sic), printed with %d.
            out.append(
                f"core {thread}\n  timeout: {i32(table.timeout)}s\n"
                f"  usage: {table.live_entries(now)} / {i32(table.mask + 4)}\n"
            )
    return "".join(out)


def _nat_suffix(vip: Vip) -> str:
    srv = "clusterip" if vip.srv_type == SRV_CLUSTERIP else "nodeport"
    # ntohs() of the host-order port (swapped) and of the network-order target port (correct).
    return f"type:{srv} port:{swap16(vip.port)} target_port:{vip.target_port}"


def format_lb_vip(p: LbPlugin, vip: Vip) -> str:
    """format_lb_vip (``show lb vips``), without the trailing newline."""
    s = (
        f"{VIP_TYPE_NAMES[vip.type]} {vip.prefix_text()} new_size:{vip.new_len}"
        f" #as:{vip.as_count()}{'' if vip.used else ' removed'}"
    )
    if vip.port != 0:
        s += f"  protocol:{vip.protocol} port:{vip.port} "
    if vip.type == VIP_IP4_L3DSR:
        s += f"  dscp:{vip.dscp}"
    elif vip.type in _NAT:
        s += " " + _nat_suffix(vip)
    return s


def format_lb_vip_detailed(p: LbPlugin, vip: Vip) -> str:
    """format_lb_vip_detailed (``show lb vips verbose``); ends with one newline."""
    out = [
        f" {VIP_TYPE_NAMES[vip.type]} [{vip.index}] {vip.prefix_text()}"
        f"{' src_ip_sticky' if vip.sticky else ''}{'' if vip.used else ' removed'}\n"
        f"  new_size:{vip.new_len}\n"
    ]
    if vip.port != 0:
        out.append(f"  protocol:{vip.protocol} port:{vip.port}\n")
    if vip.type == VIP_IP4_L3DSR:
        out.append(f"  dscp:{vip.dscp}\n")
    elif vip.type in _NAT:
        out.append("  " + _nat_suffix(vip))  # sic: no newline, "  counters:" follows on this line
    c = vip.counters
    out.append(
        f"  counters:\n    {_CN[0]}: {c[COUNTER_NEXT]}\n    {_CN[1]}: {c[COUNTER_NEXT + 1]}\n"
        f"    {_CN[2]}: {c[COUNTER_NEXT + 2]}\n    {_CN[3]}: {c[COUNTER_NEXT + 3]}\n"
        f"  #as:{vip.as_count()}\n"
    )
    counts = p.table(vip).counts()
    legacy = p.personality.as_line == "legacy"
    for ai in vip.as_slots:
        if ai is None:
            continue
        a = p.as_(ai)
        assert a is not None
        state = "used" if a.flags & AS_FLAG_USED else " removed"
        dpo = p.dpo_index(a)
        if legacy:
            buckets = counts.get(ai, 0)
            out.append(f"    {a.text()} {buckets} buckets   {a.refcount} flows  dpo:{dpo} {state}\n")
        else:
            out.append(
                f"    {a.text()} weight:{a.weight} buckets:{counts.get(ai, 0)} flows:{a.refcount}"
                f" dpo:{dpo} {state}\n"
            )
    return "".join(out)


# --------------------------------------------------------------------------- commands
def _show_lb(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    out.append(format_lb_main(p))


def _show_lb_vips(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    if inp.at_end() and not p.personality.show_vips_without_args:
        return
    verbose = inp.peek() == "verbose"
    for vip in p.vips():
        if vip.index == 0:
            continue  # the placeholder VIP is never shown
        if verbose:
            out.append(format_lb_vip_detailed(p, vip) + "\n")
        else:
            out.append(format_lb_vip(p, vip) + "\n")


def _lb_conf(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    if inp.at_end():
        return
    ip4, ip6 = p.ip4_src, p.ip6_src
    buckets, timeout = p.sticky_buckets, p.flow_timeout
    while not inp.at_end():
        if (v := inp.take_value("ip4-src-address", parse_ip4)) is not None:
            ip4 = v  # type: ignore[assignment]
        elif (v := inp.take_value("ip6-src-address", parse_ip6)) is not None:
            ip6 = v  # type: ignore[assignment]
        elif (n := inp.take_int("buckets")) is not None:
            buckets = n
        elif (n := inp.take_int("buckets-log2")) is not None:
            if n >= 32:
                raise CliError("buckets-log2 value is too high")
            buckets = 1 << n
        elif (n := inp.take_int("timeout")) is not None:
            timeout = n
        else:
            raise CliError(f"parse error: '{format_unformat_error(inp.rest())}'")
    p.garbage_collection()
    rv = p.set_conf(ip4, ip6, buckets, timeout)  # type: ignore[arg-type]
    if rv:
        raise CliError(f"lb_conf error {rv}")


_ENCAPS = {
    "gre4": ENCAP_GRE4, "gre6": ENCAP_GRE6, "l3dsr": ENCAP_L3DSR, "nat4": ENCAP_NAT4, "nat6": ENCAP_NAT6,
}


def _lb_vip(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    if inp.at_end():
        return
    prefix, plen = inp.take_parsed(parse_ip46_prefix, "invalid vip prefix")
    new_len, is_del, sticky = 1024, False, False
    words = ProtocolPortWords(signed_port=True)
    encap, dscp = ENCAP_GRE4, U32
    srv_type, target_port = SRV_CLUSTERIP, 0
    while not inp.at_end():
        if (n := inp.take_int("new_len")) is not None:
            new_len = n
        elif inp.take("del"):
            is_del = True
        elif inp.take("src_ip_sticky"):
            sticky = True
        elif words.take(inp):
            pass
        elif inp.peek() == "encap" and inp.peek(1) in _ENCAPS:
            encap = _ENCAPS[inp.peek(1)]  # type: ignore[index]
            inp.i += 2
        elif (n := inp.take_int("dscp")) is not None:
            dscp = n
        elif inp.take("type", "clusterip"):
            srv_type = SRV_CLUSTERIP
        elif inp.take("type", "nodeport"):
            srv_type = SRV_NODEPORT
        elif (n := inp.take_int("target_port")) is not None:
            target_port = n
        else:
            raise CliError(f"parse error: '{format_unformat_error(inp.rest())}'")
    # VPP leaves a per-port VIP's missing protocol uninitialised; such a VIP never matches traffic.
    protocol, port16 = words.vip_key(unset_protocol=IP_PROTOCOL_ANY)
    if encap != ENCAP_L3DSR and dscp != U32:
        raise CliError("lb_vip_add error: should not configure dscp for none L3DSR.")
    if encap == ENCAP_L3DSR and dscp >= 64:
        raise CliError("lb_vip_add error: dscp for L3DSR should be less than 64.")
    if ip46_prefix_is_ip4(prefix, plen):
        if encap == ENCAP_NAT6:
            raise CliError("currently does not support NAT46")
        vtype = {ENCAP_GRE4: VIP_IP4_GRE4, ENCAP_GRE6: VIP_IP4_GRE6, ENCAP_L3DSR: VIP_IP4_L3DSR,
                 ENCAP_NAT4: VIP_IP4_NAT4}[encap]
    else:
        if encap == ENCAP_NAT4:
            raise CliError("currently does not support NAT64")
        # ip6 + l3dsr leaves the type uninitialised in VPP; use ip6-gre6 like the API does.
        vtype = {ENCAP_GRE4: VIP_IP6_GRE4, ENCAP_NAT6: VIP_IP6_NAT6}.get(encap, VIP_IP6_GRE6)
    p.garbage_collection()
    if not is_del:
        nat = encap in (ENCAP_NAT4, ENCAP_NAT6)
        rv, index = p.add_vip(prefix, plen, protocol, port16, vtype,
                              dscp & 0x3F if encap == ENCAP_L3DSR else 0,
                              srv_type if nat else 0, target_port & 0xFFFF if nat else 0,
                              new_len, sticky)
        if rv:
            raise CliError(f"lb_vip_add error {rv}")
        out.append(f"lb_vip_add ok {index}\n")
        return
    vip = p.find_vip(prefix, plen, protocol, port16)
    if vip is None:
        raise CliError(f"lb_vip_find_index error {RV_NO_SUCH_ENTRY}")
    rv = p.del_vip(vip)
    if rv:
        raise CliError(f"lb_vip_del error {rv}")


def _lb_as(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    if inp.at_end():
        return
    prefix, plen = inp.take_parsed(parse_ip46_prefix, "invalid as address")
    addresses: list[int] = []
    weight: int | None = None
    is_del = flush = False
    words = ProtocolPortWords(signed_port=True)
    while not inp.at_end():
        if (a := parse_ip46_address(inp.peek())) is not None:
            addresses.append(a)
            inp.i += 1
        elif p.personality.weights and (n := inp.take_int("weight", signed=False)) is not None:
            weight = n  # 1.1.0 has no weights: there the keyword is a parse error
        elif inp.take("del"):
            is_del = True
        elif inp.take("flush"):
            flush = True
        elif not words.take(inp):
            raise CliError(f"parse error: '{format_unformat_error(inp.rest())}'")
    if weight is not None:
        if weight > 100:
            raise CliError("weight must be between 0 and 100")
        if is_del:
            raise CliError("weight and del are mutually exclusive")
    vip = p.find_vip(prefix, plen, *words.vip_key(unset_protocol=0))
    if vip is None:
        raise CliError(f"lb_vip_find_index error {RV_NO_SUCH_ENTRY}")
    if not addresses:
        raise CliError("No AS address provided")
    if p.personality.cli_lb_as_runs_gc:
        p.garbage_collection()
    if is_del:
        rv = p.del_ass(vip, addresses, flush)
        if rv:
            raise CliError(f"lb_vip_del_ass error {rv}")
    elif weight is not None:
        rv = p.add_ass(vip, addresses, weight, flush)
        if rv == RV_VALUE_EXIST:
            for addr in addresses:
                rv = p.set_as_weight(vip, addr, weight, flush)
                if rv:
                    raise CliError(f"lb_vip_set_as_weight error {rv}")
        elif rv:
            raise CliError(_add_ass_error(vip, rv))
    else:
        rv = p.add_ass(vip, addresses, 100, flush)
        if rv:
            raise CliError(_add_ass_error(vip, rv))


def _add_ass_error(vip, rv: int) -> str:
    """The error text of a refused AS add; a refused crash trigger says so."""
    if rv == RV_INVALID_ARGUMENT and vip.type in (VIP_IP4_NAT4, VIP_IP6_NAT6) and vip.port == 0:
        return f"lb_vip_add_ass error {rv}: {CRASH_ALL_PORT_NAT_AS}"
    return f"lb_vip_add_ass error {rv}"


def _lb_flush_vip(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    if inp.at_end():
        return
    vip = take_vip(p, inp, signed_port=True)
    p.flush_entries(vip.index, None)
    out.append(f"lb_flush_vip ok {vip.index}\n")


def _flowtable_flush(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    p.flush_entries(None, None)


def _lb_set_interface_nat(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    while not inp.at_end():
        if inp.take("in", "local0") or inp.take("del"):
            continue
        raise CliError(f"unknown input '{format_unformat_error(inp.rest())}'")


# word -> subtree; the "" key holds the command function of that path.
_TREE: dict[str, object] = {
    "show": {"lb": {"": _show_lb, "vips": {"": _show_lb_vips}}},
    "lb": {
        "conf": {"": _lb_conf},
        "vip": {"": _lb_vip},
        "as": {"": _lb_as},
        "flush": {"vip": {"": _lb_flush_vip}},
        "set": {"interface": {"nat4": {"": _lb_set_interface_nat}, "nat6": {"": _lb_set_interface_nat}}},
    },
    "test": {"lb": {"flowtable": {"flush": {"": _flowtable_flush}}}},
    "sim": {"traffic": {"": sim_traffic}, "buckets": {"": sim_buckets}, "gc": {"": sim_gc}},
}


def _dispatch(p: LbPlugin, line: str, out: list[str]) -> str | None:
    """Run one command line; returns VPP's error text, or None on success."""
    matches = list(_TOKEN.finditer(line))
    node: dict[str, object] = _TREE
    path: list[str] = []
    i = 0
    while i < len(matches) and matches[i].group() in node:
        node = node[matches[i].group()]  # type: ignore[assignment]
        path.append(matches[i].group())
        i += 1
    fn = node.get("")
    rest = line[matches[i].start():] if i < len(matches) else ""
    if fn is None:
        if path:
            return f"{' '.join(path)}: unknown input `{format_unformat_error(rest)}'"
        return f"unknown input `{format_unformat_error(rest)}'"
    inp = CliInput(line, matches[i:])
    try:
        fn(p, inp, out)  # type: ignore[operator]
    except CliError as e:
        return f"{' '.join(path)}: {e}"
    return None


def run_cli(p: LbPlugin, cmd: str) -> tuple[int, str]:
    """Execute ``cmd`` (one command per line) like cli_inband: (retval, reply text), under the
    plugin's lock, so that a command sees and leaves one consistent state."""
    out: list[str] = []
    with p.lock:
        for line in cmd.splitlines() or [""]:
            if not line.strip():
                continue
            error = _dispatch(p, line, out)
            if error is not None:
                out.append(error + "\n")  # vlib_cli_output adds the newline
                return -1, "".join(out)
    return RV_OK, "".join(out)
