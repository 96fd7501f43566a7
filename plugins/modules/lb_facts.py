#!/usr/bin/python
# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lb_facts
short_description: Gather the live Maglev load balancer state of VPP's lb plugin
description:
  - Reads the LB plugin state of one VPP host and returns it as facts, in two parts.
  - >-
    C(ansible_facts.maglev_lb_live) is the live state in the C(maglev_lb) schema, the same form
    M(maglev.vpp.lb) accepts as O(maglev.vpp.lb#module:config), so it can be fed back as desired
    state. VPP has no names: backends are named after their address (C(:) written C(-)), frontends
    after their VIP (C(192.0.2.1_32-tcp-80)), and each frontend has one pool C(default) with VPP's
    current weights.
  - C(ansible_facts.maglev_lb_state) is runtime data that the schema does not hold, keyed like the
    RV(maglev.vpp.lb#module:before) state of M(maglev.vpp.lb) - VIP pool indexes, the sticky flag,
    per-AS weights and bucket counts (each AS's share of the new-flow table), the LB counters and
    the VIP's FIB route counter per VIP, VPP's version and capabilities (LB API version, transport),
    and the agent's health view.
  - VPP's state is read in one round of dumps; counters come from the stats segment.
  - Works ad hoc, for example C(ansible vpp1 -m maglev.vpp.lb_facts).
version_added: 0.1.0
author:
  - maglev.vpp developers (@maglev-vpp)
options:
  gather_subset:
    description:
      - What to gather. V(all) is everything.
      - V(conf) is C(lb_conf) (C(maglev_lb_live.conf) and C(maglev_lb_state.conf)).
      - V(vips) is the VIPs with their settings and application servers (C(maglev_lb_live.backends)
        and C(maglev_lb_live.frontends)), and per VIP in C(maglev_lb_state.vips) the pool index and settings.
      - V(ases) adds per VIP in C(maglev_lb_state.vips) each application server's weight and bucket count.
      - V(counters) adds per VIP in C(maglev_lb_state.vips) the four LB counters and the route counter.
      - V(agent) is the agent's health view read from O(agent_state) (C(maglev_lb_state.agent)); it
        alone does not contact VPP.
    type: list
    elements: str
    choices: [all, conf, vips, ases, counters, agent]
    default: [all]
extends_documentation_fragment:
  - maglev.vpp.connection
  - maglev.vpp.connection.stats
  - maglev.vpp.connection.agent
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
notes:
  - >-
    The facts are deliberately not called C(maglev_lb). Ansible injects facts as host variables that
    take precedence over inventory C(group_vars) and C(host_vars), so a fact named C(maglev_lb) would
    silently replace the operator's declared C(maglev_lb) for the rest of the play (and, with fact
    caching, for later runs too).
  - Counters come from VPP's stats segment (O(stats_socket)). When it cannot be read, the module warns
    and uses the counters VPP prints in C(show lb vips verbose) instead (without the route counter).
seealso:
  - module: maglev.vpp.lb
"""

EXAMPLES = r"""
- name: Gather everything
  maglev.vpp.lb_facts:

- name: Only VIPs, their application servers and counters
  maglev.vpp.lb_facts:
    gather_subset: [vips, ases, counters]

- name: Print each VIP's new-flow counter
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.counters.first_packets }} first packets"
  loop: "{{ ansible_facts.maglev_lb_state.vips | dict2items }}"

- name: Make VPP keep exactly what it holds now (no change), e.g. after a manual fix
  maglev.vpp.lb:
    config: "{{ ansible_facts.maglev_lb_live }}"
    state: overridden

- name: What the agent sees (does not contact VPP)
  maglev.vpp.lb_facts:
    gather_subset: agent

