"""docs/grafana's dashboard and docs/prometheus's alerting rules: promtool checks and runs the
rules' unit tests; every metric name the dashboard and the rules read is a family a live agent
serves; a real Prometheus scraping the agent answers every dashboard query and raises the alerts
a real outage raises."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Dict, List, Set

import yaml
from agentproc import REPO_ROOT, wait_for
from prometheus_server import PrometheusServer
from promql_names import metric_names, panel_expressions, rule_expressions, served_names, substitute, variable_queries
from test_agent_daemon import expect_weights
from test_agent_metrics import (
    metrics_config,
    sample,
    scrape,
    send_traffic,
    try_scrape,
    vip_packets,
)

DASHBOARD = os.path.join(REPO_ROOT, "docs", "grafana", "maglev-agent-dashboard.json")
RULES = os.path.join(REPO_ROOT, "docs", "prometheus", "maglev-alerts.yml")
RULE_TESTS = os.path.join(REPO_ROOT, "docs", "prometheus", "maglev-alerts.test.yml")
# What Grafana puts in for the dashboard's variables when "All" is selected.
GRAFANA_VALUES = {"instance": ".*", "frontend": ".*", "backend": ".*", "vip": ".*", "__rate_interval": "1m"}
REFUSED = 'backend="web1",code="L4CON",result="failure",type="http"'


def load_dashboard() -> dict:
    with open(DASHBOARD) as handle:
        return json.load(handle)


def load_yaml(path: str) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def alerts_in(rules: dict) -> List[dict]:
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, check=False)


def test_promtool_checks_the_alerting_rules():
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts_in(load_yaml(RULES)))} rules found" in result.stdout


def test_the_alerts_unit_tests_pass_under_promtool():
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_unit_tested_firing_and_not_firing():
    tests = load_yaml(RULE_TESTS)
    assert tests["rule_files"] == [os.path.basename(RULES)]
    cases = [case for test in tests["tests"] for case in test["alert_rule_test"]]
    for alert in alerts_in(load_yaml(RULES)):
        name = alert["alert"]
        assert any(c["alertname"] == name and c.get("exp_alerts") for c in cases), f"{name} is never seen firing"
        assert any(c["alertname"] == name and not c.get("exp_alerts") for c in cases), f"{name} is never seen quiet"


def test_every_alert_waits_has_a_severity_and_says_where():
    for alert in alerts_in(load_yaml(RULES)):
        assert alert.get("for"), alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        for key in ("summary", "description"):
            assert "{{ $labels.instance }}" in alert["annotations"][key], (alert["alert"], key)


def test_the_dashboard_is_a_grafana_model_over_a_prometheus_datasource_variable():
    dashboard = load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {query[0] for query in variable_queries(dashboard)} >= {"instance", "frontend", "backend"}
    assert dashboard["schemaVersion"] >= 37  # Grafana 10
    datasource = {"type": "prometheus", "uid": "${datasource}"}

    ids, cells = set(), set()
    for panel in dashboard["panels"]:
        assert panel["id"] not in ids, f"panel id {panel['id']} used twice"
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == datasource, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == datasource, panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == datasource, variable["name"]


def queried_names() -> Dict[str, Set[str]]:
    """{metric name: where it is read} over the dashboard's panels and variables and the alerts."""
    dashboard = load_dashboard()
    places = [(f"panel {title!r}", expr) for title, expr in panel_expressions(dashboard)]
    places += [(f"variable {name}", expr) for name, expr, _label in variable_queries(dashboard)]
    places += [(f"alert {name}", expr) for name, expr in rule_expressions(load_yaml(RULES))]
    found: Dict[str, Set[str]] = {}
    for place, expr in places:
        for name in metric_names(expr):
            found.setdefault(name, set()).add(place)
    return found


def start_agent_with_a_down_backend(sim, tmp_path, backends, client, agent):
    """The agent serving traffic, web1 stopped: every family has series (probe failures and
    transitions included). Returns (agent process, metrics base URL)."""
    config, base = metrics_config(sim, tmp_path, backends)
    config["agent"]["announce"] = {"command": ["/bin/true"]}  # route-announcement series too
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    send_traffic(sim, client)
    wait_for(lambda: (t := try_scrape(base)) and vip_packets(t, "first"), 15, "VIP counters exported")
    backends[0].stop()
    proc.wait_event("backend-transition", backend="web1", to="down")
    wait_for(lambda: (sample(scrape(base), "maglev_probe_total", REFUSED) or 0) >= 1, 15, "a refused probe counted")
    return proc, base


