"""The simulator-only ``sim`` commands of the CLI (``sim traffic``, ``sim buckets``, ``sim gc``;
documented in :mod:`vppsim.cli`): not in VPP, they drive and show the simulated data plane.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vppsim.cli_input import (
    CliError,
    CliInput,
    ProtocolPortWords,
    format_unformat_error,
    parse_ip_interface,
    parse_network,
    take_vip,
)
from vppsim.lb_model import VIP_COUNTER_NAMES, SimError

if TYPE_CHECKING:
    from vppsim.lb import LbPlugin


def sim_traffic(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    target = inp.take_parsed(parse_ip_interface, "invalid vip prefix")
    words = ProtocolPortWords(signed_port=False)
    flows: int | None = None
    packets, seed, thread = 1, 0, 0
    src = None
    while not inp.at_end():
        if words.take(inp):
            pass
        elif (n := inp.take_int("flows", signed=False)) is not None:
            flows = n
        elif (n := inp.take_int("packets", signed=False)) is not None:
            packets = n
        elif (n := inp.take_int("seed", signed=False)) is not None:
            seed = n
        elif (n := inp.take_int("thread", signed=False)) is not None:
            thread = n
        elif (net := inp.take_value("src", parse_network)) is not None:
            src = net
        else:
            raise CliError(f"parse error: '{format_unformat_error(inp.rest())}'")
    if flows is None:
        raise CliError("flows <n> is required")
    try:
        res = p.simulate_traffic(target.ip, target.network.prefixlen, protocol=words.protocol, port=words.port,
                                 flows=flows, packets=packets, src=src, seed=seed, thread=thread)
    except SimError as e:
        raise CliError(str(e)) from None
    vip = p.vip(res.vip_index)
    shown = res.vip_text if res.vip_index else str(target.network)
    lines = [f"vip [{res.vip_index}] {shown} protocol:{res.protocol} port:{res.port} thread:{res.thread}"
             f" flows:{res.flows} packets:{res.packets}\n"]
    if res.dropped_by_fib:
        lines.append("  dropped: all-port NAT VIP has no lb node\n")
        out.append("".join(lines))
        return
    for i, name in enumerate(VIP_COUNTER_NAMES):
        lines.append(f"  {name}: {res.counters[i]}\n")
    if vip is not None and res.vip_index:
        for ai in vip.as_indexes():
            a = p.as_(ai)
            assert a is not None
            lines.append(f"  {a.text()} flows:{res.flows_per_as.get(ai, 0)}\n")
    lines.append(f"  drop flows:{res.flows_per_as.get(0, 0)}\n")
    out.append("".join(lines))


def sim_buckets(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    vip = take_vip(p, inp, signed_port=False)  # as lb flush vip finds it
    names = {0: "drop"}
    lines = [f"vip [{vip.index}] {vip.prefix_text()}"
             f"{f' protocol:{vip.protocol} port:{vip.port}' if vip.port else ''} new_size:{vip.new_len}\n"]
    for bucket, ai in enumerate(p.table(vip).buckets()):
        name = names.get(ai)
        if name is None:
            a = p.as_(ai)
            name = names[ai] = a.text() if a is not None else f"as[{ai}]"
        lines.append(f"  {bucket} {name}\n")
    out.append("".join(lines))


def sim_gc(p: LbPlugin, inp: CliInput, out: list[str]) -> None:
    if not inp.at_end():
        raise CliError(f"parse error: '{format_unformat_error(inp.rest())}'")
    res = p.garbage_collection(force=True)
    lines = [f"gc: freed {len(res.freed_ass)} as, {len(res.freed_vips)} vip\n"]
    lines += [f"  as [{ai}] {text} vip [{vi}]\n" for ai, text, vi in res.freed_ass]
    lines += [f"  vip [{vi}] {text}\n" for vi, text in res.freed_vips]
    out.append("".join(lines))
