"""maglevctl's human output: the status API's JSON documents as aligned tables and key/value blocks.

Pure: every function takes the decoded JSON (and ``now`` for ages) and returns lines. Colour is
a ``Style``; maglevctl enables it only when stdout is a terminal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..plugins.module_utils.vpp_lb import weights

STATE_COLOURS = {"up": "32", "down": "31", "paused": "33", "disabled": "33", "unknown": "90", "removed": "90"}


@dataclass(frozen=True)
class Style:
    colour: bool = False

    def paint(self, text: str, code: Optional[str]) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text

    def state(self, state: Optional[str]) -> str:
        text = state or "-"
        return self.paint(text, STATE_COLOURS.get(text))

    def error(self, text: str) -> str:
        return self.paint(text, "31")


PLAIN = Style()
UNKNOWN_SINCE_WRITE = "-: not in VPP's last dump (the agent wrote since, or VPP lacks it); sync vpp lb state reads anew"


def host_prefix(prefix: str) -> str:
    """A VIP prefix as people write it: host routes without /32 and /128."""
    return prefix.rsplit("/", 1)[0] if prefix.endswith(("/32", "/128")) else prefix


def vip_text(item: Dict[str, Any]) -> str:
    """``192.0.2.1 tcp/80``; an all-port VIP is its prefix alone."""
    prefix = host_prefix(item["prefix"])
    if not item.get("port"):
        return prefix
    return f"{prefix} {item['protocol']}/{item['port']}"


def duration(seconds: Optional[float]) -> str:
    """Compact: 0.25s, 12s, 5m03s, 2h05m, 3d04h."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.2g}s" if seconds < 1 else f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def age(at: Optional[float], now: float) -> str:
    return "-" if at is None else duration(now - at) + " ago"


def timestamp(at: Optional[float]) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


