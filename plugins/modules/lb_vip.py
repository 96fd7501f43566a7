#!/usr/bin/python
# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lb_vip
short_description: Manage one VIP of VPP's lb plugin
description:
  - Makes one VIP of VPP's lb plugin present with the given settings, or absent.
  - VPP identifies a VIP by O(prefix), O(protocol) and O(port); give both O(protocol) and O(port)
    for a per-port VIP, neither for an all-port VIP.
  - B(Ensure present.) Options left out keep the live VIP's settings, so a task that names only
    the VIP never recreates it; only a setting that is given and differs recreates it.
  - The VIP's application servers are not managed here (see M(maglev.vpp.lb_as) and
    M(maglev.vpp.lb)); a present VIP keeps the ones it has.
  - B(Recreates.) VPP cannot change O(encap), O(src_ip_sticky), O(new_flows_table_length),
    O(dscp), O(srv_type) or O(target_port) of a live VIP. When one of them differs, the VIP is
    deleted and added back (its application servers deleted with flush first, then added back with
    their weights), which breaks its existing sessions. The task then returns RV(recreated=true) and
    warns, naming the changed fields.
  - The options are validated with the same rules as a frontend of C(maglev_lb) (see the
    collection's C(docs/config-reference.md)) before VPP is contacted. A VIP that VPP would refuse
    next to an existing one (same prefix, all-port next to per-port, or another encap) fails the
    task before anything changes.
version_added: 0.1.0
author:
  - maglev.vpp developers (@maglev-vpp)
options:
  prefix:
    description:
      - The VIP prefix (C(192.0.2.1/32)) or address (a host prefix). Host bits must be zero.
    type: str
    required: true
  protocol:
    description:
      - C(tcp) or C(udp), together with O(port), for a per-port VIP.
    type: str
    choices: [tcp, udp]
  port:
    description:
      - The VIP's port (1 to 65535), together with O(protocol).
    type: int
  encap:
    description:
      - How packets reach the application servers; the servers' address family follows it
        (C(gre4), C(l3dsr), C(nat4) - IPv4; C(gre6), C(nat6) - IPv6).
      - When left out, a live VIP keeps its encap; a new VIP gets C(gre4).
      - A change of address family drops the VIP's application servers of the old family, and the
        task warns, naming them, since VPP holds only servers of the encap's family.
    type: str
    choices: [gre4, gre6, l3dsr, nat4, nat6]
  src_ip_sticky:
    description:
      - Hash on source and destination addresses only, so all connections of a client go to one server.
      - When left out, a live VIP keeps its value; a new VIP gets C(false).
    type: bool
  new_flows_table_length:
    description:
      - Length of the Maglev new-flow table, a power of two from 1 to 1048576.
      - When left out, a live VIP keeps its value; a new VIP gets C(1024).
    type: int
  dscp:
    description:
      - For O(encap=l3dsr) only, the DSCP value (0 to 63); 0 when not given.
    type: int
  srv_type:
    description:
      - For O(encap=nat4) and O(encap=nat6) only; C(clusterip) when not given.
    type: str
    choices: [clusterip, nodeport]
  target_port:
    description:
      - For O(encap=nat4) and O(encap=nat6) only, the port on the servers; O(port) when not given.
    type: int
  state:
    description:
      - V(present) creates the VIP, or recreates it when a setting differs.
      - V(absent) deletes the VIP, its application servers first (with flush).
    type: str
    choices: [present, absent]
    default: present
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
seealso:
  - module: maglev.vpp.lb
  - module: maglev.vpp.lb_as
"""

EXAMPLES = r"""
- name: A per-port VIP with sticky sources
  maglev.vpp.lb_vip:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    encap: gre4
    src_ip_sticky: true

- name: An all-port IPv6 VIP tunnelling to IPv6 servers
  maglev.vpp.lb_vip:
    prefix: 2001:db8::10/128
    encap: gre6
    new_flows_table_length: 512

- name: Remove a VIP
  maglev.vpp.lb_vip:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    state: absent
"""

RETURN = r"""
vip:
  description: The VIP, as VPP names it.
  returned: always
  type: str
  sample: 192.0.2.1/32 tcp/80
recreated:
  description: Whether the VIP was (or, in check mode, would be) deleted and added back.
  returned: always
  type: bool
  sample: false
before:
  description: The VIP before the task (settings and application servers), C(null) when absent.
  returned: always
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
  description:
    - The VIP after the task (predicted in check mode), C(null) when absent.
    - When nothing changes, it is RV(before).
  returned: when changed
  type: dict
  sample:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    encap: gre4
    src_ip_sticky: true
    new_flows_table_length: 1024
    ases: {198.51.100.11: 100}
commands:
  description: >-
    The changes made (or to be made in check mode), in order, one VPP CLI command each (as C(vppctl)
    takes it, for the connected VPP's LB API generation); empty when none. Why each is there is in
    RV(reasons).
  returned: always
  type: list
  elements: str
  sample: ["lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024 src_ip_sticky"]
reasons:
  description: Why each command of RV(commands) is there, in the same order.
  returned: always
  type: list
  elements: str
  sample: ["new AS"]
blast_radius:
  description: As RV(maglev.vpp.lb#module:blast_radius) of M(maglev.vpp.lb), for this VIP.
  returned: always
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
  description: Every problem of the input, each prefixed with the option name.
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["prefix: 192.0.2.1/24 has host bits set, did you mean 192.0.2.0/24"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.maglev.vpp.plugins.module_utils import lb_module, lb_results
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import compose, model

SETTINGS = ("protocol", "port", "encap", "src_ip_sticky", "new_flows_table_length", "dscp", "srv_type", "target_port")


def main():
    module = AnsibleModule(
        argument_spec=lb_module.argument_spec(
            prefix=dict(type="str", required=True),
            protocol=dict(type="str", choices=["tcp", "udp"]),
            port=dict(type="int"),
            encap=dict(type="str", choices=list(model.ENCAPS)),
            src_ip_sticky=dict(type="bool"),
            new_flows_table_length=dict(type="int"),
            dscp=dict(type="int"),
            srv_type=dict(type="str", choices=list(model.SRV_TYPES)),
            target_port=dict(type="int"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    frontend = {"prefix": params["prefix"], "pools": []}
    frontend.update({key: params[key] for key in SETTINGS if params[key] is not None})
    config = lb_module.parse_document(
        module,
        {"frontends": {"vip": frontend}},
        rename=lb_module.renamer({"frontends.vip.": ""}),
        extra_problems=lb_module.connection_problems(params),
    )
    key, spec = config.frontends["vip"].key, config.frontends["vip"].spec
    result = dict(changed=False, vip=str(key), recreated=False)

    client = lb_module.connect(module, result)
    actual = lb_module.dump(module, client, result)
    if params["state"] == "present":
        have = actual.vips.get(key)
        if have is not None:
            # Ensure present: the options left out keep the live VIP's settings (as `lb` merged).
            given = [name for name in SETTINGS if params[name] is not None]
            spec = compose.merged_spec(spec, given, have.spec, ())
        want = model.LbState(vips={key: model.VipState(key=key, spec=spec)})
        lb_results.warn_dropped_ases(module, want, actual)
        want = compose.merge_kept_ases(want, actual)
        prune = False
        result["recreated"] = have is not None and bool(spec.differences(have.spec))
    else:
        want = compose.without_vips(actual, [key])
        prune = True
    lb_module.converge(module, client, want, actual, prune_vips=prune, result=result,
                       view=lb_results.vip_view(key), conflict_hint="delete that VIP first")
    client.disconnect()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
