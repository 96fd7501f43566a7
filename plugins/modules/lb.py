#!/usr/bin/python
# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lb
short_description: Manage the whole Maglev load balancer state of VPP's lb plugin
description:
  - Declares the LB plugin state of one VPP host (global C(lb_conf), VIPs, application servers
    and their weights) with one C(maglev_lb) object, the same variable the maglev agent reads,
    and makes VPP match it.
  - >-
    The whole O(config) is validated before VPP is contacted. An invalid O(config) fails the task
    with every problem listed by its path (for example
    C(frontends.www-v4.encap: gre6 needs IPv6 backends, web1 is IPv4)); VPP is not touched.
  - VPP's state is read in one round of dumps, then the smallest ordered list of changes is
    planned (the same planner the agent uses) and applied. A rerun with nothing to do only reads.
  - B(Weights follow health.) The weight pushed for each application server is its
    I(effective) weight. When the agent's state file (O(agent_state)) exists and is fresh, the
    agent's health view decides; otherwise every enabled backend counts as up. In both cases only
    the first pool of a frontend with an up backend carries traffic; members of standby pools,
    and down, paused, disabled or not yet probed backends, are programmed with weight 0. So a
    rerun while a backend is down reports no change and leaves it at weight 0, and a new
    configured weight of a down backend is applied when it comes back up.
  - B(No view, loudly.) When backends with a health check are treated as up because no usable
    agent view exists (no file, a stale or broken one, one that names none of the configured
    backends or has no result yet), the task warns, naming them; O(require_agent) makes it a
    refusal instead.
  - >-
    B(Warm-up.) For a frontend the agent has not released yet (its warm-up, C(released: false) in
    its state file), VPP's live weights are kept; an AS VPP does not hold yet is added with weight 0.
  - B(One config.) A running agent undoes, at its next sync, every push that differs from the
    config it runs. So when O(agent_state) is fresh, the config is compared with the agent's (the
    digests it publishes), and a push that differs (a declared frontend that differs or that the
    agent does not run, a different C(lb_conf), a frontend the push deletes that the agent runs) is
    refused before VPP is contacted, naming the frontends; deploy the config to the agent first
    (role C(maglev.vpp.agent), as C(playbooks/site.yml) does). O(agent_config_mismatch=warn) pushes
    anyway with a warning.
  - B(Recreates.) VPP cannot change C(encap), C(src_ip_sticky), C(new_flows_table_length),
    C(dscp), C(srv_type) or C(target_port) of a live VIP. When one of them changes, the VIP is
    deleted and added back (its ASes deleted with flush first), which breaks its existing
    sessions. The task then warns, naming the VIP and the changed fields, and
    RV(blast_radius) marks the VIP C(recreate=true).
  - B(Blast radius.) For every VIP whose new-flow distribution changes, RV(blast_radius) gives each
    AS's share of the Maglev new-flow table before and after the change and the exact share of
    buckets (so of new flows) that move to another AS, from both tables built bucket by bucket as
    VPP builds them on the connected LB API generation. It is reported in check mode, in normal
    runs (computed before applying) and for O(state=rendered).
  - Before changing anything, the plan is checked for VIP adds that VPP would refuse because a
    VIP that stays (not declared, so not removed) occupies the prefix incompatibly (all-port next
    to per-port, or per-port VIPs with another encap). Such a plan fails without touching VPP.
  - If VPP refuses an operation midway, the task fails naming the operation, VPP's retval and
    its error name, and lists in RV(commands_applied) what VPP had already accepted. The next
    run converges from there.
version_added: 0.1.0
author:
  - maglev.vpp developers (@maglev-vpp)
