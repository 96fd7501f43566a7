"""The agent's config file: the maglev_lb schema plus the agent: section, one error list."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent import config as agent_config
from ansible_collections.maglev.vpp.agent.__main__ import main
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.schema import ConfigError

LB = {
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {"web1": {"address": "198.51.100.11", "healthcheck": "h"}},
    "frontends": {
        "www": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80,
                "pools": [{"name": "p", "backends": {"web1": {}}}]},
    },
}


def settings(agent):
    return agent_config.parse_agent_config({**LB, "agent": agent}).settings


def test_defaults_without_an_agent_section() -> None:
    parsed = agent_config.parse_agent_config(LB)
    assert parsed.settings == agent_config.AgentSettings()
    assert parsed.settings.vpp.api_socket == "/run/vpp/api.sock"
    assert parsed.settings.state_file == "/run/maglev-agent/state.json"  # the modules' default agent_state
    assert parsed.settings.metrics_listen == ("127.0.0.1", 9091)
    assert list(parsed.lb.frontends) == ["www"]


def test_every_setting_is_read() -> None:
    got = settings({
        "vpp": {"api_socket": "/x/api.sock", "stats_socket": "/x/stats.sock", "api_dir": "/x/api", "timeout": "2s"},
        "status_socket": "/x/status.sock", "state_file": "/x/state.json", "metrics": {"listen": "[::1]:9100"},
        "sync_interval": "1m", "stats_interval": "500ms", "warmup": {"min_delay": "0s", "max_delay": "0s"},
        "probe_netns": "dataplane", "transition_history": 10, "log_level": "debug",
    })
    assert got.vpp == agent_config.VppSettings("/x/api.sock", "/x/stats.sock", "/x/api", 2.0)
    assert (got.status_socket, got.state_file, got.metrics_listen) == ("/x/status.sock", "/x/state.json", ("::1", 9100))
    assert (got.sync_interval, got.stats_interval, got.warmup_min_delay, got.warmup_max_delay) == (60, 0.5, 0, 0)
    assert (got.probe_netns, got.transition_history, got.log_level) == ("dataplane", 10, "debug")


def test_empty_listen_disables_the_exporter() -> None:
    assert settings({"metrics": {"listen": ""}}).metrics_listen is None


@pytest.mark.parametrize(
    "agent, message",
    [
        ({"bogus": 1}, "agent.bogus: unknown key"),
        ({"sync_intervall": "1s"}, "agent.sync_intervall: unknown key, did you mean sync_interval"),
        ({"vpp": {"api_socket": "run/api.sock"}}, "agent.vpp.api_socket: run/api.sock must be an absolute path"),
        ({"vpp": {"sockets": 1}}, "agent.vpp.sockets: unknown key"),
        ({"sync_interval": "fast"}, 'agent.sync_interval: "fast" is not a duration'),
        ({"sync_interval": "100ms"}, "agent.sync_interval: must be between 1s and 3600s"),
        ({"metrics": {"listen": "9091"}}, 'agent.metrics.listen: "9091" is not host:port'),
        ({"metrics": {"listen": "localhost:99999"}}, "is not host:port"),
        ({"warmup": {"min_delay": "10s", "max_delay": "5s"}}, "agent.warmup.max_delay: 5s must not be shorter"),
        ({"probe_netns": "../x"}, "agent.probe_netns: '../x' is not a namespace name"),
        ({"transition_history": 0}, "agent.transition_history: must be between 1 and 100"),
        ({"log_level": "loud"}, "agent.log_level: must be one of debug, info, warning, error"),
        ("yes", "agent: must be a mapping"),
    ],
)
def test_bad_settings_are_reported_with_their_path(agent, message) -> None:
    with pytest.raises(ConfigError) as info:
        settings(agent)
    assert any(message in error for error in info.value.errors), info.value.errors


def test_lb_and_agent_problems_come_back_together() -> None:
    document = {**LB, "frontends": {"www": {"prefix": "192.0.2.1/33", "pools": []}}, "agent": {"log_level": "x"}}
    with pytest.raises(ConfigError) as info:
        agent_config.parse_agent_config(document)
    assert [e.split(":")[0] for e in info.value.errors] == ["frontends.www.prefix", "agent.log_level"]


@pytest.mark.parametrize(
    "text, code, expect",
    [
        ("frontends: {}\n", 0, "valid (0 frontends, 0 backends, 0 healthchecks)"),
        ("frontends: [unclosed\n", 1, "not valid YAML"),
        ("frontends: {www: {prefix: 192.0.2.1/33, pools: []}}\n", 2, "frontends.www.prefix"),
        ("agent: {vpp: {api_socket: relative}}\n", 2, "agent.vpp.api_socket"),
    ],
)
def test_check_exit_codes(tmp_path, capsys, text, code, expect) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert main(["--check", str(path)]) == code
    out = capsys.readouterr()
    assert expect in (out.out if code == 0 else out.err)


def test_check_of_a_missing_file_is_exit_1(tmp_path, capsys) -> None:
    assert main(["--check", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_check_defaults_to_the_config_option(tmp_path, capsys) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("frontends: {}\n")
    assert main(["--config", str(path), "--check"]) == 0
