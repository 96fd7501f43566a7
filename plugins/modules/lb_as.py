#!/usr/bin/python
# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lb_as
short_description: Manage the application servers of one VIP of VPP's lb plugin
description:
  - Adds application servers (ASes) to one existing VIP with the given weights, changes their
    weights, or removes them.
  - The VIP is identified by O(prefix), O(protocol) and O(port), as in M(maglev.vpp.lb_vip); it must
    exist (create it with M(maglev.vpp.lb_vip)). All ASes of a VIP have the address family its encap
    needs (IPv4 for C(gre4), C(l3dsr), C(nat4); IPv6 for C(gre6), C(nat6)).
  - B(Weights are pushed as given.) This module knows addresses, not the backends, pools and health
    of C(maglev_lb), so it does not apply the agent's health view or the pool rules. To push
    health-aware effective weights, declare the frontend in C(maglev_lb) and use M(maglev.vpp.lb);
    if the agent manages this VIP, it sets the effective weights again on its next pass.
  - The whole input is validated before VPP is contacted; an invalid one fails the task listing every
    problem by its option path (C(ases[2].weight)).
version_added: 0.1.0
author:
  - maglev.vpp developers (@maglev-vpp)
options:
  prefix:
    description:
      - The VIP prefix (C(192.0.2.1/32)) or address.
    type: str
    required: true
  protocol:
    description:
      - C(tcp) or C(udp), together with O(port), for a per-port VIP.
    type: str
    choices: [tcp, udp]
  port:
    description:
      - The VIP's port, together with O(protocol).
    type: int
  ases:
    description:
      - The application servers.
    type: list
    elements: dict
    default: []
    suboptions:
      address:
        description:
          - The AS address (an IP address, not a prefix).
        type: str
        required: true
      weight:
        description:
          - The AS weight, 0 to 100. Weight 0 keeps the AS programmed without new flows (existing
            sticky flows stay unless O(flush)).
          - Ignored with O(state=absent).
        type: int
        default: 100
  state:
    description:
      - V(present) adds the listed ASes and sets their weights.
      - V(absent) removes the listed ASes (with flush).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove the VIP's ASes that O(ases) does not list (with flush).
    type: bool
    default: false
  flush:
    description:
      - With O(state=present), evict the sticky flows of an AS whose weight drops to 0, so its existing
        connections move to other ASes at once. Without it they drain.
      - Removing an AS always flushes; VPP would otherwise keep a removed AS with sticky flows
        indefinitely. To remove an AS gently, set its weight to 0 first, let its flows drain, then
        remove it.
    type: bool
    default: false
extends_documentation_fragment:
  - maglev.vpp.connection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - On VPP releases up to 26.06 (LB API 1.1.0) VPP has no AS weights; there weight 0 removes the AS
    and any other weight makes it present.
seealso:
  - module: maglev.vpp.lb_vip
  - module: maglev.vpp.lb
"""

EXAMPLES = r"""
- name: Two servers, the second with half the share
  maglev.vpp.lb_as:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    ases:
      - {address: 198.51.100.11, weight: 100}
      - {address: 198.51.100.12, weight: 50}

- name: Drain one server (existing flows stay until they end)
  maglev.vpp.lb_as:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    ases:
      - {address: 198.51.100.12, weight: 0}

- name: Exactly these servers; remove the others
  maglev.vpp.lb_as:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    ases:
      - {address: 198.51.100.11}
    purge: true

- name: Remove a server
  maglev.vpp.lb_as:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    ases:
      - {address: 198.51.100.12}
    state: absent
"""

RETURN = r"""
vip:
  description: The VIP, as VPP names it.
  returned: always
  type: str
  sample: 192.0.2.1/32 tcp/80
before:
  description: The VIP before the task (settings and ASes with weights).
  returned: success
  type: dict
  sample:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    encap: gre4
    src_ip_sticky: false
    new_flows_table_length: 1024
    ases: {198.51.100.11: 100}
after:
  description: The VIP after the task (predicted in check mode); when nothing changes, it is RV(before).
  returned: when changed
  type: dict
  sample:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    encap: gre4
    src_ip_sticky: false
    new_flows_table_length: 1024
    ases: {198.51.100.11: 100, 198.51.100.12: 50}