options:
  config:
    description:
      - The desired state, a C(maglev_lb) object (the same variable the maglev agent reads), usually
        C("{{ maglev_lb }}"). Its keys are below; the collection's C(docs/config-reference.md) has
        every rule. The whole object is validated before VPP is contacted.
      - Written as exactly one variable reference, C("{{ maglev_lb }}"), the collection's action plugin
        hands the variable to the module as JSON text without Ansible templating the whole structure
        (strings inside it that hold Jinja are still templated); every other form is templated by
        Ansible as usual. For a state of hundreds of frontends this is several times faster.
      - The same object as JSON text is accepted too, C("{{ maglev_lb | ansible.builtin.to_json }}").
        A config given as JSON text is echoed in C(invocation.module_args) as JSON text, secrets masked.
      - Integers and booleans may be given as strings that are exactly that (C("8080"), C("true")),
        as values from C(-e) and templating are.
      - Which keys that are left out take their defaults and which keep VPP's live values depends on
        O(state).
      - Required for O(state=merged), O(state=replaced), O(state=overridden) and O(state=rendered).
        Optional for O(state=deleted). Not allowed for O(state=gathered) and O(state=parsed).
    type: dict
    suboptions:
      conf:
        description:
          - VPP's global C(lb_conf). When left out, C(lb_conf) is not touched; O(state=deleted) never
            changes it.
          - With O(state=merged) keys left out keep VPP's live values; with O(state=replaced) and
            O(state=overridden) they take their defaults (VPP sets all four fields at once).
          - Either way the task fails before changing anything when a C(gre4) (C(gre6)) VIP would be
            left with VPP's placeholder source address, declared VIPs and VIPs VPP keeps alike.
        type: dict
        suboptions:
          ip4_src_address:
            description: Source address of the GRE packets to IPv4 backends (C(gre4)).
            type: str
            default: 255.255.255.255
          ip6_src_address:
            description: Source address of the GRE packets to IPv6 backends (C(gre6)).
            type: str
            default: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
          sticky_buckets_per_core:
            description: Sticky flow table buckets per worker thread, a power of two up to 16777216.
            type: int
            default: 1024
          flow_timeout:
            description: Seconds an idle sticky flow stays pinned to its backend, 1 to 86400.
            type: int
            default: 40
      healthchecks:
        description:
          - Probe definitions by name; each value has the keys below. Validated, otherwise used only
            by the maglev agent.
        type: dict
        suboptions:
          type:
            description: The kind of probe.
            type: str
            required: true
            choices: [http, https, tcp, icmp]
          port:
            description: Port probed; required for C(tcp), not allowed for C(icmp).
            type: int
          interval:
            description: Pace while the backend is steadily up (C(2s), C(500ms), C(1m) or seconds).
            type: raw
            default: 2s
          fast_interval:
            description: Pace while a transition is pending; at most O(config.healthchecks.interval).
            type: raw
            default: 500ms
          down_interval:
            description: Pace while the backend is down; at least O(config.healthchecks.interval).
            type: raw
            default: 10s
          timeout:
            description: Probe timeout, shorter than O(config.healthchecks.interval).
            type: raw
            default: 1s
          rise:
            description: Passes in a row to go up, 1 to 100.
            type: int
            default: 2
          fall:
            description: Failures in a row to go down, 1 to 100.
            type: int
            default: 3
          source_address:
            description: Address the probes are sent from.
            type: str
          path:
            description: C(http) and C(https) only, the request path.
            type: str
            default: /
          host:
            description: C(http) and C(https) only, the Host header (and default TLS server name).
            type: str
          expect_status:
            description: C(http) and C(https) only, status codes and ranges that pass (C([200, "301-302"])).
            type: raw
            default: 200-299
          body_regex:
            description: C(http) and C(https) only, a regular expression the body must match.
            type: str
          method:
            description: C(http) and C(https) only, the request method.
            type: str
            choices: [GET, HEAD]
            default: GET
          headers:
            description: C(http) and C(https) only, extra request headers (name to value).
            type: dict
          tls_server_name:
            description: C(https) only, SNI and the name the certificate is checked against.
            type: str
          tls_insecure:
            description: C(https) only, skip certificate verification.
            type: bool
            default: false
          tls_ca_file:
            description: C(https) only, a CA bundle (PEM) to verify against instead of the system's.
            type: path
          tls_client_cert:
            description: C(https) only, a client certificate (PEM), with O(config.healthchecks.tls_client_key).
            type: path
          tls_client_key:
            description: C(https) only, the client certificate's private key (PEM).
            type: path
      agent:
        description:
          - The agent's own settings (C(docs/agent.md)); the modules ignore them, so the agent's
            config file can be pushed as it is.
        type: dict
      backends:
        description:
          - Real servers by name; each value has the keys below. A backend that no frontend uses
            draws a warning.
        type: dict
        suboptions:
          address:
            description: The server's address (one unicast address, unique across backends).
            type: str
            required: true
          healthcheck:
            description: Name of an entry of O(config.healthchecks); none means never probed (counts as up).
            type: str
          enabled:
            description: V(false) drains and flushes the backend everywhere (weight 0).
            type: bool
            default: true
          description:
            description: Free text.
            type: str
      frontends:
        description:
          - VIPs by frontend name; each value has the keys below.
          - With O(state=merged) the settings a frontend leaves out keep the live VIP's values (so
            leaving one out never recreates a VIP); with O(state=replaced) and O(state=overridden)
            they take their defaults, and a change to an immutable one recreates the VIP.
        type: dict
        suboptions:
          prefix:
            description: The VIP prefix or address; host bits must be zero.
            type: str
            required: true
          protocol:
            description: With O(config.frontends.port), a per-port VIP; neither for an all-port VIP.
            type: str
            choices: [tcp, udp]
          port:
            description: The VIP's port, 1 to 65535, with O(config.frontends.protocol).
            type: int
          encap:
            description: How packets reach the backends; the backends' address family follows it.
            type: str
            choices: [gre4, gre6, l3dsr, nat4, nat6]
            default: gre4
          src_ip_sticky:
            description: Hash on source and destination addresses only.
            type: bool
            default: false
          flush_on_down:
            description: Evict a backend's sticky flows when it goes down.
            type: bool
            default: true
          new_flows_table_length:
            description: Maglev new-flow table length, a power of two up to 1048576.
            type: int
            default: 1024
          dscp:
            description: C(l3dsr) only, 0 to 63.
            type: int
            default: 0
          srv_type:
            description: C(nat4) and C(nat6) only.
            type: str
            choices: [clusterip, nodeport]
            default: clusterip
          target_port:
            description: C(nat4) and C(nat6) only, the port on the backends; defaults to O(config.frontends.port).
            type: int
          description:
            description: Free text.
            type: str
          slow_start:
            description:
              - The agent only (the modules apply the ramp the agent publishes) - a recovering backend's
                weight ramps up in four steps over this duration (C(40s)); C(0s) is off.
            type: raw
            default: 0s
          drain_timeout:
            description:
              - The agent only - a disabled backend first drains (weight 0, flows kept) this long, then
                its flows are flushed; C(0s) is off.
            type: raw
            default: 0s
          announce:
            description:
              - The agent only (the modules ignore it) - the route-announcement hook of this frontend,
                C(command) (an argv list) and C(timeout); see docs/operations.md.
            type: dict
          spill:
            description:
              - "Graceful spill between pools (off when left out): C({overprovisioning: 1.4}), 1 to 100,
                C({}) means 1.4. A pool's share of new flows is its healthy fraction times the factor,
                capped at 100%; the rest spills to the next pool (docs/config-reference.md).
                On LB API 1.1.0 (no AS weights) spill still decides which pools take new flows, but each
                present AS gets an equal share; the task warns with the split that results."
            type: dict
          pools:
            description:
              - Priority tiers, in order; only the first pool with an up backend carries traffic.
                C([]) is a VIP without backends.
            type: list
            elements: dict
            required: true
            suboptions:
              name:
                description: The pool's name, unique in the frontend.
                type: str
                required: true
              backends:
                description:
                  - Backend name (from O(config.backends)) to its membership, whose only key is
                    C(weight). C({}) or C(null) means weight 100.
                type: dict
                required: true
                suboptions:
                  weight:
                    description: The configured weight, 0 to 100.
                    type: int
                    default: 100
  running_config:
    description:
      - For O(state=parsed) only, the text of VPP's C(show lb vips verbose) command, to be turned
        into a C(maglev_lb) object in RV(parsed). VPP is not contacted.
    type: str
  lb_api_version:
    description:
      - For O(state=rendered) only, the LB API generation of the VPP the RV(rendered) commands are for
        (defaults to V(1.2.0)). V(1.2.0) is VPP master after v26.06 (AS weights); V(1.1.0) is VPP releases
        up to v26.06, which have no AS weights, so its C(lb as) commands carry no C(weight) and a backend
        of effective weight 0 is left out. See C(docs/vpp-versions.md).
    type: str
    choices: ["1.2.0", "1.1.0"]
  state:
    description:
      - V(merged) creates or updates each frontend of O(config); VIPs that O(config) does not declare
        are left alone. A declared frontend's backends are added, and weights set to their effective
        weight; application servers that VPP has on that VIP but the frontend does not list are
        B(kept) with their current weight (the task warns, naming them). Keys that O(config.conf) or
        a frontend leave out keep VPP's live values, as in Ansible's network resource modules, so a
        partial C(conf) or frontend never resets a setting or recreates a VIP. Nothing is ever
        removed, except by a recreate of a setting the frontend gives (whose ASes are added back).
      - >-
        V(replaced) makes each frontend of O(config) exactly as declared, its AS set included:
        application servers of that VIP that the frontend does not list are deleted (with flush),
        and keys left out of O(config.conf) and of a frontend take their defaults. VIPs that O(config)
        does not declare are left alone.
      - >-
        V(overridden) makes VPP's LB state exactly O(config): like V(replaced) for every declared
        frontend, and every VIP that O(config) does not declare is deleted (its ASes with flush
        first), including VIPs created by other tools.
      - V(deleted) deletes the VIPs of the frontends in O(config) (matched by prefix, protocol and
        port; their ASes are deleted with flush first); a O(config) without frontends deletes
        nothing. Only when O(config) is omitted is B(every) VIP deleted. C(lb_conf) is left as it is.
      - V(gathered) reads VPP's live LB state and returns it in RV(gathered) as a C(maglev_lb)
        object (the form M(maglev.vpp.lb_facts) returns). Nothing is changed.
      - >-
        V(rendered) returns in RV(rendered) the commands that would create O(config) on a freshly
        started VPP (default C(lb_conf), no VIPs), without contacting VPP (and without the agent's
        health view: every enabled backend counts as up).
      - V(parsed) turns O(running_config) into a C(maglev_lb) object in RV(parsed), without
        contacting VPP.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered, parsed]
    default: merged
  require_agent:
    description:
      - Refuse, before VPP is contacted, to push weights when the config has backends with a health
        check and no usable agent health view exists (they would be treated as up). Without it the
        task warns, naming those backends.
      - For O(state) V(merged), V(replaced) and V(overridden).
    type: bool
    default: false
  agent_config_mismatch:
    description:
      - What to do when a running agent (a fresh O(agent_state)) runs another config than the one
        pushed, so that it would undo the push at its next sync.
      - V(refuse) fails the task before VPP is contacted, naming the frontends that differ.
        V(warn) pushes anyway and warns, naming them.
      - For O(state) V(merged), V(replaced), V(overridden) and V(deleted).
    type: str
    choices: [refuse, warn]
    default: refuse