# Ad hoc, from the shell:
#   ansible vpp1 -m maglev.vpp.lb_facts
#   ansible vpp1 -m maglev.vpp.lb_facts -a 'gather_subset=counters api_socket=/run/vpp/api.sock'
"""

RETURN = r"""
ansible_facts:
  description: Facts about the LB plugin of VPP.
  returned: always
  type: complex
  contains:
    maglev_lb_live:
      description:
        - The live LB state as a C(maglev_lb) object (accepted by M(maglev.vpp.lb)).
        - C(conf) is present with the V(conf) subset when VPP can report all of C(lb_conf) (LB API
          1.2.0); C(backends) and C(frontends) with the V(vips) or V(ases) subset.
        - The module warns when VPP holds something the schema cannot express (for example a
          weight above 100).
      returned: when a subset other than V(agent) and V(counters) is gathered
      type: dict
      sample:
        conf:
          ip4_src_address: 192.0.2.254
          ip6_src_address: "2001:db8::fe"
          sticky_buckets_per_core: 1024
          flow_timeout: 40
        backends:
          198.51.100.11: {address: 198.51.100.11}
          198.51.100.12: {address: 198.51.100.12}
        frontends:
          192.0.2.1_32-tcp-80:
            prefix: 192.0.2.1/32
            protocol: tcp
            port: 80
            encap: gre4
            src_ip_sticky: true
            new_flows_table_length: 1024
            pools:
              - name: default
                backends:
                  198.51.100.11: {weight: 100}
                  198.51.100.12: {weight: 50}
    maglev_lb_state:
      description: Runtime data of the LB plugin.
      returned: always
      type: dict
      contains:
        vpp:
          description:
            - The VPP reached (C(api_socket), C(version)), its LB API generation C(lb_api_version) (read
              from its message table at connect time; what differs per generation is in
              C(docs/vpp-versions.md)) and its C(capabilities) - C(lb_api_version)
              (C(1.2.0) with per-AS weights, C(1.1.0) for releases up to 26.06), C(as_weights),
              C(conf_get), C(as_v2_dump), C(route_lookup), C(api_from_vpp) (definitions served by VPP)
              and C(transport) (C(asyncio) or C(sync)).
          returned: when VPP was contacted
          type: dict
        conf:
          description: C(lb_conf); fields VPP cannot report (LB API 1.1.0) are C(null).
          returned: with the V(conf) subset
          type: dict
        vips:
          description:
            - Per VIP (keyed as VPP names it, C(prefix) or C(prefix protocol/port)) its settings,
              C(name) (its frontend name in C(maglev_lb_live)) and C(index) (VPP's pool index, which
              also indexes the stats segment's LB counters).
            - With V(ases), C(ases) maps each application server's address to C(weight) and
              C(buckets) (its share of the new-flow table), and C(table_digest) is a digest of the
              VIP's new-flow table as VPP builds it, bucket by bucket (the first 16 hex digits of the
              SHA-256 of each bucket's AS address, one per line; C(null) for a table of length 0). Hosts
              whose VIPs have equal digests send a flow to the same AS.
            - With V(counters), C(counters) holds C(first_packets), C(next_packets) (packets of
              existing sessions), C(untracked_packets), C(no_server_packets) (summed over threads),
              and C(route_packets), C(route_bytes) (the VIP's FIB route, C(null) when unknown).
          returned: with the V(vips), V(ases) or V(counters) subset
          type: dict
          sample:
            192.0.2.1/32 tcp/80:
              prefix: 192.0.2.1/32
              protocol: tcp
              port: 80
              encap: gre4
              src_ip_sticky: true
              new_flows_table_length: 1024
              name: 192.0.2.1_32-tcp-80
              index: 1
              ases:
                198.51.100.11: {weight: 100, buckets: 683}
                198.51.100.12: {weight: 50, buckets: 341}
              table_digest: 5d1f0c2a9e3b4471
              counters:
                next_packets: 1500
                first_packets: 400
                untracked_packets: 0
                no_server_packets: 0
                route_packets: 1900
                route_bytes: 190000
        counters_source:
          description: Where the counters came from, C(stats) (the stats segment) or C(cli).
          returned: with the V(counters) subset
          type: str
        agent:
          description:
            - The agent's health view from O(agent_state) - C(path), C(used) (false when missing,
              stale or without results), C(reason), C(written_at) and C(health) (backend name to state).
          returned: with the V(agent) subset
          type: dict
          sample:
            path: /run/maglev-agent/state.json
            used: false
            reason: "no agent state at /run/maglev-agent/state.json (no agent running?): treating every backend as up"
            written_at:
            health:
"""

import dataclasses

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.maglev.vpp.plugins.module_utils import lb_module, lb_results
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast, facts, model

SUBSETS = ("conf", "vips", "ases", "counters", "agent")
VPP_SUBSETS = ("conf", "vips", "ases", "counters")
VIP_SUBSETS = ("vips", "ases", "counters")


def main():
    module = AnsibleModule(
        argument_spec=lb_module.argument_spec(
            stats=True,
            agent=True,
            gather_subset=dict(type="list", elements="str", choices=["all"] + list(SUBSETS), default=["all"]),
        ),
        supports_check_mode=True,
    )
    problems = lb_module.connection_problems(module.params)
    if problems:
        lb_module.fail_invalid(module, problems)
    subsets = set(module.params["gather_subset"])
    if "all" in subsets:
        subsets = set(SUBSETS)

    runtime = {}
    live = None
    if subsets & set(VPP_SUBSETS):
        client = lb_module.connect(module)
        try:
            version = client.show_version()
        except Exception as exc:  # the version is informative only
            version = None
            module.warn(f"cannot read VPP's version: {exc}")
        runtime["vpp"] = dict(
            api_socket=module.params["api_socket"],
            version=version,
            lb_api_version=client.capabilities.lb_api_version,
            capabilities=lb_results.capabilities_result(client),
        )
        if subsets & set(VIP_SUBSETS):
            state = lb_module.dump(module, client)
        else:
            state = model.LbState(conf=lb_module.dump_conf(module, client))
        if "counters" in subsets and state.vips:
            counters = lb_module.read_counters(module, client, state)
            runtime["counters_source"] = "stats" if counters is not None else "cli"
            for key, value in (counters or {}).items():
                state.vips[key].counters = value
        elif "counters" in subsets:
            runtime["counters_source"] = "stats"
        client.disconnect()

        for key, vip in state.vips.items():
            vip.name = facts.frontend_name(key)
        if "conf" in subsets:
            runtime["conf"] = dataclasses.asdict(state.conf) if state.conf is not None else None
        if subsets & set(VIP_SUBSETS):
            vips = facts.state_to_dict(state, runtime=True)["vips"]
            generation = runtime["vpp"]["lb_api_version"]
            for key, vip in state.vips.items():
                entry = vips[str(key)]
                if "ases" in subsets:
                    entry["table_digest"] = blast.vip_digest(vip, generation)
                else:
                    entry.pop("ases", None)
                if "counters" not in subsets:
                    entry.pop("counters", None)
            runtime["vips"] = vips
        if subsets & {"conf", "vips", "ases"}:
            shown = model.LbState(
                conf=state.conf if "conf" in subsets else None,
                vips=state.vips if subsets & {"vips", "ases"} else {},
            )
            live = lb_results.render_facts(module, shown)
            if not subsets & {"vips", "ases"}:
                live.pop("backends", None)
                live.pop("frontends", None)

    if "agent" in subsets:
        runtime["agent"] = lb_results.agent_view_result(module, lb_module.read_agent_view(module))

    ansible_facts = {"maglev_lb_state": runtime}
    if live is not None:
        ansible_facts["maglev_lb_live"] = live
    module.exit_json(changed=False, ansible_facts=ansible_facts)


if __name__ == "__main__":
    main()
