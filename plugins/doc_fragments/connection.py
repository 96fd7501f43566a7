# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Options the maglev.vpp modules share: how to reach VPP (every module), VPP's stats socket
(``maglev.vpp.connection.stats``, modules that read counters) and where the agent publishes health
(``maglev.vpp.connection.agent``, modules whose result depends on health)."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  api_socket:
    description:
      - Path of VPP's binary API socket on the managed host (C(socket-name) in VPP's C(socksvr) section).
      - The module fails with the path it tried when nothing listens there, when the path is a
        directory or a regular file, or when it is VPP's stats socket; and with a permission
        hint when the socket is not readable and writable by the remote user (use become, or add the
        user to the socket's group).
    type: path
    default: /run/vpp/api.sock
  api_dir:
    description:
      - Directory of VPP's API definition files (C(*.api.json)), usually C(/usr/share/vpp/api).
      - When not set, the definitions are fetched from VPP itself over the API socket
        (C(get_api_json), VPP 24.06 and later); if VPP cannot serve them, C(/usr/share/vpp/api) is used.
      - The module fails, naming the messages, when the definitions lack a message the LB plugin
        needs (lb plugin not loaded, or definitions of another VPP version).
    type: path
  timeout:
    description:
      - Seconds to wait for VPP to accept the connection and to answer each API request.
    type: float
    default: 5.0
requirements:
  - Python package C(vpp_papi) (2.4.2) on the managed host.
notes:
  - The modules run on the VPP host itself (they talk to VPP over local Unix sockets), so C(vpp_papi)
    must be installed for the Python interpreter Ansible uses on that host.
"""

    STATS = r"""
options:
  stats_socket:
    description:
      - Path of VPP's stats segment socket (C(statseg { socket-name ... })), read for counters.
      - When it cannot be read (missing, a directory, VPP's API socket given instead), the module
        says why in a warning.
    type: path
    default: /run/vpp/stats.sock
"""

    AGENT = r"""
options:
  agent_state:
    description:
      - Path of the state file that the maglev agent publishes on the managed host (backend health).
      - When the file exists and is fresh (see O(agent_state_max_age)), the weight pushed for each
        application server is its effective weight under that health view (down, paused, disabled or
        not yet probed backends get weight 0, and only the first pool with an up backend carries traffic).
      - When the file is missing, stale or unreadable, every enabled backend counts as up; the pool
        rules still apply, so members of standby pools get weight 0.
    type: path
    default: /run/maglev-agent/state.json
  agent_state_max_age:
    description:
      - Seconds after which the agent's state file counts as stale (the agent is not running), so
        its health view is ignored.
    type: float
    default: 30.0
"""
