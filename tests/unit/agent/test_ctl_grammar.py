"""maglevctl's grammar: parsing, unique-prefix matching, errors, completion and help (table-driven)."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent import ctl
from ansible_collections.maglev.vpp.agent import ctl_grammar as g

PARSES = [
    ("show version", "show-version", {}),
    ("show frontends", "show-frontends", {}),
    ("show frontend www", "show-frontend", {"frontend": "www"}),
    ("show backends", "show-backends", {}),
    ("show backend web1", "show-backend", {"backend": "web1"}),
    ("show healthchecks", "show-healthchecks", {}),
    ("show healthcheck h", "show-healthcheck", {"healthcheck": "h"}),
    ("show vpp info", "show-vpp-info", {}),
    ("show vpp lb state", "show-vpp-lb-state", {}),
    ("show vpp lb counters", "show-vpp-lb-counters", {}),
    ("set backend web1 pause", "set-backend", {"backend": "web1", "action": "pause"}),
    ("set backend web1 resume", "set-backend", {"backend": "web1", "action": "resume"}),
    ("set backend web1 enable", "set-backend", {"backend": "web1", "action": "enable"}),
    ("set backend web1 disable", "set-backend", {"backend": "web1", "action": "disable"}),
    ("set frontend www pool primary backend web2 weight 30", "set-weight",
     {"frontend": "www", "pool": "primary", "backend": "web2", "weight": 30}),
    ("set frontend www pool primary backend web2 weight 0", "set-weight",
     {"frontend": "www", "pool": "primary", "backend": "web2", "weight": 0}),
    ("set frontend www pool primary backend web2 weight 100", "set-weight",
     {"frontend": "www", "pool": "primary", "backend": "web2", "weight": 100}),
    ("config check", "config-check", {}),
    ("config reload", "config-reload", {}),
    ("sync vpp lb state", "sync-vpp", {}),
    ("watch events", "watch-events", {}),
    ("watch events num 5", "watch-events", {"num": 5}),
    ("watch events backend frontend", "watch-events", {"backend": True, "frontend": True}),
    ("watch events log", "watch-events", {"log": True}),
    ("watch events log level debug", "watch-events", {"log": True, "level": "debug"}),
    ("watch events frontend log level warning num 2 backend", "watch-events",
     {"frontend": True, "log": True, "level": "warning", "num": 2, "backend": True}),
    ("quit", "quit", {}),
    ("exit", "quit", {}),
    ("help", "help", {}),
    # unique prefixes; the rest of the line decides between backend and backends
    ("sh ba", "show-backends", {}),
    ("sh ba web1", "show-backend", {"backend": "web1"}),
    ("sh fr", "show-frontends", {}),
    ("sh fr www", "show-frontend", {"frontend": "www"}),
    ("sh h", "show-healthchecks", {}),
    ("sh h h", "show-healthcheck", {"healthcheck": "h"}),
    ("sh v", "show-version", {}),  # vpp would need more words
    ("sh v i", "show-vpp-info", {}),
    ("sh v l s", "show-vpp-lb-state", {}),
    ("sh v l c", "show-vpp-lb-counters", {}),
    ("s ba", "show-backends", {}),  # set and sync cannot end after one more word
    ("se b web1 p", "set-backend", {"backend": "web1", "action": "pause"}),
    ("se b web1 r", "set-backend", {"backend": "web1", "action": "resume"}),
    ("se b web1 e", "set-backend", {"backend": "web1", "action": "enable"}),
    ("se b web1 d", "set-backend", {"backend": "web1", "action": "disable"}),
    ("se f www p primary b web2 w 5", "set-weight", {"frontend": "www", "pool": "primary", "backend": "web2",
                                                     "weight": 5}),
    ("c c", "config-check", {}),
    ("c r", "config-reload", {}),
    ("sy v l s", "sync-vpp", {}),
    ("w e n 3 l le d", "watch-events", {"num": 3, "log": True, "level": "debug"}),
    ("q", "quit", {}),
    ("e", "quit", {}),
    # keywords are case-insensitive, names keep their case
    ("SHOW Backend Web1", "show-backend", {"backend": "Web1"}),
    # a name that looks like a keyword is a name where a name is expected
    ("show backend backends", "show-backend", {"backend": "backends"}),
    ("set backend pause pause", "set-backend", {"backend": "pause", "action": "pause"}),
]


@pytest.mark.parametrize("line, command, args", PARSES)
def test_parse(line, command, args):
    parsed = g.parse(line.split())
    assert (parsed.command, dict(parsed.args)) == (command, args)


@pytest.mark.parametrize("line, words", [
    ("sh ba", ("show", "backends")),
    ("sh v l c", ("show", "vpp", "lb", "counters")),
    ("se b web1 dis", ("set", "backend", "web1", "disable")),
    ("w e l le i", ("watch", "events", "log", "level", "info")),
])
def test_parse_spells_the_words_out(line, words):
    assert g.parse(line.split()).words == words


ERRORS = [
    ("", "no command given"),
    ("s", "ambiguous 's': could be set, show, sync"),
    ("s foo", "ambiguous 's': could be set, show, sync and 'foo' fits none of them"),
    ("show", "incomplete command 'show': expected version, frontends, frontend, backends, backend, "
             "healthchecks, healthcheck or vpp"),
    ("show vpp lb", "incomplete command 'show vpp lb': expected state or counters"),
    ("show backend", "incomplete command 'show backend': expected <backend>"),
    ("set backend web1", "incomplete command 'set backend web1': expected pause, resume, enable or disable"),
    ("set frontend www pool primary backend web2 weight",
     "incomplete command 'set frontend www pool primary backend web2 weight': expected <weight>"),
    ("frobnicate", "unknown command 'frobnicate'"),
    ("show things", "unknown word 'things' after 'show'"),
    ("show backends extra", "unexpected 'extra' after 'show backends'"),
    ("sh ba web1 extra", "unexpected 'extra' after 'show backend web1'"),
    ("set backend web1 explode", "action: expected one of pause, resume, enable, disable, got 'explode'"),
    ("set frontend www pool primary backend web2 weight 101", "weight: expected an integer 0..100, got '101'"),
    ("set frontend www pool primary backend web2 weight -1", "weight: expected an integer 0..100, got '-1'"),
    ("set frontend www pool primary backend web2 weight 5x", "weight: expected an integer 0..100, got '5x'"),
    ("watch events num 0", "num: expected an integer 1..1000000000, got '0'"),
    ("watch events num", "incomplete command 'watch events num': expected <num>"),
    ("watch events level debug", "level needs log before it"),
    ("watch events log level loud", "level: expected one of debug, info, warning, error, got 'loud'"),
    ("watch events backend backend", "unexpected 'backend' after 'watch events backend'"),
    ("watch events stuff", "unexpected 'stuff' after 'watch events'"),
]


@pytest.mark.parametrize("line, message", ERRORS)
def test_parse_errors(line, message):
    with pytest.raises(g.GrammarError) as caught:
        g.parse(line.split())
    assert caught.value.message == message


def test_ambiguity_names_its_candidates():
    with pytest.raises(g.GrammarError) as caught:
        g.parse(["s"])
    assert caught.value.expected == ("set", "show", "sync")


def names(source, args):
    return {
        "backend": ["web1", "web2", "db1"],
        "frontend": ["www", "api"],
        "healthcheck": ["h", "tcp"],
        "pool": [f"{args.get('frontend')}-primary"],
    }[source]


COMPLETIONS = [
    ("", "", ["config", "exit", "help", "quit", "set", "show", "sync", "watch"]),
    ("", "s", ["set", "show", "sync"]),
    ("show", "", ["backend", "backends", "frontend", "frontends", "healthcheck", "healthchecks", "version", "vpp"]),
    ("show", "v", ["version", "vpp"]),
    ("show", "b", ["backend", "backends"]),
    ("sh", "fr", ["frontend", "frontends"]),
    ("show backend", "", ["db1", "web1", "web2"]),
    ("show backend", "w", ["web1", "web2"]),
    ("sh ba", "w", ["web1", "web2"]),  # "ba" may still become backend
    ("show frontend", "", ["api", "www"]),
    ("show healthcheck", "", ["h", "tcp"]),
    ("show vpp", "", ["info", "lb"]),
    ("show vpp lb", "", ["counters", "state"]),
    ("set backend web1", "", ["disable", "enable", "pause", "resume"]),
    ("set backend web1", "re", ["resume"]),
    ("set frontend www pool", "", ["www-primary"]),  # pools of the frontend named before
    ("set frontend www pool p backend", "", ["db1", "web1", "web2"]),
    ("set frontend www pool p backend web1 weight", "", []),  # integers do not complete
    ("watch events", "", ["backend", "frontend", "log", "num"]),
    ("watch events log", "", ["backend", "frontend", "level", "num"]),
    ("watch events log level", "", ["debug", "error", "info", "warning"]),
    ("watch events backend num 3", "", ["frontend", "log"]),
    ("show backends", "", []),  # complete: nothing follows
    ("frobnicate", "", []),  # not a command: nothing to offer
]


@pytest.mark.parametrize("before, partial, expected", COMPLETIONS)
def test_complete(before, partial, expected):
    assert g.complete(before.split(), partial, names) == expected


def test_complete_without_a_source_of_names_offers_keywords_only():
    assert g.complete(["show", "backend"], "", None) == []
    assert g.complete(["sh"], "ba", None) == ["backend", "backends"]


@pytest.mark.parametrize("words, first, count", [
    ((), "show version", 19),
    (("show", "vpp"), "show vpp info", 3),
    (("sh", "v", "l"), "show vpp lb state", 2),
    (("watch",), "watch events [num <num>] [backend] [frontend] [log [level debug|info|warning|error]]", 1),
])
def test_help_lines(words, first, count):
    lines = g.help_lines(words)
    assert lines[0].startswith(first)
    syntax = [line for line in lines if not line.startswith(" ")]  # long ones put their help below
    assert len(syntax) == count


@pytest.mark.parametrize("words, topic", [
    (["help"], []),
    (["he", "show"], ["show"]),
    (["show", "?"], ["show"]),
    (["?"], []),
    (["show", "backends"], None),
    (["set", "backend", "help", "pause"], None),  # a backend named help is not help
])
def test_help_topic(words, topic):
    assert g.help_topic(words) == topic


def test_every_command_has_a_handler():
    assert set(g.all_commands()) - {"quit", "help"} == set(ctl.HANDLERS)


ARGV = [
    (["show", "backends"], {}, ("/run/maglev-agent/status.sock", False, ["show", "backends"])),
    (["--json", "show", "backends"], {}, ("/run/maglev-agent/status.sock", True, ["show", "backends"])),
    (["show", "--json", "backends"], {}, ("/run/maglev-agent/status.sock", True, ["show", "backends"])),
    (["show", "backends", "--json"], {}, ("/run/maglev-agent/status.sock", True, ["show", "backends"])),
    (["--socket", "/tmp/s", "show"], {}, ("/tmp/s", False, ["show"])),
    (["--socket=/tmp/s", "show"], {}, ("/tmp/s", False, ["show"])),
    ([], {"MAGLEV_AGENT_SOCKET": "/env/s"}, ("/env/s", False, [])),
    (["--socket", "/opt/s"], {"MAGLEV_AGENT_SOCKET": "/env/s"}, ("/opt/s", False, [])),
    (["--", "show", "backend", "--json"], {}, ("/run/maglev-agent/status.sock", False,
                                               ["show", "backend", "--json"])),
]


@pytest.mark.parametrize("argv, environ, expected", ARGV)
def test_parse_argv(argv, environ, expected):
    options = ctl.parse_argv(argv, environ)
    assert (options.socket, options.json, options.words) == expected


@pytest.mark.parametrize("argv, timeout", [
    (["show"], 60.0),
    (["--timeout", "2.5", "show"], 2.5),
    (["show", "--timeout=10"], 10.0),
])
def test_parse_argv_timeout(argv, timeout):
    options = ctl.parse_argv(argv, {})
    assert (options.timeout, options.words) == (timeout, ["show"])


@pytest.mark.parametrize("argv, message", [
    (["--timeout"], "--timeout needs a number of seconds > 0, got ''"),
    (["--timeout", "0", "show"], "--timeout needs a number of seconds > 0, got '0'"),
    (["--timeout=soon"], "--timeout needs a number of seconds > 0, got 'soon'"),
    (["--timeout", "inf"], "--timeout needs a number of seconds > 0, got 'inf'"),
    (["--socket"], "--socket needs a path"),
    (["--socket="], "--socket needs a path"),
    (["--colour", "show"], "unknown option --colour"),
    (["-x"], "unknown option -x"),
])
def test_parse_argv_errors(argv, message):
    with pytest.raises(ctl.UsageError) as caught:
        ctl.parse_argv(argv, {})
    assert str(caught.value) == message
