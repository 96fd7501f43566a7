#!/usr/bin/python
# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lb_conf
short_description: Set the global settings of VPP's lb plugin (lb_conf)
description:
  - Sets VPP's C(lb_conf) - the GRE source addresses, the sticky table size per worker and the
    sticky flow timeout.
  - Options left out keep VPP's current values. VPP's C(lb_conf) always sets all four fields, so
    the module reads the current values back (C(lb_conf_get)) and sends them along; it changes
    something only when a given option differs from what VPP reports.
  - The options are validated with the same rules as C(maglev_lb.conf) (see the collection's
    C(docs/config-reference.md)) before VPP is contacted.
  - To manage the whole LB state, including C(conf), use M(maglev.vpp.lb).
version_added: 0.1.0
author:
  - maglev.vpp developers (@maglev-vpp)
options:
  ip4_src_address:
    description:
      - IPv4 source address of the GRE packets VPP sends to IPv4 application servers (C(gre4)).
    type: str
  ip6_src_address:
    description:
      - IPv6 source address of the GRE packets VPP sends to IPv6 application servers (C(gre6)).
    type: str
  sticky_buckets_per_core:
    description:
      - Buckets of the sticky flow table of each worker thread; a power of two, 1 to 16777216.
      - VPP applies a new value only to sticky tables it creates afterwards.
    type: int
  flow_timeout:
    description:
      - Seconds an idle sticky flow stays pinned to its application server, 1 to 86400.
    type: int
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
  - >-
    On VPP releases up to 26.06 (LB API 1.1.0) VPP cannot report C(sticky_buckets_per_core) and
    C(flow_timeout). There the ones left out are sent as "keep" (0xffffffff, which VPP ignores), so
    VPP keeps its values; one that is given is sent on every run (it cannot be verified, so the task
    reports a change) and the task warns.
seealso:
  - module: maglev.vpp.lb
"""

EXAMPLES = r"""
- name: GRE source addresses
  maglev.vpp.lb_conf:
    ip4_src_address: 192.0.2.254
    ip6_src_address: "2001:db8::fe"

- name: A shorter sticky timeout, leaving the rest as it is
  maglev.vpp.lb_conf:
    flow_timeout: 20
"""

RETURN = r"""
before:
  description: C(lb_conf) before the task (C(null) fields could not be read back from this VPP).
  returned: success
  type: dict
  sample: {ip4_src_address: 255.255.255.255, ip6_src_address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
           sticky_buckets_per_core: 1024, flow_timeout: 40}
after:
  description: C(lb_conf) after the task (predicted in check mode); when nothing changes, it is RV(before).
  returned: when changed
  type: dict
  sample: {ip4_src_address: 192.0.2.254, ip6_src_address: "2001:db8::fe", sticky_buckets_per_core: 1024,
           flow_timeout: 40}
commands:
  description: >-
    The changes made (or to be made in check mode), in order, one VPP CLI command each (as C(vppctl)
    takes it, for the connected VPP's LB API generation); empty when none. Why each is there is in
    RV(reasons).
  returned: success
  type: list
  elements: str
  sample: ["lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe buckets 1024 timeout 40"]
reasons:
  description: Why each command of RV(commands) is there, in the same order.
  returned: success
  type: list
  elements: str
  sample: ["new AS"]
errors:
  description: Every problem of the input, each prefixed with the option name.
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["sticky_buckets_per_core: 1000 is not a power of two"]
vpp_retval:
  description: VPP's return value when it refused the change.
  returned: when VPP refused the change
  type: int
vpp_error:
  description: The name of VPP's return value.
  returned: when VPP refused the change
  type: str
"""

import dataclasses

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.maglev.vpp.plugins.module_utils import lb_module
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import compose, model, schema


def _conf_only(state: model.LbState):
    return dataclasses.asdict(state.conf) if state.conf is not None else None


def main():
    module = AnsibleModule(
        argument_spec=lb_module.argument_spec(
            ip4_src_address=dict(type="str"),
            ip6_src_address=dict(type="str"),
            sticky_buckets_per_core=dict(type="int"),
            flow_timeout=dict(type="int"),
        ),
        required_one_of=[list(schema.CONF_KEYS)],
        supports_check_mode=True,
    )
    given = {key: module.params[key] for key in schema.CONF_KEYS if module.params[key] is not None}
    config = lb_module.parse_document(
        module,
        {"conf": given},
        rename=lambda error: error[len("conf."):] if error.startswith("conf.") else error,
        extra_problems=lb_module.connection_problems(module.params),
    )
    result = dict(changed=False)
    client = lb_module.connect(module)
    actual = lb_module.dump_conf(module, client)
    # Left-out options keep VPP's values; one VPP cannot report (None) is sent as "keep".
    want = model.LbState(conf=compose.merge_live_conf(config.conf, set(given), actual))
    lb_module.converge(module, client, want, model.LbState(conf=actual), result=result, view=_conf_only,
                       push_unreadable_conf=True)
    client.disconnect()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
