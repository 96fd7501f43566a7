# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Benchmark baseline: takes maglev.vpp.lb's arguments and returns at once.

A task running it costs what Ansible spends on any task with the same arguments (worker start,
templating the 1,000-frontend config, shipping it to the module, parsing and validating the
argument spec, echoing the arguments back as `invocation`, handling the result), and nothing the
lb module itself does. bench/bench_modules.py subtracts its process and task times from the lb
module's.
The options mirror plugins/modules/lb.py (config, running_config, state and the connection options),
and so does the echo of a config given as JSON text.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: lb_arguments_only
short_description: Benchmark baseline that accepts maglev.vpp.lb's arguments and does nothing
description: Accepts maglev.vpp.lb's arguments, validates them against the same types and returns.
options:
  config: {type: dict, description: As maglev.vpp.lb.}
  running_config: {type: str, description: As maglev.vpp.lb.}
  state: {type: str, default: merged, description: As maglev.vpp.lb.}
  api_socket: {type: path, description: As maglev.vpp.lb.}
  api_dir: {type: path, description: As maglev.vpp.lb.}
  timeout: {type: float, description: As maglev.vpp.lb.}
  agent_state: {type: path, description: As maglev.vpp.lb.}
  agent_state_max_age: {type: float, description: As maglev.vpp.lb.}
author: maglev.vpp developers
"""


class ArgumentsModule(AnsibleModule):
    """Echoes a config given as JSON text as text, as maglev.vpp.lb's ConfigModule does (the
    echo of a parsed 1,000-frontend object costs Ansible a walk over every node)."""

    def _load_params(self):
        super()._load_params()
        self.config_text = self.params.get("config") if isinstance(self.params.get("config"), str) else None

    def exit_json(self, **kwargs):
        if self.config_text is not None:
            kwargs["invocation"] = {"module_args": dict(self.params, config=self.config_text)}
        super().exit_json(**kwargs)


def main():
    module = ArgumentsModule(
        argument_spec=dict(
            config=dict(type="dict"),
            running_config=dict(type="str"),
            state=dict(type="str", default="merged"),
            api_socket=dict(type="path"),
            api_dir=dict(type="path"),
            timeout=dict(type="float"),
            agent_state=dict(type="path"),
            agent_state_max_age=dict(type="float"),
        ),
        supports_check_mode=True,
    )
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
