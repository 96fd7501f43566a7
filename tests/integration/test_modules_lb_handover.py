"""maglev.vpp.lb's action plugin (plugins/action/lb.py): ``config: "{{ maglev_lb }}"`` is handed
to the module as JSON text without Ansible templating the whole structure, and the result is
exactly what Ansible's own templating gives.

Real ansible-playbook runs against vppsim; ``maglev_lb`` lives in the inventory's host_vars as an
operator writes it (YAML with Jinja inside), so its strings are templates Ansible trusts. At -vvv
the plugin says which hand-over it took, which is how these tests tell the two paths apart.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from ansible_runner_helpers import lb_task, seen_on, snapshot

WEB1, WEB2, DR1 = "198.51.100.11", "198.51.100.12", "198.51.100.21"
V4 = "192.0.2.1/32 tcp/80"
FAST = "handed over as JSON text"
TEMPLATED = "config templated by Ansible"

# host_vars/localhost.yml: the structure holds Jinja in scalars, in a whole sub-structure and in a
# string that mixes text and a template; the values come from other host vars.
HOST_VARS = textwrap.dedent("""\
    web_port: 80
    site_number: 2
    first_web: 198.51.100.11
    primary_members:
      web1: {weight: 100}
      web2: {weight: "{{ 25 * site_number }}"}
    maglev_lb:
      conf:
        ip4_src_address: "192.0.{{ site_number }}.254"
      backends:
        web1: {address: "{{ first_web }}"}
        web2: {address: 198.51.100.12}
        dr1: {address: "198.51.100.2{{ site_number - 1 }}"}
      frontends:
        www-v4:
          prefix: 192.0.2.1/32
          protocol: tcp
          port: "{{ web_port }}"
          encap: gre4
          src_ip_sticky: "{{ site_number > 1 }}"
          new_flows_table_length: 1024
          pools:
            - {name: primary, backends: "{{ primary_members }}"}
            - {name: fallback, backends: {dr1: {}}}
    """)

EXPECTED_VIPS = {
    V4: {
        "encap": "gre4",
        "src_ip_sticky": True,
        "new_flows_table_length": 1024,
        "ases": {WEB1: 100, WEB2: 50, DR1: 0},
    },
}


def write_host_vars(runner, text: str) -> None:
    """Variables of localhost, next to the runner's inventory (Ansible's host_vars directory)."""
    host_vars = runner.workdir / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "localhost.yml").write_text(text)


def handover_lines(run) -> list:
    return [line for line in run.stdout.splitlines() if "maglev.vpp.lb: config" in line]


def echoed_config(result) -> dict:
    """The config as the module echoes it in invocation.module_args: JSON text when it was given
    as text (as the action plugin hands it over), else the object."""
    config = result["invocation"]["module_args"]["config"]
    return json.loads(config) if isinstance(config, str) else config


def vips(sim):
    return snapshot(sim).summary["vips"]


def test_plain_reference_is_handed_over_with_the_jinja_inside_resolved(sim, runner):
    write_host_vars(runner, HOST_VARS)
    run = runner.playbook([lb_task(sim, "{{ maglev_lb }}")], extra_args=["-vvv"])
    assert run.ok, run.explain()
    assert run.only().changed
    assert any(FAST in line for line in handover_lines(run)), handover_lines(run)
    assert vips(sim) == seen_on(sim, EXPECTED_VIPS)
    # The module received the resolved values (its invocation echoes them), not template text.
    assert isinstance(run.only()["invocation"]["module_args"]["config"], str)  # echoed as the text it was given
    given = echoed_config(run.only())
    assert given["frontends"]["www-v4"]["pools"][0]["backends"] == {"web1": {"weight": 100}, "web2": {"weight": 50}}
    assert given["conf"] == {"ip4_src_address": "192.0.2.254"}

    rerun = runner.playbook([lb_task(sim, "{{ maglev_lb }}")])
    assert rerun.ok, rerun.explain()
    assert not rerun.only().changed, rerun.only()["commands"]


# Each form is not exactly one variable reference to a dict of the inventory, so Ansible's own
# templating builds the config; the state VPP ends up with is the same.
FALLBACKS = {
    "filter": ("{{ maglev_lb | ansible.builtin.combine({}) }}", ""),
    "indexing": ("{{ sites['two'] }}", "sites: {two: \"{{ maglev_lb }}\"}\n"),
    "variable holding a template": ("{{ lb_alias }}", "lb_alias: \"{{ maglev_lb }}\"\n"),
    "text around the reference": (" {{ maglev_lb }} ", ""),
}


@pytest.mark.parametrize("form", FALLBACKS, ids=list(FALLBACKS))
def test_other_forms_take_ansibles_templating_and_give_the_same_state(sim, runner, form):
    config, extra_vars = FALLBACKS[form]
    write_host_vars(runner, HOST_VARS + extra_vars)
    run = runner.playbook([lb_task(sim, config)], extra_args=["-vvv"])
    assert run.ok, run.explain()
    assert vips(sim) == seen_on(sim, EXPECTED_VIPS)
    lines = handover_lines(run)
    if form == "text around the reference":  # surrounding blanks are ignored: still one reference
        assert any(FAST in line for line in lines), lines
    else:
        assert lines and all(TEMPLATED in line for line in lines), lines


def test_omit_inside_the_variable_drops_the_key_as_ansible_does(sim, runner):
    # `omit` only means something to Ansible's templating: the plugin must not hand it over.
    with_omit = HOST_VARS.replace("new_flows_table_length: 1024", "new_flows_table_length: \"{{ omit }}\"")
    write_host_vars(runner, with_omit)
    run = runner.playbook([lb_task(sim, "{{ maglev_lb }}")], extra_args=["-vvv"])
    assert run.ok, run.explain()
    assert all(TEMPLATED in line for line in handover_lines(run)), handover_lines(run)
    assert "new_flows_table_length" not in echoed_config(run.only())["frontends"]["www-v4"]


def test_undefined_variable_inside_fails_as_ansible_reports_it(sim, runner):
    write_host_vars(runner, HOST_VARS.replace("{{ first_web }}", "{{ no_such_address }}"))
    run = runner.playbook([lb_task(sim, "{{ maglev_lb }}")])
    assert not run.ok
    assert "no_such_address" in run.stdout + run.stderr, run.explain()
    assert vips(sim) == {}


def test_check_mode_and_diff_through_the_handover(sim, runner):
    write_host_vars(runner, HOST_VARS)
    check = runner.playbook([lb_task(sim, "{{ maglev_lb }}")], check=True, diff=True, extra_args=["-vvv"])
    assert check.ok, check.explain()
    assert any(FAST in line for line in handover_lines(check)), handover_lines(check)
    result = check.only()
    assert result.changed and result["after"]["vips"][V4]["ases"] == seen_on(sim, EXPECTED_VIPS)[V4]["ases"]
    assert vips(sim) == {}  # check mode touched nothing
    assert "198.51.100.12" in check.stdout and "blast radius" in check.stdout  # --diff text on screen

    runner.playbook([lb_task(sim, "{{ maglev_lb }}")])
    # A templated setting changes (VPP recreates the VIP: visible on both LB API generations).
    table = "new_flows_table_length: \"{{ 1024 * site_number }}\""
    write_host_vars(runner, HOST_VARS.replace("new_flows_table_length: 1024", table))
    diff = runner.playbook([lb_task(sim, "{{ maglev_lb }}")], diff=True)
    assert diff.ok, diff.explain()
    assert diff.only()["diff"]["before"]["vips"][V4]["new_flows_table_length"] == 1024
    assert diff.only()["diff"]["after"]["vips"][V4]["new_flows_table_length"] == 2048
    assert vips(sim)[V4]["new_flows_table_length"] == 2048


def test_health_check_secrets_are_masked_through_the_handover(sim, runner):
    # A templated credential and a literal one with characters JSON escapes (a quote, a backslash):
    # neither may appear in any output, -vvv included.
    token, literal = "t0ken-from-vault-8", 'k3y"with\\escapes-9'
    healthchecks = textwrap.indent(textwrap.dedent(f"""\
        healthchecks:
          h:
            type: http
            port: 80
            headers:
              Authorization: "Bearer {{{{ api_token }}}}"
              X-Api-Key: {json.dumps(literal)}
        """), "  ")
    web1 = '  backends:\n    web1: {address: "{{ first_web }}"}\n'
    assert web1 in HOST_VARS
    text = f"api_token: {token}\n" + HOST_VARS.replace(
        web1, healthchecks + web1.replace('first_web }}"}', 'first_web }}", healthcheck: h}'))
    write_host_vars(runner, text)
    run = runner.playbook([lb_task(sim, "{{ maglev_lb }}")], diff=True, extra_args=["-vvv"])
    assert run.ok, run.explain()
    assert any(FAST in line for line in handover_lines(run)), handover_lines(run)
    headers = echoed_config(run.only())["healthchecks"]["h"]["headers"]
    assert headers == {"Authorization": "********", "X-Api-Key": "********"}  # echoed, masked
    everything = run.stdout + run.stderr + json.dumps([t.result for t in run.tasks])
    for secret in (token, literal, json.dumps(literal)[1:-1], "escapes-9"):
        assert secret not in everything, [line for line in everything.splitlines() if secret in line][:3]


SECRET = "s3cr3t-before-validation-5"
SECRET_CONFIG = {
    "healthchecks": {"h": {"type": "http", "port": 80, "headers": {"Authorization": f"Bearer {SECRET}"}}},
    "backends": {"w": {"address": WEB1, "healthcheck": "h"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"w": {}}}]}},
}
# A bad connection option fails in Ansible's own argument validation, before any module code ran.
SECRET_FORMS = {
    "object in the task": (SECRET_CONFIG, SECRET_CONFIG),
    "object": ("{{ secret_lb }}", SECRET_CONFIG),
    "JSON text": ("{{ secret_lb | ansible.builtin.to_json }}", SECRET_CONFIG),
    "invalid JSON text": ("{{ (secret_lb | ansible.builtin.to_json)[:-1] }}", SECRET_CONFIG),
}


@pytest.mark.parametrize("form", SECRET_FORMS, ids=list(SECRET_FORMS))
def test_secrets_are_masked_when_argument_validation_fails(sim, runner, form):
    config, variable = SECRET_FORMS[form]
    write_host_vars(runner, "secret_lb: " + json.dumps(variable) + "\n")
    task = dict(lb_task(sim, config, timeout="not-a-number"), ignore_errors=True)
    run = runner.playbook([task], extra_args=["-vvv"])
    assert run.only().failed
    everything = run.stdout + run.stderr + json.dumps([t.result for t in run.tasks])
    assert "module_args" in everything  # the failure echoes the arguments: only masking hides the secret
    assert SECRET not in everything, [line for line in everything.splitlines() if SECRET in line][:3]