extends_documentation_fragment:
  - maglev.vpp.connection
  - maglev.vpp.connection.agent
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Plans against the live state and reports RV(commands), RV(after) and RV(blast_radius) without applying.
  diff_mode:
    support: full
    details: >-
      The diff is of the LB state (conf, VIPs, ASes and weights) before and after, not of the
      commands; when something changes, the blast radius follows it as text.
  platform:
    platforms: posix
notes:
  - Ownership between this module and the maglev agent (see the collection's C(docs/modules.md)).
    The structure (C(lb_conf), which VIPs exist, their settings, which ASes they have, configured
    weights) is declared here and pushed by this module; health (whether a backend is up, and so
    its effective weight) belongs to the agent, which publishes it in O(agent_state). Both compute
    plans with the same planner, so they agree on what "in sync" means.
  - With O(state=merged), ASes kept on a declared VIP because the frontend does not list them are
    drift for the agent if the agent manages the same frontend; the task warns about them.
  - Backends that no frontend uses draw a warning (they are probably a typo or a leftover).
  - On VPP releases up to 26.06 (LB API 1.1.0) VPP has no AS weights; there an effective weight of 0
    means the AS is removed and any other weight means it is present. A frontend with C(spill) whose
    new flows go to more than one pool draws a warning there with the split VPP makes (one equal share
    per AS) next to the planned one.
seealso:
  - module: maglev.vpp.lb_facts
"""

EXAMPLES = r"""
- name: Push the whole LB state declared in inventory (other VIPs are left alone)
  maglev.vpp.lb:
    config: "{{ maglev_lb }}"
    state: merged

- name: Make VPP hold exactly the declared state, deleting VIPs nobody declared
  maglev.vpp.lb:
    config: "{{ maglev_lb }}"
    state: overridden
  register: lb

- name: Show how new flows would move, per VIP (check mode shows it without applying)
  ansible.builtin.debug:
    msg: "{{ lb.blast_radius | map(attribute='summary') | list }}"

- name: Make one frontend exact (its AS set too), leave the rest alone
  maglev.vpp.lb:
    config:
      conf:
        ip4_src_address: 192.0.2.254
      backends:
        web1: {address: 198.51.100.11}
        web2: {address: 198.51.100.12}
      frontends:
        www-v4:
          prefix: 192.0.2.1/32
          protocol: tcp
          port: 80
          encap: gre4
          pools:
            - name: primary
              backends: {web1: {weight: 100}, web2: {weight: 50}}
    state: replaced

- name: Delete one frontend's VIP
  maglev.vpp.lb:
    config:
      backends: {web1: {address: 198.51.100.11}}
      frontends:
        www-v4: {prefix: 192.0.2.1/32, protocol: tcp, port: 80, pools: [{name: p, backends: {web1: {}}}]}
    state: deleted

- name: Delete every VIP (lb_conf is kept)
  maglev.vpp.lb:
    state: deleted

- name: Read the live state as a maglev_lb object
  maglev.vpp.lb:
    state: gathered
  register: live

- name: The commands that would build the declared state on an empty VPP (VPP not contacted)
  maglev.vpp.lb:
    config: "{{ maglev_lb }}"
    state: rendered
  delegate_to: localhost

- name: Parse the output of `vppctl show lb vips verbose`
  maglev.vpp.lb:
    running_config: "{{ lookup('ansible.builtin.file', 'show-lb-vips-verbose.txt') }}"
    state: parsed
  delegate_to: localhost

- name: A VPP with a non-default API socket and definitions from disk
  maglev.vpp.lb:
    config: "{{ maglev_lb }}"
    api_socket: /run/vpp/api-main.sock
    api_dir: /usr/share/vpp/api
    timeout: 10
  become: true
"""

RETURN = r"""
before:
  description:
    - VPP's LB state before the task, configuration only (no bucket counts, counters or pool indexes).
    - C(conf) is C(lb_conf) (C(null) fields could not be read back from this VPP); C(vips) is keyed
      by the VIP as VPP names it (C(prefix), or C(prefix protocol/port)). A VIP carries C(name), the
      frontend name, when O(config) declares it. C(ases) maps each AS address to its weight.
  returned: when O(state) is V(merged), V(replaced), V(overridden) or V(deleted)
  type: dict
  sample:
    conf:
      ip4_src_address: 192.0.2.254
      ip6_src_address: "2001:db8::fe"
      sticky_buckets_per_core: 1024
      flow_timeout: 40
    vips:
      192.0.2.1/32 tcp/80:
        prefix: 192.0.2.1/32
        protocol: tcp
        port: 80
        encap: gre4
        src_ip_sticky: true
        new_flows_table_length: 1024
        name: www-v4
        ases:
          198.51.100.11: 100
          198.51.100.12: 50
after:
  description:
    - The LB state after the task, in the form of RV(before), as the plan produces it (the plan is
      exact, so VPP holds it once applied; in check mode, what a real run would leave).
      C(null) when applying failed midway, and when the task was refused before applying anything
      (a conflict with a VIP that stays, a GRE VIP left without a source address).
    - As in Ansible's network resource modules, returned only when something changes (or would,
      in check mode); otherwise the state is RV(before), and a large LB state is not returned twice.
  returned: when changed or refused, with O(state) V(merged), V(replaced), V(overridden) or V(deleted)
  type: dict
  sample:
    conf:
      ip4_src_address: 192.0.2.254
      ip6_src_address: "2001:db8::fe"
      sticky_buckets_per_core: 1024
      flow_timeout: 40
    vips:
      192.0.2.1/32 tcp/80:
        prefix: 192.0.2.1/32
        protocol: tcp
        port: 80
        encap: gre4
        src_ip_sticky: true
        new_flows_table_length: 1024
        name: www-v4
        ases:
          198.51.100.11: 100
          198.51.100.12: 100
