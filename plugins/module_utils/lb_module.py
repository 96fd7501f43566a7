# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Glue shared by the maglev.vpp modules: argument spec -> core -> result.

This is the only module_utils file that imports Ansible. It owns what every module does the
same way: the connection options, turning core errors into failed tasks with actionable
messages, validating the whole input before the first API call, reading the agent's health
view, and running a plan (check mode, apply with partial-failure report, diff). The result
values and warnings it reports are built in lb_results; the LB logic itself lives in the core
(``vpp_lb``).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Set

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.maglev.vpp.plugins.module_utils import lb_results
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import (
    agent_state,
    blast,
    cli_parser,
    compose,
    config_digest,
    facts,
    model,
    papi_session,
    planner,
    redact,
    schema,
    unix_socket,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import (
    DEFAULT_API_SOCKET,
    DEFAULT_STATS_SOCKET,
    DEFAULT_TIMEOUT,
    VppLbClient,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.errors import (
    ApplyError,
    VppApiMissingError,
    VppConnectError,
    VppDisconnectedError,
    VppError,
    VppRetvalError,
    VppTimeoutError,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.stats import LbStatsReader

DEFAULT_AGENT_STATE = agent_state.DEFAULT_PATH
DEFAULT_AGENT_STATE_MAX_AGE = 30.0

# Keep in sync with plugins/doc_fragments/connection.py (validate-modules compares them): the
# fragment's DOCUMENTATION, STATS and AGENT parts document these three groups.
CONNECTION_ARGUMENT_SPEC = dict(
    api_socket=dict(type="path", default=DEFAULT_API_SOCKET),
    api_dir=dict(type="path"),
    timeout=dict(type="float", default=DEFAULT_TIMEOUT),
)
STATS_ARGUMENT_SPEC = dict(
    stats_socket=dict(type="path", default=DEFAULT_STATS_SOCKET),
)
AGENT_ARGUMENT_SPEC = dict(
    agent_state=dict(type="path", default=DEFAULT_AGENT_STATE),
    agent_state_max_age=dict(type="float", default=DEFAULT_AGENT_STATE_MAX_AGE),
)


class ConfigModule(AnsibleModule):
    """An AnsibleModule whose ``config`` option may hold secrets (health check credentials):
    their values are masked, as ``no_log`` masks an option, in the syslog/journal line that
    AnsibleModule writes, in ``invocation.module_args`` and in every result and message. (``no_log``
    on ``config`` itself would mask every address and name of the result too.)

    A ``config`` given as JSON text (what the lb action plugin hands over) is echoed in
    ``invocation.module_args`` as JSON text again, with the secrets masked: echoing the parsed
    object would cost Ansible a walk over every node of a large state, on both sides."""

    def _load_params(self) -> None:
        # Runs inside AnsibleModule.__init__ before the arguments are validated: a validation
        # failure echoes them, so the secrets must be known from here on.
        super()._load_params()
        raw = self.params.get("config")
        self._config_document = config_document(raw)
        self._config_given_as_text = isinstance(raw, str)
        self.no_log_values.update(secret_forms(self._config_document))

    def exit_json(self, **kwargs: Any) -> None:
        self._echo_config_as_text(kwargs)
        super().exit_json(**kwargs)

    def fail_json(self, msg: str, **kwargs: Any) -> None:
        self._echo_config_as_text(kwargs)
        super().fail_json(msg, **kwargs)

    def _echo_config_as_text(self, kwargs: Dict[str, Any]) -> None:
        if not self._config_given_as_text or "invocation" in kwargs:
            return
        echo = masked_json(self._config_document, self.no_log_values)
        kwargs["invocation"] = {"module_args": dict(self.params, config=echo)}


NOT_JSON = "(not JSON text, not echoed)"


def config_document(raw: Any) -> Any:
    """``config`` as an object: itself, or parsed when given as JSON text (None when that fails)."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return None


def secret_forms(document: Any) -> Set[str]:
    """The secrets of a config object, each also as it is spelled inside JSON text."""
    secrets = redact.secret_values(document)
    escaped = {json.dumps(secret, ensure_ascii=ascii)[1:-1] for secret in secrets for ascii in (True, False)}
    return secrets | escaped


def masked_json(document: Any, no_log_values: Set[str]) -> str:
    """``document`` as JSON text with every no_log value (in its JSON spelling) masked."""
    if document is None:
        return NOT_JSON
    text = json.dumps(document, separators=(",", ":"))
    # Longest first, so a credential inside a masked header value cannot be left half shown.
    for value in sorted((v for v in no_log_values if v), key=len, reverse=True):
        text = text.replace(json.dumps(value)[1:-1], "********")
    return text


def argument_spec(*, stats: bool = False, agent: bool = False, **options: dict) -> dict:
    """A module's argument spec: its own options plus the connection options, and the stats
    socket or the agent's state file only for modules that read them (options appear only where
    they act)."""
    spec = {name: dict(value) for name, value in CONNECTION_ARGUMENT_SPEC.items()}
    if stats:
        spec.update({name: dict(value) for name, value in STATS_ARGUMENT_SPEC.items()})
    if agent:
        spec.update({name: dict(value) for name, value in AGENT_ARGUMENT_SPEC.items()})
    spec.update(options)
    return spec


# ---------------------------------------------------------------------------------------------
# Input validation: everything is checked before VPP is contacted


def connection_problems(params: dict) -> List[str]:
    """Problems with the shared connection options, each naming the option."""
    problems = []
    if params["timeout"] is not None and not params["timeout"] > 0:
        problems.append(f"timeout: must be a positive number of seconds, got {params['timeout']}")
    max_age = params.get("agent_state_max_age")
    if max_age is not None and not max_age >= 0:
        problems.append(f"agent_state_max_age: must not be negative, got {max_age}")
    return problems


def fail(module, msg: str, result: Optional[Dict[str, Any]] = None, **extra: Any) -> None:
    """Fail the task with ``msg``, the result so far and ``extra`` keys (``changed`` defaults to false)."""
    values: Dict[str, Any] = dict(result or {})
    values.update(extra)
    values.setdefault("changed", False)
    values["msg"] = msg
    module.fail_json(**values)


def fail_invalid(module, problems: List[str], what: str = "invalid module arguments") -> None:
    """Fail the task listing every problem (VPP was not touched)."""
    count = len(problems)
    fail(module, f"{what} ({count} problem{'s' if count != 1 else ''}; VPP was not touched): " + "; ".join(problems),
         errors=problems)


def parse_config(
    module, raw: Any, extra_problems: Optional[List[str]] = None, partial_conf: bool = False
) -> schema.LbConfig:
    """The typed config, or a failed task listing every problem of ``raw`` with its path.

    ``extra_problems`` (e.g. bad connection options) are reported in the same failure, so one
    run shows everything that is wrong.
    """
    what = "invalid config (a maglev_lb object)" if not extra_problems else "invalid input"
    return parse_document(
        module, {} if raw is None else raw, extra_problems=extra_problems, what=what, partial_conf=partial_conf
    )


def parse_document(
    module,
    document: Any,
    rename: Optional[Callable[[str], str]] = None,
    extra_problems: Optional[List[str]] = None,
    what: str = "invalid module arguments",
    partial_conf: bool = False,
) -> schema.LbConfig:
    """``document`` (a maglev_lb object) through the one validator, or a failed task.

    Modules that take a part of the schema as options (lb_conf, lb_vip, lb_as) build the
    document from their options and pass ``rename`` to turn the schema's paths back into
    option names.
    """
    problems = list(extra_problems or [])
    config = None
    warnings: List[str] = []
    try:
        config, warnings = schema.parse_config_with_warnings(document, partial_conf=partial_conf)
    except schema.ConfigError as exc:
        problems.extend(rename(error) if rename else error for error in exc.errors)
    if problems:
        fail_invalid(module, problems, what)
    for warning in warnings:
        module.warn(rename(warning) if rename else warning)
    return config


def renamer(prefixes: Dict[str, str]) -> Callable[[str], str]:
    """A ``rename`` for parse_document: schema path prefixes -> option names (first match wins)."""

    def rename(error: str) -> str:
        for old, new in prefixes.items():
            if error.startswith(old):
                return new + error[len(old):]
        return error

    return rename


def check_unused(module, names, state: str) -> None:
    """Fail when an option that ``state`` does not use is given (it would be silently ignored)."""
    given = [name for name in names if module.params.get(name) is not None]
    if given:
        fail_invalid(module, [f"{name}: not used with state {state}" for name in given])


def parse_running_config(module, text: str) -> Dict[str, Any]:
    """``show lb vips verbose`` text as a maglev_lb object (no VPP needed)."""
    try:
        state = facts.state_from_parsed(cli_parser.parse_vips_verbose(text))
    except ValueError as exc:  # CliParseError, or values no VPP prints (e.g. an impossible VIP)
        fail_invalid(module, [f"running_config: {exc}"], "running_config is not `show lb vips verbose` output")
    return lb_results.render_facts(module, state)


# ---------------------------------------------------------------------------------------------
# The agent's health view


def read_agent_view(module, config: Optional[schema.LbConfig] = None) -> agent_state.AgentView:
    """The agent's view, its distrust rule computed over ``config``'s backends when given."""
    return agent_state.read_agent_health(module.params["agent_state"], module.params["agent_state_max_age"],
                                         backends=config.backends if config is not None else None)


def check_agent_view(module, view: agent_state.AgentView, config: schema.LbConfig,
                     result: Dict[str, Any]) -> None:
    """Say loudly (or refuse, with ``require_agent``) when backends with a health check are
    treated as up because no usable agent view exists: a down one would get traffic.

    Runs before VPP is contacted, so a refusal changes nothing.
    """
    if view.health is not None:
        return
    used = {name for frontend in config.frontends.values() for name in frontend.backend_names()}
    watched = sorted(name for name in used if config.backends[name].enabled and config.backends[name].healthcheck)
    if not watched:
        return
    msg = (f"the agent's health view is not used ({view.reason}), so {len(watched)} backend(s) with a health check"
           f" are treated as up and get their configured weights, even if they are down: {', '.join(watched)}")
    if module.params["require_agent"]:
        fail(module, msg + "; require_agent is set, so nothing was changed (start the agent, or wait until"
             " it has health results)", result)
    module.warn(msg)


def check_agent_config(module, view: agent_state.AgentView, config: Optional[schema.LbConfig],
                       result: Dict[str, Any], deleted: Any = ()) -> None:
    """Refuse (or warn, with ``agent_config_mismatch: warn``) a push that the running agent
    would undo because it runs another config; ``deleted`` names the frontends the push deletes.

    Runs before VPP is contacted, so a refusal changes nothing. Sets ``agent.config_differences``.
    """
    if not view.fresh:
        return
    path = module.params["agent_state"]
    if view.config is None:
        module.warn(f"the agent running on this host ({path}) does not publish which config it runs (an older"
                    " agent), so this push cannot be checked against it: what it does not share, it undoes at"
                    " its next sync")
        return
    pushed = config_digest.config_digest(config) if config is not None else config_digest.ConfigDigest(whole="")
    differences = config_digest.mismatches(pushed, view.config, deleted)
    result.setdefault("agent", {})["config_differences"] = differences
    if not differences:
        return
    how = ("deploy this config to the agent first (role maglev.vpp.agent; playbooks/site.yml deploys it and waits"
           " until the agent runs it before pushing)")
    what = (f"the agent running on this host ({path}) runs another config and would undo this push at its next"
            f" sync: {'; '.join(differences)}")
    if module.params["agent_config_mismatch"] == "warn":
        module.warn(f"{what}. Pushing anyway (agent_config_mismatch: warn); to keep the change, {how}")
        return
    fail(module, f"{what}. Nothing was changed: {how}, or set agent_config_mismatch: warn to push anyway",
         result, agent_config_differences=differences)


# ---------------------------------------------------------------------------------------------
# VPP access with failures that say what failed


def connect(module, result: Optional[Dict[str, Any]] = None) -> VppLbClient:
    """A connected client, or a failed task naming the socket, permission or missing messages."""
    params = module.params
    if papi_session.VPPApiClient is None:
        fail(module, missing_required_lib("vpp_papi", reason="to talk to VPP's binary API"), result,
             exception=str(papi_session.VPP_PAPI_IMPORT_ERROR))
    client = VppLbClient(api_socket=params["api_socket"], api_dir=params["api_dir"], timeout=params["timeout"],
                         name="maglev-vpp-ansible")
    try:
        client.connect()
    except VppApiMissingError as exc:
        fail(module, f"cannot use VPP at {params['api_socket']}: {exc}", result, missing_messages=exc.missing)
    except VppConnectError as exc:
        fail(module, f"cannot connect to VPP: {exc}", result)
    except (VppError, OSError) as exc:
        fail(module, f"cannot connect to VPP at {params['api_socket']}: {exc}", result)
    return client


def fail_vpp(module, client: VppLbClient, exc: BaseException, doing: str,
             result: Optional[Dict[str, Any]] = None) -> None:
    """Fail with a message naming what was being done, VPP's socket and, for retvals, the error name."""
    client.disconnect()
    where = f"VPP at {client.api_socket}"
    extra: Dict[str, Any] = {}
    if isinstance(exc, VppRetvalError):
        extra = dict(vpp_retval=exc.retval, vpp_error=exc.error_name)
        msg = f"{doing}: {where} refused {exc}"
    elif isinstance(exc, VppDisconnectedError):
        msg = f"{doing}: lost the connection to {where}: {exc} (did VPP restart?)"
    elif isinstance(exc, VppApiMissingError):
        msg = f"{doing}: {where}: {exc}"
        extra = dict(missing_messages=exc.missing)
    else:
        msg = f"{doing}: {where}: {exc}"
    fail(module, msg, result, **extra)


def dump(module, client: VppLbClient, result: Optional[Dict[str, Any]] = None) -> model.LbState:
    """VPP's live LB state, in one round of dumps."""
    try:
        return client.dump()
    except (VppError, ValueError) as exc:  # ValueError: CLI text the parser does not understand
        fail_vpp(module, client, exc, "reading the LB state", result)
    return model.LbState()  # not reached


def dump_conf(module, client: VppLbClient, result: Optional[Dict[str, Any]] = None) -> model.LbConf:
    """VPP's lb_conf alone (fields VPP cannot report are None)."""
    try:
        return client.dump_conf()
    except (VppError, ValueError) as exc:
        fail_vpp(module, client, exc, "reading lb_conf", result)
    return model.LbConf()  # not reached


def read_counters(module, client: VppLbClient, state: model.LbState) -> Optional[Dict[model.VipKey, model.VipCounters]]:
    """Per VIP: the four LB counters and the VIP's FIB route counter, from the stats segment.

    None (with a warning) when the stats segment cannot be read; the caller may then fall back
    to the counters VPP prints in ``show lb vips verbose`` (no route counter there).
    """
    reader = LbStatsReader(module.params["stats_socket"])
    try:
        reader.connect()
        indexes = {key: vip.index for key, vip in state.vips.items() if vip.index is not None}
        lb_counters = reader.vip_counters(indexes)
        by_prefix = client.route_stats_indexes(key.prefix for key in state.vips)
        route_indexes = {key: by_prefix[key.prefix] for key in state.vips if by_prefix[key.prefix] is not None}
        routes = reader.route_counters(route_indexes)
    except (VppError, OSError) as exc:
        path = module.params["stats_socket"]
        # The stats client's own words ("Protocol wrong type for socket") do not say which socket.
        cause = unix_socket.file_problem(path, unix_socket.STATS) or unix_socket.probe(path, unix_socket.STATS)
        module.warn(f"cannot read counters from VPP's stats segment ({cause or exc}); counters come from"
                    " `show lb vips verbose` instead, without the route counters")
        return None
    finally:
        reader.disconnect()
    counters = {}
    for key in state.vips:
        packets, octets = routes.get(key, (None, None))
        counters[key] = model.VipCounters(route_packets=packets, route_bytes=octets, **lb_counters.get(key, {}))
    return counters


# ---------------------------------------------------------------------------------------------
# Running a plan


def refuse(module, client: Optional[VppLbClient], result: Dict[str, Any], msg: str, **extra: Any) -> None:
    """Fail a task whose plan was not applied at all: unchanged, no predicted ``after`` or diff."""
    if client is not None:
        client.disconnect()
    result.update(changed=False, after=None)
    result.pop("diff", None)
    fail(module, msg, result, **extra)


def converge(
    module,
    client: Optional[VppLbClient],
    want: model.LbState,
    actual: model.LbState,
    *,
    prune_vips: bool = False,
    as_weights: Optional[bool] = None,
    result: Dict[str, Any],
    view: Optional[Callable[[model.LbState], Any]] = None,
    conflict_hint: str = "remove that VIP first, or use state overridden to make VPP hold exactly the declared VIPs",
    push_unreadable_conf: bool = False,
) -> Dict[str, Any]:
    """Plan ``want`` against ``actual``; apply unless in check mode (or ``client`` is None).

    Fills ``result`` with ``commands``, ``changed``, ``before``, ``after`` (only with a change),
    ``blast_radius``, ``diff`` (with --diff) and recreate warnings. Refuses, before touching VPP, a plan that VPP
    would reject because a VIP that stays blocks an add. On a failed apply, the task fails with
    ``commands_applied`` (what VPP accepted), ``commands_unknown`` (sent, unanswered),
    ``commands_not_sent`` and ``failed_command``. ``view`` turns a state
    into the ``before``/``after`` values (default: the whole LB state, configuration only).
    """
    view = view or lb_results.state_result
    if as_weights is None:
        as_weights = client.capabilities.as_weights if client is not None else True
    ops = planner.plan(want, actual, prune_vips=prune_vips, as_weights=as_weights,
                       push_unreadable_conf=push_unreadable_conf)
    sends_conf = any(op.action == model.SET_CONF for op in ops)
    for name in compose.unreadable_conf(want.conf, actual.conf):
        if push_unreadable_conf:
            module.warn(f"this VPP (LB API 1.1.0) cannot report conf {name}: the given value is sent on"
                        " every run and cannot be verified (leave it out to keep VPP's value)")
        elif not sends_conf:
            module.warn(f"this VPP (LB API 1.1.0) cannot report conf {name}, so it is not compared and was"
                        " not sent (nothing else in lb_conf changed); maglev.vpp.lb_conf sends it")
    commands = [op.describe(as_weights) for op in ops]
    before = view(compose.named_like(actual, want))
    after = before
    result.update(changed=bool(ops), commands=commands, reasons=[op.reason for op in ops], before=before,
                  blast_radius=[])
    if not as_weights:
        for warning in compose.unhonoured_weights(want):
            module.warn(warning)
    predicted = actual
    if ops:
        # As in Ansible's network resource modules, `after` comes only with a change: on a
        # no-op it would repeat `before`, which for a large LB state is most of the result.
        predicted = compose.predict_after(want, actual, prune_vips=prune_vips, as_weights=as_weights)
        after = view(predicted)
        result.update(after=after, blast_radius=blast.plan_blast_radius(
            actual, predicted, "1.2.0" if as_weights else "1.1.0"))
    if module._diff:
        state_diff = dict(
            before=before if before is not None else {},
            after=after if after is not None else {},
            before_header=f"LB state of VPP at {module.params['api_socket']} (before)",
            after_header=f"LB state of VPP at {module.params['api_socket']} (after)",
        )
        if ops:
            # Printed after the state diff with --diff (Ansible's callbacks show "prepared" as is).
            state_diff["prepared"] = lb_results.blast_text(result["blast_radius"])
        result["diff"] = state_diff

    # Only a VIP add can be refused; a plan without one (a no-op, weight changes) needs no check.
    adds_vips = any(op.action == model.ADD_VIP for op in ops)
    blocked = planner.conflicts(want, actual, prune_vips=prune_vips, as_weights=as_weights) if adds_vips else []
    if blocked:
        refuse(module, client, result,
               "VPP would refuse this change, so nothing was applied: " + "; ".join(blocked) + f" ({conflict_hint})",
               conflicts=blocked)
    # A declared conf is checked against every GRE VIP that exists after the run, live ones too.
    sources = compose.source_address_problems(predicted) if ops and want.conf is not None else []
    if sources:
        refuse(module, client, result,
               "this change would leave GRE VIPs without a tunnel source address, so nothing was applied: "
               + "; ".join(sources), errors=sources)
    # Checked on what will be sent (declared merged with live), whichever module built it.
    crashes = planner.crash_triggers(want, ops)
    if crashes:
        refuse(module, client, result,
               "this change would crash VPP, so nothing was applied: " + "; ".join(crashes), errors=crashes)

    for warning in lb_results.recreate_warnings(want, actual, module.check_mode or client is None):
        module.warn(warning)

    if not ops or module.check_mode or client is None:
        return result
    try:
        client.apply(ops)
    except ApplyError as exc:
        applied = [op.describe(as_weights) for op in exc.applied]
        failed = exc.failed.describe(as_weights) if isinstance(exc.failed, model.Op) else str(exc.failed)
        cause = exc.cause
        # Sent but unanswered (VPP stalled or went away): VPP may or may not have applied them.
        unknown = [op.describe(as_weights) for op in exc.in_doubt]
        not_sent = [op.describe(as_weights) for op in exc.not_sent]
        extra: Dict[str, Any] = dict(commands_applied=applied, failed_command=failed, commands_not_sent=not_sent)
        if unknown:
            extra.update(commands_unknown=unknown)
        if isinstance(cause, VppRetvalError):
            extra.update(vpp_retval=cause.retval, vpp_error=cause.error_name)
            what = f"VPP refused `{failed}`: {cause.message} returned {cause.retval} ({cause.error_name})"
        elif isinstance(cause, VppTimeoutError):
            what = (f"no answer from VPP at {client.api_socket} to `{failed}` within {client.timeout}s, so"
                    " whether VPP applied it is unknown (see commands_unknown)")
        elif isinstance(cause, VppDisconnectedError):
            what = (f"lost the connection to VPP at {client.api_socket} at `{failed}`: {cause} (did VPP restart?);"
                    f" {len(unknown)} sent without an answer (see commands_unknown)")
        else:
            what = f"`{failed}` failed: {cause}"
        client.disconnect()
        result.pop("diff", None)
        # An unknown outcome may be a change: reporting "unchanged" could hide one.
        result.update(changed=bool(applied) or bool(unknown), after=None)
        fail(
            module,
            f"{what}; {len(applied)} of {len(ops)} operation(s) were applied (see commands_applied),"
            f" {len(not_sent)} not sent (see commands_not_sent); rerun to converge once the cause is fixed",
            result,
            **extra,
        )
    except VppError as exc:
        fail_vpp(module, client, exc, "applying the plan", result)
    return result
