"""The agent's configuration file: ``maglev_lb`` (the core schema) plus an ``agent:`` section.

One file, one validator: the LB part goes through the core's ``schema.parse_config`` (exactly
what the modules accept), the ``agent:`` section through the same field readers, and every
problem comes back with its path. ``load_config`` raises ConfigFileError (the file cannot be
read or is not YAML: exit 1 of ``--check``) or schema.ConfigError (semantic problems: exit 2).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from ..plugins.module_utils.vpp_lb import agent_state, schema
from ..plugins.module_utils.vpp_lb.client import DEFAULT_API_SOCKET, DEFAULT_STATS_SOCKET

DEFAULT_CONFIG_PATH = "/etc/maglev-agent/config.yaml"
DEFAULT_STATUS_SOCKET = "/run/maglev-agent/status.sock"
DEFAULT_METRICS_LISTEN = "127.0.0.1:9091"
# Kept across reboots (systemd StateDirectory=maglev-agent): persisted operator decisions.
DEFAULT_STATE_DIR = "/var/lib/maglev-agent"
LOG_LEVELS = ("debug", "info", "warning", "error")

AGENT_KEYS = (
    "vpp",
    "status_socket",
    "status_socket_group",
    "state_file",
    "state_dir",
    "metrics",
    "sync_interval",
    "stats_interval",
    "warmup",
    "probe_netns",
    "transition_history",
    "log_level",
    "announce",
)
ANNOUNCE_RETRY_KEYS = ("retry_interval", "retry_max_interval")
VPP_KEYS = ("api_socket", "stats_socket", "api_dir", "timeout")
METRICS_KEYS = ("listen",)
WARMUP_KEYS = ("min_delay", "max_delay")
MAX_HISTORY = 100
# POSIX-portable user/group names (useradd's default rule), at most 32 characters.
GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,30}[A-Za-z0-9_.$-]?")


class ConfigFileError(Exception):
    """The file cannot be read or is not YAML (``--check`` exit code 1)."""


@dataclass(frozen=True)
class VppSettings:
    api_socket: str = DEFAULT_API_SOCKET
    stats_socket: str = DEFAULT_STATS_SOCKET
    api_dir: Optional[str] = None  # None: definitions from VPP itself (get_api_json)
    timeout: float = 5.0  # per API request


@dataclass(frozen=True)
class AgentSettings:
    vpp: VppSettings = field(default_factory=VppSettings)
    status_socket: str = DEFAULT_STATUS_SOCKET
    status_socket_group: Optional[str] = None  # None: the agent's own group owns the socket
    state_file: str = agent_state.DEFAULT_PATH
    state_dir: str = DEFAULT_STATE_DIR  # persisted operator state (the role creates it)
    metrics_listen: Optional[Tuple[str, int]] = ("127.0.0.1", 9091)  # None: no exporter
    sync_interval: float = 30.0
    stats_interval: float = 5.0
    warmup_min_delay: float = 5.0
    warmup_max_delay: float = 30.0
    probe_netns: str = ""  # "": probes run in the agent's own namespace
    transition_history: int = 5
    log_level: str = "info"
    # Route announcement (agent/announce.py): the default hook of frontends without their own.
    announce_command: Tuple[str, ...] = ()  # (): no default hook
    announce_timeout: float = 10.0
    announce_retry_interval: float = 5.0  # after a failed run; doubles up to the max
    announce_retry_max_interval: float = 60.0


@dataclass(frozen=True)
class AgentConfig:
    lb: schema.LbConfig
    settings: AgentSettings
    raw: Mapping[str, Any]  # the file as read, for diffs and the status API


# libyaml's safe loader when PyYAML was built with it: 4-5x less CPU than the pure-Python one
# (1.7 s against 0.37 s for 5,000 backends; docs/performance.md, "Agent"), the same documents.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path: str) -> Any:
    """The YAML document in ``path``; ConfigFileError when unreadable or not YAML."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        pass  # read again by PyYAML's own parser, whose messages quote the offending text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: not valid YAML: {yaml_error_text(exc)}") from exc