commands:
  description:
    - The planned changes, in order, one VPP CLI command each, which an operator can paste into
      C(vppctl) (for the connected VPP's LB API generation). Applied unless in check mode. Empty when
      VPP is already in the declared state. Why each is there is in RV(reasons).
  returned: when O(state) is V(merged), V(replaced), V(overridden) or V(deleted)
  type: list
  elements: str
  sample:
    - "lb as 192.0.2.1/32 protocol tcp port 80 198.51.100.12 weight 100"
reasons:
  description:
    - >-
      Why each command of RV(commands) (or of RV(rendered)) is there, in the same order. A recreate
      shows as C(recreate: <fields> changed).
  returned: when O(state) is V(merged), V(replaced), V(overridden), V(deleted) or V(rendered)
  type: list
  elements: str
  sample:
    - "weight 50 -> 100"
commands_applied:
  description: The commands VPP accepted before the one that failed (RV(failed_command)).
  returned: when applying failed midway
  type: list
  elements: str
  sample: ["lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024"]
commands_unknown:
  description:
    - The commands sent to VPP that it did not answer, because it did not answer in time (O(timeout))
      or the connection broke (VPP restarted); whether VPP applied them is unknown, so the task
      reports a change. The next run reads VPP's state and converges.
  returned: when VPP did not answer a change in time or the connection broke while applying
  type: list
  elements: str
commands_not_sent:
  description: The commands of the plan never sent to VPP because applying stopped before them.
  returned: when applying failed midway
  type: list
  elements: str
  sample: ["lb as 192.0.2.1/32 protocol tcp port 80 198.51.100.12 weight 50"]
failed_command:
  description: The command VPP refused, or during which the connection broke.
  returned: when applying failed midway
  type: str
  sample: "lb as 192.0.2.1/32 protocol tcp port 80 198.51.100.11 weight 100"
vpp_retval:
  description: VPP's return value for the refused request.
  returned: when VPP refused a request
  type: int
  sample: -81
vpp_error:
  description: The name of VPP's return value (C(VNET_API_ERROR_...) without the prefix).
  returned: when VPP refused a request
  type: str
  sample: VALUE_EXIST
blast_radius:
  description:
    - One entry per VIP whose share of new flows changes (or that is created, deleted or recreated),
      in VIP order; empty when nothing changes. Shares are fractions of the VIP's Maglev new-flow
      table (rounded to 4 decimals), from the table VPP builds, bucket by bucket, on the connected
      LB API generation.
    - C(moved_share) is exactly the share of buckets (so of new flows) whose AS changes, from the
      tables before and after the change; a recreate also flushes every sticky session of the VIP.
    - For O(state=rendered) the change is from a freshly started VPP.
  returned: when O(state) is V(merged), V(replaced), V(overridden), V(deleted) or V(rendered)
  type: list
  elements: dict
  contains:
    vip:
      description: The VIP, as VPP names it.
      type: str
    table_length:
      description: Length of the new-flow table (after the change; before it for a deleted VIP).
      type: int
    before:
      description: AS address to share of buckets before the change (empty for a created VIP).
      type: dict
    after:
      description: AS address to share of buckets after the change (empty for a deleted VIP).
      type: dict
    drop:
      description: Share of buckets no AS takes (new flows dropped), C(before) and C(after).
      type: dict
    moved_share:
      description: The share of new flows that goes to another AS (1.0 for a created or deleted VIP).
      type: float
    moved_buckets:
      description: The number of buckets whose AS changes (over the longer table when the length changes).
      type: int
    digest:
      description:
        - The digest of the VIP's new-flow table (as C(table_digest) in M(maglev.vpp.lb_facts)),
          C(before) and C(after).
      type: dict
    recreate:
      description: Whether the VIP is deleted and added back (an immutable setting changed).
      type: bool
    changed_fields:
      description: The settings whose change recreates the VIP.
      type: list
      elements: str
    created:
      description: Whether the VIP is new.
      type: bool
    deleted:
      description: Whether the VIP is deleted.
      type: bool
    summary:
      description: One line for humans.
      type: str
  sample:
    - vip: 192.0.2.1/32 tcp/80
      table_length: 1024
      before: {198.51.100.11: 0.6670, 198.51.100.12: 0.3330, 198.51.100.21: 0.0}
      after: {198.51.100.11: 0.5, 198.51.100.12: 0.5, 198.51.100.21: 0.0}
      drop: {before: 0.0, after: 0.0}
      moved_share: 0.2031
      moved_buckets: 208
      digest: {before: 5d1f0c2a9e3b4471, after: 0b8e61f4c2d7a935}
      recreate: false
      changed_fields: []
      created: false
      deleted: false
      summary: "192.0.2.1/32 tcp/80: 20.31% of new flows move to another AS"
agent:
  description:
    - The agent's health view that decided the effective weights.
    - C(used) is false when the state file is missing, stale, unreadable or has no results yet;
      every enabled backend then counts as up. C(reason) says which.
  returned: when O(state) is V(merged), V(replaced) or V(overridden)
  type: dict
  contains:
    path:
      description: The state file read (O(agent_state)).
      type: str
    used:
      description: Whether the agent's view was used.
      type: bool
    reason:
      description: Why the view was used or not, in plain words.
      type: str
    written_at:
      description: When the agent wrote the file (unix seconds), if it could be read.
      type: float
    health:
      description: Backend name to state (C(up), C(down), C(unknown), C(paused), C(disabled)) when used.
      type: dict
    running:
      description: Whether a fresh, valid state file shows a running agent (even when its view is not used).
      type: bool
    unreleased:
      description: Frontends the agent has not released yet (warm-up); VPP's live weights are kept for them.
      type: list
      elements: str
    config_digest:
      description: The digest of the config the running agent runs, when it publishes one.
      type: str
    config_differences:
      description: How the pushed config differs from the running agent's (empty when it matches).
      type: list
      elements: str
  sample:
    path: /run/maglev-agent/state.json
    used: true
    reason: "using agent state /run/maglev-agent/state.json written 1.2 s ago (2 up, 1 down)"
    written_at: 1767225600.25
    health: {web1: up, web2: up, dr1: down}
capabilities:
  description: What the connected VPP offers (LB API version, AS weights, transport, ...).
  returned: when VPP was contacted
  type: dict
  sample:
    lb_api_version: 1.2.0
    as_weights: true
    conf_get: true
    as_v2_dump: true
    route_lookup: true
    api_from_vpp: true
    transport: asyncio
gathered:
  description:
    - VPP's live LB state as a C(maglev_lb) object that this module accepts as O(config). VPP has no
      names, so backends are named after their address (C(:) written C(-)) and frontends after their
      VIP (C(192.0.2.1_32-tcp-80)); each frontend has one pool C(default) with VPP's current weights.
    - C(conf) is left out when VPP cannot report all of C(lb_conf) (LB API 1.1.0).
  returned: when O(state=gathered)
  type: dict
  sample:
    conf:
      ip4_src_address: 192.0.2.254
      ip6_src_address: "2001:db8::fe"
      sticky_buckets_per_core: 1024
      flow_timeout: 40
    backends:
      198.51.100.11: {address: 198.51.100.11}
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
            backends: {198.51.100.11: {weight: 100}}
rendered:
  description:
    - The VPP CLI commands that would create O(config) on a freshly started VPP (default C(lb_conf), no
      VIPs) of LB API generation O(lb_api_version), in order; they can be pasted into C(vppctl). Their
      reasons are in RV(reasons).
  returned: when O(state=rendered)
  type: list
  elements: str
  sample:
    - "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe buckets 1024 timeout 40"
    - "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024"
    - "lb as 192.0.2.1/32 protocol tcp port 80 198.51.100.11 weight 100"
parsed:
  description:
    - O(running_config) as a C(maglev_lb) object, in the form of RV(gathered). C(conf) is not part
      of C(show lb vips verbose), so it is left out.
  returned: when O(state=parsed)
  type: dict
  sample:
    backends:
      198.51.100.11: {address: 198.51.100.11}
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
            backends: {198.51.100.11: {weight: 100}}
errors:
  description: Every problem of the input, each prefixed with its path in O(config) (or the option name).
  returned: when the input is invalid
  type: list
  elements: str
  sample:
    - "frontends.www-v4.new_flows_table_length: 1000 is not a power of two"
    - "frontends.www-v4.prefix: 192.0.2.1/24 has host bits set, did you mean 192.0.2.0/24"
conflicts:
  description: VIP adds VPP would refuse because a VIP that stays occupies the prefix.
  returned: when the plan conflicts with VIPs that stay
  type: list
  elements: str
  sample: ["cannot add VIP 192.0.2.1/32 tcp/80: VPP already has VIP 192.0.2.1/32 on that prefix"]
"""

from ansible_collections.maglev.vpp.plugins.module_utils import lb_module, lb_results
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import compose, desired, schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import gc_paused

STATES = ("merged", "replaced", "overridden", "deleted", "gathered", "rendered", "parsed")


def main():
    # One run builds and drops some 100,000 objects (the state of 1,000 VIPs); cyclic GC passes
    # cost ~10% of a large no-op run here and would free nothing of note.
    with gc_paused():
        run_module()


def run_module():
    module = lb_module.ConfigModule(  # masks the credentials of config's health checks
        argument_spec=lb_module.argument_spec(
            agent=True,
            config=dict(type="dict"),
            running_config=dict(type="str"),
            state=dict(type="str", choices=list(STATES), default="merged"),
            lb_api_version=dict(type="str", choices=["1.2.0", "1.1.0"]),
            require_agent=dict(type="bool", default=False),
            agent_config_mismatch=dict(type="str", choices=["refuse", "warn"], default="refuse"),
        ),
        required_if=[
            ("state", "merged", ("config",)),
            ("state", "replaced", ("config",)),
            ("state", "overridden", ("config",)),
            ("state", "rendered", ("config",)),
            ("state", "parsed", ("running_config",)),
        ],
        supports_check_mode=True,
    )
    state = module.params["state"]
    result = dict(changed=False)
    if state != "rendered":
        lb_module.check_unused(module, ("lb_api_version",), state)

    if state == "parsed":
        lb_module.check_unused(module, ("config",), state)
        result["parsed"] = lb_module.parse_running_config(module, module.params["running_config"])
        module.exit_json(**result)
    lb_module.check_unused(module, ("running_config",), state)
    problems = lb_module.connection_problems(module.params)

    if state == "gathered":
        lb_module.check_unused(module, ("config",), state)
        if problems:
            lb_module.fail_invalid(module, problems)
        client = lb_module.connect(module)
        result["capabilities"] = lb_results.capabilities_result(client)
        actual = lb_module.dump(module, client, result)
        client.disconnect()
        result["gathered"] = lb_results.render_facts(module, actual)
        module.exit_json(**result)

    # Every other state validates the whole input before VPP is contacted.
    # merged: conf keys left out keep VPP's values; the merged conf is checked against the VIPs
    # before anything is sent (compose.source_address_problems).
    # deleted never touches the conf, so it takes a partial one as merged does.
    config = lb_module.parse_config(module, module.params["config"], problems,
                                    partial_conf=state in ("merged", "deleted"))

    if state == "rendered":
        want = desired.desired_state(config, None)
        result.update(lb_results.render_commands(want, module.params["lb_api_version"] or "1.2.0"))
        module.exit_json(**result)

    if state == "deleted":
        view = lb_module.read_agent_view(module)
        # The agent adds back what it runs: deleting one of its frontends is a push it undoes.
        if view.config is not None:
            gone = view.config.frontends if module.params["config"] is None else config.frontends
            lb_module.check_agent_config(module, view, None, result, deleted=gone)
        client = lb_module.connect(module)
        result["capabilities"] = lb_results.capabilities_result(client)
        actual = lb_module.dump(module, client, result)
        for name, frontend in config.frontends.items():
            if frontend.key in actual.vips:
                actual.vips[frontend.key].name = name  # VPP has no names: show the declared ones
        # Only an omitted config means "every VIP": a config without frontends names none.
        if module.params["config"] is None:
            keys = list(actual.vips)
        else:
            keys = [frontend.key for frontend in config.frontends.values()]
        want = compose.without_vips(actual, keys)
        lb_module.converge(module, client, want, actual, prune_vips=True, result=result)
        client.disconnect()
        module.exit_json(**result)

    # merged, replaced, overridden
    view = lb_module.read_agent_view(module, config)
    result["agent"] = lb_results.agent_view_result(module, view)
    lb_module.check_agent_view(module, view, config, result)
    undeclared = set(view.config.frontends) - set(config.frontends) if view.config and state == "overridden" else ()
    lb_module.check_agent_config(module, view, config, result, deleted=undeclared)
    want = desired.desired_state(config, view.health, view.adjustments)
    client = lb_module.connect(module, result)
    result["capabilities"] = lb_results.capabilities_result(client)
    actual = lb_module.dump(module, client, result)
    raw = schema.without_nulls(module.params["config"])  # null means "not given"
    if state == "merged":
        want = merge_live(want, actual, config, raw)
        warn_kept_ases(module, want, actual)
        lb_results.warn_dropped_ases(module, want, actual)
        want = compose.merge_kept_ases(want, actual)
    elif want.conf is not None:
        given_conf = set(schema.without_nulls(raw.get("conf") or {}))
        want.conf = compose.merge_live_conf(want.conf, given_conf, actual.conf, keep_live=False)
    # Frontends the agent has not released (warm-up) keep VPP's live weights.
    want = desired.hold_live_weights(want, actual, view.unreleased)
    if not client.capabilities.as_weights:
        warn_unweighted_spill(module, config, want)
    lb_module.converge(module, client, want, actual, prune_vips=state == "overridden", result=result)
    client.disconnect()
    module.exit_json(**result)


def merge_live(want, actual, config, raw):
    """`merged`: conf keys and frontend settings that the config leaves out keep VPP's live values."""
    frontends = raw.get("frontends") or {}
    given = {frontend.key: set(schema.without_nulls(frontends.get(name) or {}))
             for name, frontend in config.frontends.items()}
    want = compose.merge_live_settings(want, actual, given)
    if want.conf is not None:
        want.conf = compose.merge_live_conf(want.conf, set(schema.without_nulls(raw.get("conf") or {})), actual.conf)
    return want


def warn_unweighted_spill(module, config, want):
    """LB API 1.1.0: what a spilled frontend's new flows do instead of the planned split."""
    for _name, warning in sorted(compose.spill_without_weights(config, want.vips.values()).items()):
        module.warn(warning)


def warn_kept_ases(module, want, actual):
    for key, addresses in compose.kept_ases(want, actual).items():
        vip = want.vips[key]
        label = f"VIP {key}" + (f" (frontend {vip.name})" if vip.name else "")
        module.warn(
            f"{label} keeps AS{'es' if len(addresses) > 1 else ''} {', '.join(addresses)}: VPP has"
            f" {'them' if len(addresses) > 1 else 'it'} and the config does not list"
            f" {'them' if len(addresses) > 1 else 'it'}, and state merged never removes an AS"
            " (state replaced removes ASes a frontend does not list)"
        )


if __name__ == "__main__":
    main()