commands:
  description: >-
    The changes made (or to be made in check mode), in order, one VPP CLI command each (as C(vppctl)
    takes it, for the connected VPP's LB API generation); empty when none. Why each is there is in
    RV(reasons).
  returned: success
  type: list
  elements: str
  sample: ["lb as 192.0.2.1/32 protocol tcp port 80 198.51.100.12 weight 50"]
reasons:
  description: Why each command of RV(commands) is there, in the same order.
  returned: success
  type: list
  elements: str
  sample: ["new AS"]
blast_radius:
  description: As RV(maglev.vpp.lb#module:blast_radius) of M(maglev.vpp.lb), for this VIP.
  returned: success
  type: list
  elements: dict
commands_applied:
  description: The commands VPP accepted before the one that failed.
  returned: when applying failed midway
  type: list
  elements: str
failed_command:
  description: The command VPP refused.
  returned: when applying failed midway
  type: str
vpp_retval:
  description: VPP's return value for the refused request.
  returned: when VPP refused a request
  type: int
vpp_error:
  description: The name of VPP's return value.
  returned: when VPP refused a request
  type: str
errors:
  description: Every problem of the input, each prefixed with its option path.
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["ases[1].weight: must be between 0 and 100, got 150"]
"""

import ipaddress
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.maglev.vpp.plugins.module_utils import lb_module, lb_results
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import model

_NAME = re.compile(r"\bas-(\d+)\b")


_FAMILY = re.compile(r"^frontends\.vip\.encap: \S+ needs IPv(\d) backends, as-(\d+) is IPv(\d)$")


def _rename(error: str) -> str:
    """Schema paths of the document built in main() -> this module's option paths."""
    family = _FAMILY.match(error)
    if family:
        wanted, index, found = family.groups()
        return (f"ases[{index}].address: is IPv{found}, but the first valid AS address is IPv{wanted};"
                " the ASes of one VIP share one address family")
    for old in ("frontends.vip.pools[0].backends.", "backends."):
        if error.startswith(old):
            error = error[len(old):]
    if error.startswith("frontends.vip."):
        error = error[len("frontends.vip."):]
    return _NAME.sub(r"ases[\1]", error)


def _family(address: str):
    try:
        return ipaddress.ip_address(address.strip()).version
    except (ValueError, AttributeError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=lb_module.argument_spec(
            prefix=dict(type="str", required=True),
            protocol=dict(type="str", choices=["tcp", "udp"]),
            port=dict(type="int"),
            ases=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    address=dict(type="str", required=True),
                    weight=dict(type="int", default=model.DEFAULT_WEIGHT),
                ),
            ),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            purge=dict(type="bool", default=False),
            flush=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    ases = params["ases"]
    # One validator: the VIP and its ASes as a maglev_lb frontend with one pool. The encap only
    # fixes the family every AS must share; the VIP's real encap is checked once it is read.
    families = [f for f in (_family(a["address"]) for a in ases) if f is not None]
    frontend = {
        "prefix": params["prefix"],
        "encap": "gre6" if families and families[0] == 6 else "gre4",
        "pools": [{"name": "ases", "backends": {f"as-{i}": {"weight": a["weight"]} for i, a in enumerate(ases)}}]
        if ases else [],
    }
    for key in ("protocol", "port"):
        if params[key] is not None:
            frontend[key] = params[key]
    document = {"backends": {f"as-{i}": {"address": a["address"]} for i, a in enumerate(ases)},
                "frontends": {"vip": frontend}}
    config = lb_module.parse_document(module, document, rename=_rename,
                                      extra_problems=lb_module.connection_problems(params))
    key = config.frontends["vip"].key
    listed = {config.backends[f"as-{i}"].address: a["weight"] for i, a in enumerate(ases)}
    result = dict(changed=False, vip=str(key))

    client = lb_module.connect(module, result)
    actual = lb_module.dump(module, client, result)
    have = actual.vips.get(key)
    if have is None:
        if params["state"] == "absent":
            result.update(before=None, after=None, commands=[], blast_radius=[])
            client.disconnect()
            module.exit_json(**result)
        client.disconnect()
        lb_module.fail(module, f"VPP has no VIP {key}: create it first (maglev.vpp.lb_vip)", result)

    family = model.ENCAP_AS_FAMILY[have.spec.encap]
    wrong = [f"ases[{i}].address: VIP {key} has encap {have.spec.encap}, so its ASes are IPv{family};"
             f" {address} is IPv{ipaddress.ip_address(address).version}"
             for i, address in enumerate(listed) if ipaddress.ip_address(address).version != family]
    if wrong:
        client.disconnect()
        lb_module.fail_invalid(module, wrong)

    if params["state"] == "present":
        wanted = {} if params["purge"] else {
            address: model.AsState(address=address, weight=a.weight) for address, a in have.ases.items()
        }
        for address, weight in listed.items():
            wanted[address] = model.AsState(address=address, weight=weight, flush=params["flush"])
    else:
        wanted = {address: model.AsState(address=address, weight=a.weight)
                  for address, a in have.ases.items() if address not in listed}
    ordered = {address: wanted[address] for address in sorted(wanted, key=model.address_sort_key)}
    want = model.LbState(vips={key: model.VipState(key=key, spec=have.spec, ases=ordered)})
    lb_module.converge(module, client, want, actual, result=result, view=lb_results.vip_view(key))
    client.disconnect()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