_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.)*'")  # PyYAML quotes tokens with %r


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without the file's text: PyYAML's own message quotes the line
    and names tokens (an unquoted ``*secret`` reads as an alias), and a config line may hold a
    health check's credential. Only single quoted characters (``'\\t'``) are kept."""
    mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return _QUOTED_RE.sub(_one_char_or_elided, f"{context + ': ' if context else ''}{problem}{where}")


def _one_char_or_elided(match: re.Match) -> str:
    try:
        one_char = len(ast.literal_eval(match.group(0))) == 1
    except (ValueError, SyntaxError):
        one_char = False
    return match.group(0) if one_char else "'...'"


def parse_agent_config(document: Any) -> AgentConfig:
    """Typed config from a parsed document; schema.ConfigError lists every problem."""
    if document is None:
        document = {}
    errors: List[str] = []
    try:
        lb = schema.parse_config(document)
    except schema.ConfigError as exc:
        errors.extend(exc.errors)
        lb = None
    section = document.get("agent") if isinstance(document, Mapping) else None
    settings, agent_errors = parse_agent_settings(section)
    errors.extend(agent_errors)
    if errors:
        raise schema.ConfigError(errors)
    return AgentConfig(lb=lb, settings=settings, raw=document)


def load_config(path: str) -> AgentConfig:
    return parse_agent_config(read_document(path))


def check_config_file(path: str) -> Tuple[int, List[str]]:
    """``--check``: (exit code, messages). 0 valid, 1 unreadable or not YAML, 2 invalid."""
    try:
        config = load_config(path)
    except ConfigFileError as exc:
        return 1, [str(exc)]
    except schema.ConfigError as exc:
        return 2, [f"{path}: {error}" for error in exc.errors]
    lb = config.lb
    summary = (
        f"{path}: valid ({len(lb.frontends)} frontends, {len(lb.backends)} backends,"
        f" {len(lb.healthchecks)} healthchecks)"
    )
    return 0, [summary]


def parse_agent_settings(section: Any) -> Tuple[AgentSettings, List[str]]:
    """The ``agent:`` section (absent or null: every default), with errors under ``agent.``."""
    parser = schema.FieldParser()
    settings = _SettingsReader(parser).read(section)
    return settings, parser.errors


