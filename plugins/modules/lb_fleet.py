#!/usr/bin/python
# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lb_fleet
short_description: Check that the routers announcing the same VIPs hold the same Maglev tables
description:
  - Several routers announce the same VIPs (ECMP). When ECMP rehashes a flow to another router, that
    router's Maglev table must pick the same AS or the connection breaks. This module compares what
    M(maglev.vpp.lb_facts) gathered on each host of a group and fails naming the VIPs and hosts that
    differ and how.
  - Per VIP it compares the AS set, each AS's weight, the table length and the other VIP settings that
    shape the table or the hash (C(encap), C(src_ip_sticky), C(dscp), C(srv_type), C(target_port)),
    the table digest when lb_facts reports one (C(table_digest)), and C(lb_conf).
  - Each difference is V(transient) when the hosts' agents explain it (a backend seen down by one router
    only, a slow-start ramp, a drain, a frontend not released yet after start-up) and V(drift)
    otherwise. Weight differences need each host's C(maglev_lb) to map addresses to backend names and the
    lb_facts V(agent) subset; without them they count as drift.
  - Does not contact VPP; run it once (C(run_once), C(delegate_to) localhost) after lb_facts ran on every
    host. C(playbooks/fleet_check.yml) does exactly that.
version_added: 0.2.0
author:
  - maglev.vpp developers (@maglev-vpp)
options:
  states:
    description:
      - Per host name, its C(maglev_lb_state) fact from M(maglev.vpp.lb_facts), gathered with the V(ases)
        subset (V(conf) to compare C(lb_conf), V(agent) to tell transient differences).
    type: dict
    required: true
  configs:
    description:
      - Per host name, its C(maglev_lb) config, which maps AS addresses to backend names and VIPs to
        frontends so that the agent's view can explain a weight difference.
    type: dict
  transient:
    description:
      - What a transient difference does. V(fail) fails the task like drift does (the fleet is not
        consistent now), V(warn) only warns.
    type: str
    choices: [fail, warn]
    default: fail
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Compares results only; nothing changes.
"""

EXAMPLES = r"""
- name: Gather each router's LB state and agent view
  maglev.vpp.lb_facts:
    gather_subset: [conf, ases, agent]

- name: Compare the routers
  maglev.vpp.lb_fleet:
    states: "{{ dict(hosts | zip(hosts | map('extract', hostvars, ['ansible_facts', 'maglev_lb_state']))) }}"
    configs: "{{ dict(hosts | zip(hosts | map('extract', hostvars, 'maglev_lb'))) }}"
  vars:
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
consistent:
  description: True when no host differs.
  returned: always
  type: bool
differences:
  description: Each difference - C(vip) (VPP's VIP name, or C(conf)), C(kind) (V(transient) or V(drift)),
    C(what) and C(detail) (naming the hosts).
  returned: always
  type: list
  elements: dict
  sample:
    - vip: 192.0.2.1/32 tcp/80
      kind: transient
      what: weight of 198.51.100.12
      detail: "198.51.100.12 at weight 100 on router1, 50 on router2 - web2 is steady on router1,
        slow-starting (40%) on router2"
hosts:
  description: The hosts compared.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import fleet


def main():
    module = AnsibleModule(
        argument_spec=dict(
            states=dict(type="dict", required=True),
            configs=dict(type="dict"),
            transient=dict(type="str", choices=["fail", "warn"], default="fail"),
        ),
        supports_check_mode=True,
    )
    views = {}
    problems = []
    configs = module.params["configs"] or {}
    for host, state in sorted(module.params["states"].items()):
        if not isinstance(state, dict) or not isinstance(state.get("vips"), dict):
            problems.append(f"{host}: no maglev_lb_state with vips (run maglev.vpp.lb_facts with the ases subset)")
            continue
        views[host] = fleet.HostView(state, configs.get(host))
    if problems:
        module.fail_json(msg="cannot compare the fleet: " + "; ".join(problems), changed=False)
    found = fleet.compare(views)
    result = dict(changed=False, consistent=not found, hosts=sorted(views),
                  differences=[d.as_dict() for d in found])
    failing = [d for d in found if d.kind == fleet.DRIFT or module.params["transient"] == "fail"]
    for difference in found:
        if difference not in failing:
            module.warn(difference.line())
    if failing:
        module.fail_json(msg=f"{len(failing)} difference(s) between {', '.join(sorted(views))}: "
                         + "; ".join(d.line() for d in failing), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
