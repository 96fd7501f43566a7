"""agent.status_socket and agent.status_socket_group: defaults, accepted values, errors by path."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent.config import DEFAULT_STATUS_SOCKET, parse_agent_settings


def test_defaults_without_the_keys():
    settings, errors = parse_agent_settings({})
    assert errors == []
    assert settings.status_socket == DEFAULT_STATUS_SOCKET
    assert settings.status_socket_group is None


@pytest.mark.parametrize(
    "section, socket, group",
    [
        ({"status_socket": "/run/x/status.sock"}, "/run/x/status.sock", None),
        ({"status_socket_group": "maglev"}, DEFAULT_STATUS_SOCKET, "maglev"),
        ({"status_socket_group": "www-data"}, DEFAULT_STATUS_SOCKET, "www-data"),
        ({"status_socket_group": "_ops.team"}, DEFAULT_STATUS_SOCKET, "_ops.team"),
        ({"status_socket_group": "machine$"}, DEFAULT_STATUS_SOCKET, "machine$"),
        ({"status_socket_group": None}, DEFAULT_STATUS_SOCKET, None),  # null: the default
    ],
)
def test_accepted(section, socket, group):
    settings, errors = parse_agent_settings(section)
    assert errors == []
    assert (settings.status_socket, settings.status_socket_group) == (socket, group)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"status_socket": "status.sock"}, "agent.status_socket: status.sock must be an absolute path"),
        ({"status_socket": 5}, "agent.status_socket: must be a string"),
        ({"status_socket_group": ""}, "agent.status_socket_group: must not be empty"),
        ({"status_socket_group": 0}, "agent.status_socket_group: must be a string"),
        ({"status_socket_group": ["maglev"]}, "agent.status_socket_group: must be a string"),
        ({"status_socket_group": "1000"}, "agent.status_socket_group: '1000' is not a group name"),
        ({"status_socket_group": "ops team"}, "agent.status_socket_group: 'ops team' is not a group name"),
        ({"status_socket_group": "a/b"}, "agent.status_socket_group: 'a/b' is not a group name"),
        ({"status_socket_group": "g" * 33}, "is not a group name"),
        ({"status_socket_grup": "maglev"}, "status_socket_grup"),
    ],
)
def test_rejected(section, message):
    _unused, errors = parse_agent_settings(section)
    assert len(errors) == 1 and message in errors[0], errors