def _visible(text: str) -> int:
    """Length without colour escapes."""
    length, skipping = 0, False
    for char in text:
        if char == "\x1b":
            skipping = True
        elif skipping:
            skipping = char != "m"
        else:
            length += 1
    return length


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> List[str]:
    """Left-aligned columns two spaces apart; cells may carry colour."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(_visible(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell + " " * (widths[i] - _visible(cell)) for i, cell in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return lines


def pairs(items: Sequence[Sequence[Any]]) -> List[str]:
    """``key: value`` lines with the values aligned."""
    width = max((len(k) for k, _unused in items), default=0) + 1
    return [f"{k + ':':{width}} {'-' if v is None else v}" for k, v in items]


def _yes(flag: Any) -> str:
    return "yes" if flag else "no"


def _weight(value: Optional[int]) -> str:
    return "-" if value is None else str(value)


# -- the agent ------------------------------------------------------------------------------------


def version(agent: Dict[str, Any], ctl_version: str, now: float) -> List[str]:
    return pairs([
        ("maglev-agent", agent["version"]),
        ("maglevctl", ctl_version),
        ("pid", agent["pid"]),
        ("started", f"{timestamp(agent['started_at'])} (up {duration(now - agent['started_at'])})"),
        ("config", agent["config_path"]),
        ("config loaded", f"{timestamp(agent['config_loaded_at'])} ({age(agent['config_loaded_at'], now)})"),
        *_reload_lines(agent, now),
        ("warm-up", agent["warmup"] + _held(agent.get("warmup_held"))),
        *_blind_lines(agent.get("blind"), now),
        ("frontends", agent["frontends"]),
        ("backends", agent["backends"]),
        ("vpp connected", _yes(agent["vpp_connected"])),
        ("event streams", agent["event_streams"]),
    ])


def _reload_lines(agent: Dict[str, Any], now: float) -> List[Tuple[str, Any]]:
    lines: List[Tuple[str, Any]] = []
    mtime = agent.get("config_file_mtime")
    if mtime is not None and mtime > agent["config_loaded_at"]:
        lines.append(("config file", f"changed {age(mtime, now)}, after the last load: not loaded yet"))
    last = agent.get("last_reload")
    if last and not last["ok"]:
        lines.append(("last reload", f"FAILED {age(last['at'], now)}: {last['error']} (the old config runs on)"))
    return lines


def _held(held: Optional[List[str]]) -> str:
    return f" (held: {', '.join(held)}: VPP keeps their weights)" if held else ""


def _blind_lines(blind: Optional[Dict[str, Any]], now: float) -> List[Tuple[str, Any]]:
    if not blind:
        return []
    return [("BLIND", f"cannot probe {len(blind['backends'])} backend(s) since {age(blind['since'], now)}: "
                      f"{blind['detail']} ({blind['code']}); their states and VPP weights are frozen")]


# -- frontends ------------------------------------------------------------------------------------


def frontends(items: List[Dict[str, Any]], style: Style = PLAIN, vpp: Optional[Dict[str, Any]] = None) -> List[str]:
    """The frontends table; ``vpp`` (the API's /vpp answer), when given and not connected, turns
    SERVING into "no VPP" with a first line saying why: the planned weights reach no data plane."""
    connected = vpp is None or vpp.get("connected", True)
    rows = []
    for fe in items:
        members = [m for p in fe["pools"] for m in p["members"]]
        serving = sum(1 for m in members if m["effective_weight"] > 0)
        rows.append([fe["name"], vip_text(fe), fe["encap"], style.state(fe["state"]), fe["active_pool"],
                     f"{serving}/{len(members)}" if connected else "no VPP", fe.get("description") or ""])
    lines = table(["FRONTEND", "VIP", "ENCAP", "STATE", "ACTIVE POOL", "SERVING", "DESCRIPTION"], rows)
    if connected:
        return lines
    note = style.error(f"VPP is not connected ({vpp.get('api_socket')}): the agent can neither see "
                       "nor set VPP's weights; STATE is backend health only (show vpp info)")
    return [note] + lines


def _member_notes(m: Dict[str, Any]) -> str:
    notes = []
    if m.get("override") is not None:
        notes.append(f"override {m['override']}")
    if m.get("ramp") is not None:
        notes.append(f"slow start {m['ramp'] * 100:.0f}%")
    if m.get("draining"):
        notes.append("draining")
    if m.get("flush"):
        notes.append("flush")
    return ", ".join(notes)


def percent(value: Optional[float]) -> str:
    """A fraction 0..1 as a percentage, one decimal only when it is not whole: 0.84 -> "84%"."""
    if value is None:
        return "-"
    text = f"{value * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def _spill_text(fe: Dict[str, Any]) -> str:
    spill = fe.get("spill")
    return "off (all or nothing)" if not spill else f"overprovisioning {spill['overprovisioning']:g}"


def pool_shares(fe: Dict[str, Any]) -> List[str]:
    """Per pool its share of new flows: healthy fraction, health under spill (x overprovisioning,
    capped), share, and what it left to the pools after it (``weights.shows_pool_shares`` says
    when); the numbers are the agent's weights.pool_shares."""
    pools = fe["pools"]
    if not weights.shows_pool_shares(fe.get("spill") is not None, (p.get("share") for p in pools)):
        return []
    rows = [[p["name"], percent(p.get("healthy_fraction")), percent(p.get("health")), percent(p.get("share")),
             percent(p.get("spilled"))] for p in pools]
    return [""] + table(["POOL", "HEALTHY", "HEALTH", "SHARE", "SPILLED ON"], rows)


def frontend(fe: Dict[str, Any], style: Style = PLAIN) -> List[str]:
    items = [
        ("frontend", fe["name"]),
        ("vip", vip_text(fe)),
        ("state", style.state(fe["state"])),
        ("active pool", fe["active_pool"]),
        ("spill", _spill_text(fe)),
        ("encap", fe["encap"]),
        ("src ip sticky", _yes(fe["src_ip_sticky"])),
        ("flush on down", _yes(fe["flush_on_down"])),
        ("new flows table", fe["new_flows_table_length"]),
        ("table digest", fe.get("table_digest") or "-"),
    ]
    if fe.get("slow_start"):
        items.append(("slow start", duration(fe["slow_start"])))
    if fe.get("drain_timeout"):
        items.append(("drain timeout", duration(fe["drain_timeout"])))
    if not fe.get("released", True):
        items.append(("warm-up", "held (the agent does not write this VIP yet)"))
    if fe.get("description"):
        items.append(("description", fe["description"]))
    rows = []
    for pool in fe["pools"]:
        for m in pool["members"]:
            rows.append([pool["name"], m["backend"], m["address"], style.state(m["state"]), m["configured_weight"],
                         m["effective_weight"], _weight(m["buckets"]), _member_notes(m)])
    lines = pairs(items) + pool_shares(fe) + [""] + table(
        ["POOL", "BACKEND", "ADDRESS", "STATE", "WEIGHT", "EFFECTIVE", "BUCKETS", "NOTES"], rows)
    if any(m["buckets"] is None for pool in fe["pools"] for m in pool["members"]):
        lines += ["", "buckets " + UNKNOWN_SINCE_WRITE]
    return lines


# -- backends -------------------------------------------------------------------------------------


def _result_text(result: Optional[Dict[str, Any]]) -> str:
    if not result:
        return "-"
    text = f"{'ok' if result['ok'] else 'fail'} {result['code']}"
    return f"{text} {result['detail']}" if result.get("detail") else text


def backends(items: List[Dict[str, Any]], now: float, style: Style = PLAIN) -> List[str]:
    rows = [[b["name"], b["address"], style.state(b["state"]), age(b["since"], now), b["healthcheck"] or "-",
             _result_text(b["last_result"]), ",".join(b["frontends"]) or "-"] for b in items]
    return table(["BACKEND", "ADDRESS", "STATE", "SINCE", "CHECK", "LAST RESULT", "FRONTENDS"], rows)


def backend(b: Dict[str, Any], now: float, style: Style = PLAIN) -> List[str]:
    result = b["last_result"]
    items = [
        ("backend", b["name"]),
        ("address", b["address"]),
        ("state", style.state(b["state"]) + _source_text(b)),
        ("since", f"{timestamp(b['since'])} ({age(b['since'], now)})"),
        ("healthcheck", b["healthcheck"] or "none (always up)"),
    ]
    if b["healthcheck"]:
        items.append(("counter", f"{b['counter']} (rise {b['rise']}, fall {b['fall']})"))
        items.append(("last result", _result_text(result)))
        if result:
            items.append(("last probe", f"{age(result['at'], now)}, took {duration(result['duration'])}"))
    items.append(("frontends", ", ".join(b["frontends"]) or "-"))
    if b.get("description"):
        items.append(("description", b["description"]))
    rows = [[timestamp(t["at"]), style.state(t["from"]), style.state(t["to"]), t["code"], t["detail"]]
            for t in reversed(b["history"])]
    return pairs(items) + ["", "history (newest first):"] + table(["AT", "FROM", "TO", "CODE", "DETAIL"], rows)


def _source_text(b: Dict[str, Any]) -> str:
    """Where the state comes from: the config, an operator (now or before a restart), the probes."""
    if not b["enabled"]:
        return " (enabled: false in the config)"
    source = b.get("source")
    if source == "operator":
        return " (set by an operator)"
    if source == "persisted":
        return " (set by an operator before the agent restarted; kept until resume/enable)"
    blind = b.get("blind")
    if blind:
        return f" (frozen: the agent cannot probe it: {blind['detail']})"
    return ""


# -- health checks --------------------------------------------------------------------------------


def healthchecks(items: List[Dict[str, Any]]) -> List[str]:
    rows = [[c["name"], c["type"], c["port"], duration(c["interval"]), duration(c["fast_interval"]),
             duration(c["down_interval"]), duration(c["timeout"]), c["rise"], c["fall"], len(c["backends"])]
            for c in items]
    return table(["CHECK", "TYPE", "PORT", "INTERVAL", "FAST", "DOWN", "TIMEOUT", "RISE", "FALL", "BACKENDS"], rows)


def healthcheck(c: Dict[str, Any]) -> List[str]:
    items = [("healthcheck", c["name"]), ("type", c["type"]), ("port", c["port"])]
    for key in ("interval", "fast_interval", "down_interval", "timeout"):
        items.append((key.replace("_", " "), duration(c[key])))
    items += [("rise", c["rise"]), ("fall", c["fall"])]
    if c.get("source_address"):
        items.append(("source address", c["source_address"]))
    if c["type"] in ("http", "https"):
        items += [("method", c["method"]), ("path", c["path"]), ("host", c["host"]),
                  ("expect status", ", ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in c["expect_status"])),
                  ("body regex", c["body_regex"])]
        for name, value in c["headers"]:
            items.append(("header", f"{name}: {value}"))
    if c["type"] == "https":
        items += [("tls server name", c["tls_server_name"]), ("tls insecure", _yes(c["tls_insecure"])),
                  ("tls ca file", c["tls_ca_file"]), ("tls client cert", c["tls_client_cert"])]
    items.append(("backends", ", ".join(c["backends"]) or "-"))
    return pairs(items)


# -- VPP ------------------------------------------------------------------------------------------


def vpp_info(v: Dict[str, Any], now: float, style: Style = PLAIN) -> List[str]:
    connected = style.paint("yes", "32") if v["connected"] else style.paint("no", "31")
    items = [("connected", connected), ("api socket", v["api_socket"])]
    if v["connected"]:
        booted = v["boottime"]
        items += [
            ("version", v["version"]),
            ("pid", v["pid"]),
            ("boot time", f"{timestamp(booted)} (up {duration(now - booted)})" if booted else None),
            ("connected since", f"{timestamp(v['connected_since'])} ({age(v['connected_since'], now)})"),
            ("lb api", v["lb_api_version"]),
        ]
    items += [("warm-up", v["warmup"]), ("last full sync", age(v["last_full_sync"], now)),
              ("sync errors", v["sync_errors"])]
    for scope, kinds in v.get("mutations", {}).items():
        items.append((f"writes ({scope})", ", ".join(f"{k} {n}" for k, n in kinds.items())))
    return pairs(items)


def lb_state(state: Dict[str, Any]) -> List[str]:
    lines: List[str] = []
    conf = state["conf"]
    if conf:
        lines += pairs([("ip4 src address", conf["ip4_src_address"]), ("ip6 src address", conf["ip6_src_address"]),
                        ("sticky buckets per core", conf["sticky_buckets_per_core"]),
                        ("flow timeout", f"{conf['flow_timeout']}s")])
    if not state["vips"]:
        return lines + ["", "no VIPs"]
    for vip in state["vips"]:
        owner = f"frontend {vip['frontend']}" if vip["frontend"] else "not in the agent's config"
        sticky = ", src-ip-sticky" if vip["src_ip_sticky"] else ""
        lines += ["", f"vip {vip_text(vip)}  encap {vip['encap']}{sticky}  index {_weight(vip['index'])}"
                      f"  table {vip['new_flows_table_length']}  ({owner})"]
        rows = [["  " + a["address"], a["weight"], _weight(a["buckets"]), _weight(a["flows"])] for a in vip["ases"]]
        lines += table(["  AS", "WEIGHT", "BUCKETS", "FLOWS"], rows) if rows else ["  no ASes"]
    if any(a["buckets"] is None for vip in state["vips"] for a in vip["ases"]):
        lines += ["", UNKNOWN_SINCE_WRITE]
    return lines


def counters(data: Dict[str, Any]) -> List[str]:
    if data["at"] is None:
        return ["no counters read yet"]
    rows = [[vip_text(v), v["frontend"] or "-", v["first_packets"], v["next_packets"], v["untracked_packets"],
             v["no_server_packets"], v["route_packets"], v["route_bytes"]] for v in data["vips"]]
    return table(["VIP", "FRONTEND", "FIRST", "NEXT", "UNTRACKED", "NO-SERVER", "FIB-PACKETS", "FIB-BYTES"], rows)


# -- actions and events ---------------------------------------------------------------------------


def _vpp_note(answer: Dict[str, Any]) -> str:
    return "" if answer.get("vpp_synced") else " (VPP not updated yet: not connected or still syncing)"


def backend_action(answer: Dict[str, Any], style: Style = PLAIN) -> List[str]:
    t = answer["transition"]
    return [f"backend {answer['backend']}: {style.state(t['from'])} -> {style.state(t['to'])}{_vpp_note(answer)}"]


def weight_set(answer: Dict[str, Any]) -> List[str]:
    return [f"frontend {answer['frontend']} pool {answer['pool']} backend {answer['backend']}: "
            f"weight {answer['weight']}{_vpp_note(answer)}"]


def config_check(answer: Dict[str, Any]) -> List[str]:
    return list(answer["messages"]) or [answer["result"]]


def config_reload(answer: Dict[str, Any]) -> List[str]:
    return [f"reloaded {answer['path']}: {answer['frontends']} frontends, {answer['backends']} backends, "
            f"{answer['healthchecks']} healthchecks{_vpp_note(answer)}"]


def synced(answer: Dict[str, Any]) -> List[str]:
    errors = answer.get("sync_errors") or 0
    return ["VPP LB state synced" + (f" (sync errors so far: {errors})" if errors else "")]


def event(e: Dict[str, Any], style: Style = PLAIN) -> str:
    kind = e.get("type")
    if kind == "backend":
        when = timestamp(e.get("at"))
        what = "state" if e.get("snapshot") else f"{style.state(e['from'])} ->"
        detail = "" if e.get("snapshot") else f" ({e.get('code')}{': ' + e['detail'] if e.get('detail') else ''})"
        return f"{when} backend {e['backend']} {what} {style.state(e['to'])}{detail}"
    if kind == "frontend":
        what = "state" if e.get("snapshot") else f"{style.state(e['from'])} ->"
        return f"{timestamp(e.get('at'))} frontend {e['frontend']} {what} {style.state(e['to'])}"
    if kind == "log":
        fields = " ".join(f"{k}={v}" for k, v in e.items() if k not in ("type", "time", "level", "event"))
        return f"{e.get('time', '-')} log {e.get('level')} {e.get('event')} {fields}".rstrip()
    if kind == "overflow":
        return style.error(f"... {e.get('dropped')} events dropped (this client did not keep up)")
    return str(e)