def test_the_dashboard_and_the_alerts_read_only_families_the_agent_serves(sim, tmp_path, backends, client, agent):
    base = start_agent_with_a_down_backend(sim, tmp_path, backends, client, agent)[1]
    served = served_names(scrape(base))
    queried = queried_names()
    unknown = {name: sorted(places) for name, places in queried.items() if name not in served}
    assert not unknown, f"not served by the agent: {unknown}"
    # And the other way round: a family the agent serves gets a panel.
    shown = {name for _title, expr in panel_expressions(load_dashboard()) for name in metric_names(expr)}
    missing = sorted(name for name in served if name.startswith("maglev_") and name not in shown)
    assert not missing, f"families the dashboard does not show: {missing}"


def unanswered(server: PrometheusServer, queries: Dict[str, str]) -> List[str]:
    """The places whose query gives Prometheus no series yet."""
    return [place for place, expr in queries.items() if not server.query(substitute(expr, GRAFANA_VALUES))]


def alert(server: PrometheusServer, name: str, **labels: str):
    """The active (pending or firing) alert ``name`` with these labels, or None."""
    for active in server.active_alerts():
        if active["labels"]["alertname"] == name and all(active["labels"].get(k) == v for k, v in labels.items()):
            return active
    return None


def test_prometheus_answers_every_dashboard_query_and_raises_the_alerts_of_an_outage(
        sim, tmp_path, backends, client, agent, prometheus):
    proc, base = start_agent_with_a_down_backend(sim, tmp_path, backends, client, agent)
    target = base.removeprefix("http://")
    server = prometheus(target, RULES)
    dashboard = load_dashboard()
    queries = {f"panel {title!r}: {expr}": expr for title, expr in panel_expressions(dashboard)}
    try:
        wait_for(lambda: not unanswered(server, queries), 90, "an answer to every dashboard query", interval=0.5)
    except AssertionError as error:
        raise AssertionError(f"{error}; no series from: {unanswered(server, queries)}") from error
    for name, expr, label in variable_queries(dashboard):
        values = {series["metric"].get(label) for series in server.query(substitute(expr, GRAFANA_VALUES))}
        assert values - {None}, f"variable {name}: no {label} values from {expr}"

    # Healthy but for web1: every rule evaluates cleanly over the scraped data and none is active.
    def evaluated_after(previous: str):
        groups = server.rule_groups()
        done = groups and groups[0]["lastEvaluation"] != previous
        return done and all(rule["health"] == "ok" for rule in groups[0]["rules"]) and groups[0]
    group = wait_for(lambda: evaluated_after(""), 30, "the rules evaluated", interval=0.2)
    # That evaluation may predate the last scrape the queries saw: wait for the next one.
    group = wait_for(lambda: evaluated_after(group["lastEvaluation"]), 30, "one more evaluation", interval=0.2)
    assert {rule["name"] for rule in group["rules"]} == {a["alert"] for a in alerts_in(load_yaml(RULES))}
    assert server.active_alerts() == []

    # Every backend down: the frontend is down, and new flows find no server.
    for backend in backends[1:]:
        backend.stop()
    proc.wait_event("frontend-transition", frontend="www", to="down")
    down = wait_for(lambda: alert(server, "MaglevFrontendDown", frontend="www"), 30, "MaglevFrontendDown for www",
                    interval=0.2)
    assert down["labels"]["severity"] == "critical"
    assert down["labels"]["instance"] == target
    assert down["annotations"]["summary"] == f"Frontend www is down on {target}"
    send_traffic(sim, client)
    vip = {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": "80"}
    no_server = wait_for(lambda: alert(server, "MaglevNoServerPacketsRising", **vip), 30,
                         "MaglevNoServerPacketsRising for the VIP", interval=0.2)
    assert no_server["annotations"]["summary"] == f"VIP 192.0.2.1/32 tcp/80 drops packets with no server on {target}"
    assert {a["labels"]["alertname"] for a in server.active_alerts()} == {"MaglevFrontendDown",
                                                                          "MaglevNoServerPacketsRising"}
