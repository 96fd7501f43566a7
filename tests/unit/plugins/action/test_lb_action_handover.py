"""The pure decisions of the lb action plugin (plugins/action/lb.py) and of the module's masked
echo (plugins/module_utils/lb_module.py). The behaviour in real playbooks is in
tests/integration/test_modules_lb_handover.py."""

from __future__ import annotations

import json

import pytest
from ansible_collections.maglev.vpp.plugins.action import lb as action
from ansible_collections.maglev.vpp.plugins.module_utils import lb_module

REFERENCES = [
    ("{{ maglev_lb }}", "maglev_lb"),
    ("{{maglev_lb}}", "maglev_lb"),
    ("  {{ lb_2 }}\n", "lb_2"),
    ("{{ maglev_lb | to_json }}", None),
    ("{{ lbs['a'] }}", None),
    ("{{ lbs.a }}", None),
    ("x{{ maglev_lb }}", None),
    ("{{ a }}{{ b }}", None),
    ("{{ 1lb }}", None),
    ("maglev_lb", None),
    ({"frontends": {}}, None),
]


@pytest.mark.parametrize("value, name", REFERENCES)
def test_plain_reference(value, name):
    assert action.plain_reference(value) == name


def fake_template(text):
    return {"{{ port }}": 80, "{{ members }}": {"w": {}}, "10.0.0.{{ n }}": "10.0.0.1"}[text]


CASES = [
    # variable as stored, expected JSON object (None: Ansible's templating must decide)
    ({"a": 1, "b": [True, None, 1.5, "x"]}, {"a": 1, "b": [True, None, 1.5, "x"]}),
    ({"port": "{{ port }}", "pools": [{"backends": "{{ members }}"}]},
     {"port": 80, "pools": [{"backends": {"w": {}}}]}),
    ({"address": "10.0.0.{{ n }}"}, {"address": "10.0.0.1"}),
    ({"a": {1, 2}}, None),  # not JSON: a set
    ("{{ other }}", None),  # the variable is itself a template
]


@pytest.mark.parametrize("stored, expected", CASES)
def test_config_as_json(stored, expected):
    variables = {"maglev_lb": stored}
    if expected is None:
        with pytest.raises(action._Fallback):
            action.config_as_json("{{ maglev_lb }}", variables, fake_template)
    else:
        assert json.loads(action.config_as_json("{{ maglev_lb }}", variables, fake_template)) == expected


def test_undefined_variable_falls_back():
    with pytest.raises(action._Fallback):
        action.config_as_json("{{ maglev_lb }}", {}, fake_template)


SECRET_CONFIGS = [
    'plain-t0ken',
    'quote"and\\backslash',
    'non-ascii-\u00e9t\u00e9',
]


@pytest.mark.parametrize("secret", SECRET_CONFIGS)
def test_masked_json_hides_secrets_in_their_json_spelling(secret):
    document = {"healthchecks": {"h": {"type": "http", "headers": {"Authorization": f"Bearer {secret}"}}}}
    text = lb_module.masked_json(document, lb_module.secret_forms(document))
    assert json.loads(text)["healthchecks"]["h"]["headers"]["Authorization"] == "********"
    for spelling in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
        assert spelling not in text


def test_unparsable_json_text_is_not_echoed():
    assert lb_module.config_document('{"healthchecks": ') is None
    assert lb_module.masked_json(None, set()) == lb_module.NOT_JSON
