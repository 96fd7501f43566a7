# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the maglev.vpp modules return and warn: result values (gathered facts, rendered
commands, the agent view, capabilities, before/after), recreate and dropped-AS warnings, and the
blast radius as diff text. No Ansible import: ``module`` is only asked to ``warn`` and for its
``params`` and ``check_mode``; lb_module runs the flow that calls these.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import (
    agent_state,
    blast,
    compose,
    facts,
    model,
    planner,
    schema,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient

# ---------------------------------------------------------------------------------------------
# Result values


def render_facts(module, state: model.LbState) -> Dict[str, Any]:
    """``state`` as a maglev_lb object; what the schema would refuse in it becomes a warning."""
    rendered = facts.render_maglev_lb(state)
    for problem in schema.validate(rendered):
        module.warn(f"VPP holds something maglev_lb cannot declare (it cannot be fed back as config): {problem}")
    return rendered


def render_commands(want: model.LbState, lb_api_version: str = "1.2.0") -> Dict[str, Any]:
    """What building ``want`` on a freshly started VPP of that LB API generation takes (default
    lb_conf, no VIPs): VPP CLI lines, and their reasons in the same order."""
    as_weights = lb_api_version != "1.1.0"
    empty = model.LbState(conf=model.LbConf())
    ops = planner.plan(want, empty, as_weights=as_weights)
    after = compose.predict_after(want, empty, prune_vips=False, as_weights=as_weights)
    return dict(rendered=[op.describe(as_weights) for op in ops], reasons=[op.reason for op in ops],
                blast_radius=blast.plan_blast_radius(empty, after, "1.2.0" if as_weights else "1.1.0"))


def agent_view_result(module, view: agent_state.AgentView) -> Dict[str, Any]:
    """The agent view as a result value (the ``agent`` return key)."""
    return {
        "path": module.params["agent_state"],
        "used": view.health is not None,
        "reason": view.reason,
        "written_at": view.written_at,
        "health": dict(sorted(view.health.items())) if view.health is not None else None,
        "running": view.fresh,
        "unreleased": sorted(view.unreleased),
        "config_digest": view.config.whole if view.config is not None else None,
        # runtime inputs of the weights per frontend and backend (slow start, overrides, drains)
        "adjustments": {
            frontend: {name: {"override": a.override, "ramp": a.ramp, "draining": a.draining}
                       for name, a in sorted(members.items())}
            for frontend, members in sorted(view.adjustments.items())
        },
    }


def capabilities_result(client: VppLbClient) -> Dict[str, Any]:
    caps = client.capabilities
    return dataclasses.asdict(caps) if caps is not None else {}


def vip_view(key: model.VipKey) -> Callable[[model.LbState], Optional[Dict[str, Any]]]:
    """A ``view`` for converge: just the VIP ``key`` of a state (None when absent)."""

    def view(state: model.LbState) -> Optional[Dict[str, Any]]:
        vip = state.vips.get(key)
        if vip is None:
            return None
        return state_result(model.LbState(vips={key: vip}))["vips"][str(key)]

    return view


def state_result(state: model.LbState) -> Dict[str, Any]:
    """The before/after value of results and --diff: configuration only, no runtime data."""
    return facts.state_to_dict(state, runtime=False)


# ---------------------------------------------------------------------------------------------
# Warnings and diff text of a plan


def recreate_warnings(want: model.LbState, actual: model.LbState, check_mode: bool) -> List[str]:
    """One warning per VIP that must be deleted and re-added, naming the changed fields."""
    warnings = []
    for key in sorted(set(want.vips) & set(actual.vips), key=model.VipKey.sort_key):
        vip = want.vips[key]
        fields = vip.spec.differences(actual.vips[key].spec)
        if not fields:
            continue
        label = f"VIP {key}" + (f" (frontend {vip.name})" if vip.name else "")
        changes = ", ".join(
            f"{name} {_plain(getattr(actual.vips[key].spec, name))} -> {_plain(getattr(vip.spec, name))}"
            for name in fields
        )
        verb = "would be" if check_mode else "was"
        warnings.append(
            f"{label} {verb} recreated because {', '.join(fields)} changed ({changes}); VPP cannot change"
            f" {'it' if len(fields) == 1 else 'them'} on a live VIP, so its ASes are deleted with flush and the"
            " VIP is deleted and added back: its existing sessions break"
        )
    return warnings


def warn_dropped_ases(module, want: model.LbState, actual: model.LbState) -> None:
    """Warn about live ASes a recreate drops because their family does not fit the new encap."""
    for key, addresses in compose.dropped_ases(want, actual).items():
        vip = want.vips[key]
        label = f"VIP {key}" + (f" (frontend {vip.name})" if vip.name else "")
        family = model.ENCAP_AS_FAMILY[vip.spec.encap]
        verb = "would drop" if module.check_mode else "drops"
        module.warn(
            f"{label} {verb} AS{'es' if len(addresses) > 1 else ''} {', '.join(addresses)}: encap"
            f" {vip.spec.encap} takes IPv{family} ASes only, so the recreate cannot add"
            f" {'them' if len(addresses) > 1 else 'it'} back (declare ASes of the new family)"
        )


def blast_text(report: List[Dict[str, Any]]) -> str:
    """The blast radius as text for --diff: per changed VIP its summary and each AS's share."""
    lines = ["blast radius: share of each VIP's new flows per AS, before -> after"]
    dropped = "(dropped: no AS)"
    for entry in report:
        lines.append(f"  {entry['summary']}")
        before, after = entry["before"], entry["after"]
        addresses = sorted(set(before) | set(after), key=model.address_sort_key)
        width = max([len(dropped)] + [len(address) for address in addresses])
        for address in addresses:
            lines.append(f"    {address:<{width}} {_share(before.get(address)):>7} -> {_share(after.get(address))}")
        drop = entry["drop"]
        if drop["before"] or drop["after"]:
            lines.append(f"    {dropped:<{width}} {_share(drop['before']):>7} -> {_share(drop['after'])}")
    if len(lines) == 1:
        lines.append("  no VIP's new-flow distribution changes")
    return "\n".join(lines) + "\n"


def _share(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _plain(value: Any) -> str:
    """A spec value as an operator writes it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
