"""promql_names: the metric names of PromQL expressions and Grafana variable queries (pure, table-driven)."""

from __future__ import annotations

import pytest
from promql_names import (
    metric_names,
    panel_expressions,
    rule_expressions,
    served_names,
    substitute,
    variable_queries,
    variable_query,
)


@pytest.mark.parametrize("expr, names", [
    ("up", {"up"}),
    ('maglev_backend_state{backend="web1", state=~"up|down"} == 1', {"maglev_backend_state"}),
    ("rate(a_total[5m])", {"a_total"}),
    ("rate(a_total{x='y'}[$__rate_interval]) * 8", {"a_total"}),
    ("sum by (instance, le) (rate(h_bucket[1h30m]))", {"h_bucket"}),
    ("sum(rate(h_bucket[5m])) by (le)", {"h_bucket"}),
    ("histogram_quantile(0.99, sum without (pid) (rate(h_bucket[5m])))", {"h_bucket"}),
    ("time() - ts_seconds > 20", {"ts_seconds"}),
    ("a unless on (job, instance) b", {"a", "b"}),
    ("a * on (instance) group_left (version) b", {"a", "b"}),
    ("a > bool 1e3", {"a"}),
    ("a offset 5m and b @ 1609746000", {"a", "b"}),
    ("a or vector(0)", {"a"}),
    ("topk by (x) (5, a) / count(b)", {"a", "b"}),
    ('label_replace(a, "dst", "$1", "src", "(.*)")', {"a"}),
    ("max_over_time(a[5m:30s])", {"a"}),
    ('a{l="sum by (x) b"}', {"a"}),  # strings hide their content
    ("colon:recorded:rate5m + 0x1F + .5 + inf", {"colon:recorded:rate5m"}),
    ("a{instance=~\"$instance\"}[${interval}] + b{[[var]]}", {"a", "b"}),
])
def test_metric_names(expr, names):
    assert metric_names(expr) == names


def test_a_character_promql_does_not_use_is_an_error():
    with pytest.raises(ValueError, match="cannot read PromQL"):
        metric_names("a # b")


def test_a_name_matcher_is_an_error_rather_than_a_name_left_unchecked():
    with pytest.raises(ValueError, match="__name__"):
        metric_names('{__name__="x", job="a"}')


@pytest.mark.parametrize("query, expected", [
    ("label_values(maglev_agent_info, instance)", ("maglev_agent_info", "instance")),
    ('label_values(m{instance=~"$instance", a=~"x,y"}, frontend)', ('m{instance=~"$instance", a=~"x,y"}', "frontend")),
    ("label_values(job)", ("", "job")),
    ("query_result(topk(5, a))", ("topk(5, a)", "")),
    ("up", ("up", "")),
])
def test_variable_query(query, expected):
    assert variable_query(query) == expected


def test_panel_expressions_include_the_panels_of_collapsed_rows_and_skip_empty_targets():
    dashboard = {"panels": [
        {"title": "a", "targets": [{"expr": "x"}, {"expr": ""}, {"refId": "B"}]},
        {"type": "row", "title": "r", "panels": [{"title": "b", "targets": [{"expr": "y"}]}]},
        {"type": "text", "title": "c"},
    ]}
    assert panel_expressions(dashboard) == [("a", "x"), ("b", "y")]


def test_variable_queries_read_string_and_object_queries_of_query_variables_only():
    dashboard = {"templating": {"list": [
        {"type": "datasource", "name": "ds", "query": "prometheus"},
        {"type": "query", "name": "i", "query": "label_values(m, instance)"},
        {"type": "query", "name": "f", "query": {"query": "label_values(n, frontend)", "refId": "X"}},
        {"type": "custom", "name": "c", "query": "a,b"},
    ]}}
    assert variable_queries(dashboard) == [("i", "m", "instance"), ("f", "n", "frontend")]


def test_rule_expressions():
    rules = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "x > 1"}, {"record": "r:x", "expr": "x"}]}]}
    assert rule_expressions(rules) == [("A", "x > 1"), ("r:x", "x")]


def test_served_names_expand_histograms_and_summaries():
    text = "\n".join([
        "# HELP c_total Things.", "# TYPE c_total counter", "c_total 1",
        "# TYPE g gauge", "g 2",
        "# TYPE h_seconds histogram", 'h_seconds_bucket{le="+Inf"} 1', "h_seconds_sum 1", "h_seconds_count 1",
        "# TYPE s summary", "s_sum 1", "s_count 1",
    ])
    assert served_names(text) == {"c_total", "g", "h_seconds_bucket", "h_seconds_sum", "h_seconds_count",
                                  "s", "s_sum", "s_count"}


def test_substitute_replaces_every_grafana_variable_form():
    values = {"instance": ".*", "__rate_interval": "1m", "vip": "a|b"}
    assert substitute('rate(x{instance=~"$instance", p=~"${vip}", q=~"[[vip]]"}[$__rate_interval])', values) == \
        'rate(x{instance=~".*", p=~"a|b", q=~"a|b"}[1m])'
    assert substitute("x{p=~\"${vip:regex}\"}", values) == 'x{p=~"a|b"}'
    assert substitute('label_replace(x, "d", "$1", "s", "(.*)")', values) == 'label_replace(x, "d", "$1", "s", "(.*)")'
    with pytest.raises(KeyError):
        substitute("x{a=~\"$unknown\"}", values)