class _SettingsReader:
    def __init__(self, parser: schema.FieldParser) -> None:
        self.p = parser

    def read(self, section: Any) -> AgentSettings:
        if section is None:
            return AgentSettings()
        data = self.p.fields(section, "agent", AGENT_KEYS)
        if data is None:
            return AgentSettings()
        values: Dict[str, Any] = {}
        if data.get("vpp") is not None:
            values["vpp"] = self.vpp(data["vpp"])
        for key in ("status_socket", "state_file", "state_dir"):
            if key in data:
                value = self.path(data[key], f"agent.{key}")
                if value is not None:
                    values[key] = value
        if data.get("status_socket_group") is not None:
            group = self.group(data["status_socket_group"], "agent.status_socket_group")
            if group is not None:
                values["status_socket_group"] = group
        if data.get("metrics") is not None:
            metrics = self.p.fields(data["metrics"], "agent.metrics", METRICS_KEYS)
            if metrics is not None and "listen" in metrics:
                values["metrics_listen"] = self.listen(metrics["listen"], "agent.metrics.listen")
        for key, low in (("sync_interval", 1.0), ("stats_interval", 0.1)):
            if key in data:
                seconds = self.p.duration(data[key], f"agent.{key}", low)
                if seconds is not None:
                    values[key] = seconds
        if data.get("warmup") is not None:
            values.update(self.warmup(data["warmup"]))
        if data.get("probe_netns") is not None:
            name = self.p.string(data["probe_netns"], "agent.probe_netns", allow_empty=True)
            if name and ("/" in name or name in (".", "..")):
                self.p.error("agent.probe_netns", f"{name!r} is not a namespace name (as in `ip netns list`)")
            elif name is not None:
                values["probe_netns"] = name
        if "transition_history" in data:
            count = self.p.integer(data["transition_history"], "agent.transition_history", 1, MAX_HISTORY)
            if count is not None:
                values["transition_history"] = count
        if "log_level" in data:
            level = self.p.choice(data["log_level"], "agent.log_level", LOG_LEVELS)
            if level is not None:
                values["log_level"] = level
        if data.get("announce") is not None:
            values.update(self.announce(data["announce"]))
        return AgentSettings(**values)

    def announce(self, value: Any) -> Dict[str, Any]:
        """``agent.announce``: the default hook (the frontends' ``announce`` keys) plus retries."""
        hook = self.p.announce(value, "agent.announce", ANNOUNCE_RETRY_KEYS)
        if hook is None:
            return {}
        values: Dict[str, Any] = {"announce_command": hook.command}
        if hook.timeout is not None:
            values["announce_timeout"] = hook.timeout
        given = {key: seconds for key, seconds in value.items() if seconds is not None}  # null: the default
        values.update(self.durations(given, "announce", ANNOUNCE_RETRY_KEYS, 0.1))
        self.in_order(values, "announce", "retry_interval", "retry_max_interval")
        return values

    def durations(self, data: Dict[str, Any], section: str, keys: Tuple[str, ...], low: float) -> Dict[str, float]:
        """Each of ``keys`` that ``data`` (the section ``agent.<section>``) holds, a duration of at
        least ``low`` seconds, keyed by its AgentSettings field ``<section>_<key>``."""
        values: Dict[str, float] = {}
        for key in keys:
            if key in data:
                seconds = self.p.duration(data[key], f"agent.{section}.{key}", low)
                if seconds is not None:
                    values[f"{section}_{key}"] = seconds
        return values

    def in_order(self, values: Dict[str, float], section: str, low_key: str, high_key: str) -> None:
        """A section's shorter and longer duration in order (the defaults standing in for unset ones)."""
        low = values.get(f"{section}_{low_key}", getattr(AgentSettings, f"{section}_{low_key}"))
        high = values.get(f"{section}_{high_key}", getattr(AgentSettings, f"{section}_{high_key}"))
        if low > high:
            self.p.error(f"agent.{section}.{high_key}", f"{schema.format_duration(high)} must not be shorter than"
                         f" {low_key} {schema.format_duration(low)}")

    def path(self, value: Any, where: str) -> Optional[str]:
        text = self.p.string(value, where)
        if text is not None and not text.startswith("/"):
            self.p.error(where, f"{text} must be an absolute path")
            return None
        return text

    def group(self, value: Any, where: str) -> Optional[str]:
        """A group name (its existence is the agent host's business: checked when the socket is made)."""
        text = self.p.string(value, where)
        if text is not None and not GROUP_NAME.fullmatch(text):
            self.p.error(where, f"{text!r} is not a group name")
            return None
        return text

    def vpp(self, value: Any) -> VppSettings:
        data = self.p.fields(value, "agent.vpp", VPP_KEYS)
        if data is None:
            return VppSettings()
        values: Dict[str, Any] = {}
        for key in ("api_socket", "stats_socket", "api_dir"):
            if data.get(key) is not None:
                text = self.path(data[key], f"agent.vpp.{key}")
                if text is not None:
                    values[key] = text
        if "timeout" in data:
            seconds = self.p.duration(data["timeout"], "agent.vpp.timeout", 0.1)
            if seconds is not None:
                values["timeout"] = seconds
        return VppSettings(**values)

    def listen(self, value: Any, where: str) -> Optional[Tuple[str, int]]:
        """ "host:port" ("[v6]:port" for IPv6); "" disables the exporter."""
        if value is None or value == "":
            return None
        text = self.p.string(value, where)
        if text is None:
            return None
        host, sep, port_text = text.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            self.p.error(where, f'"{text}" is not host:port (e.g. 127.0.0.1:9091, [::1]:9091)')
            return None
        return host, int(port_text)

    def warmup(self, value: Any) -> Dict[str, float]:
        data = self.p.fields(value, "agent.warmup", WARMUP_KEYS)
        if data is None:
            return {}
        values = self.durations(data, "warmup", WARMUP_KEYS, 0.0)
        self.in_order(values, "warmup", "min_delay", "max_delay")
        return values
