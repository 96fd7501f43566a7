"""The metric names a PromQL expression reads, and the expressions of a Grafana dashboard model
and a Prometheus rule file: what test_dashboards.py compares with the families a live agent serves.

The tokenizer knows just enough PromQL for that: strings, numbers and durations, label matchers
(``{...}``), ranges (``[...]``), label lists after ``by``/``without``/``on``/``ignoring``/
``group_left``/``group_right``, function calls, aggregations and keywords; every other identifier
is a metric name. Grafana variables (``$name``, ``${name}``, ``[[name]]``) are skipped.
"""

from __future__ import annotations

import re
from typing import Iterator, List, Mapping, Set, Tuple

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\])
  | (?P<number>(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?:[a-zA-Z]+\d*)*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<punct>=~|!~|!=|==|<=|>=|[-+*/%^(){}\[\],=<>@])
""", re.VERBOSE)

# Followed by a parenthesised list of label names, not of expressions.
_LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"} | _LABEL_LIST_KEYWORDS
# Aggregations may put their label list first: ``sum by (a) (x)``.
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                 "topk", "quantile", "limitk", "limit_ratio"}


def tokens(expr: str) -> List[Tuple[str, str]]:
    """[(kind, text)] without whitespace; ValueError on a character PromQL does not use."""
    found, pos = [], 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match:
            raise ValueError(f"cannot read PromQL at {expr[pos:pos + 20]!r} in {expr!r}")
        if match.lastgroup != "space":
            found.append((match.lastgroup, match.group()))
        pos = match.end()
    return found


def metric_names(expr: str) -> Set[str]:
    """The metric names ``expr`` selects: ``rate(a_total{x="y"}[5m]) / b`` -> {"a_total", "b"}."""
    toks = tokens(expr)
    names: Set[str] = set()
    braces = brackets = 0
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else ""
        if text == "{":
            braces += 1
        elif text == "}":
            braces -= 1
        elif text == "[":
            brackets += 1
        elif text == "]":
            brackets -= 1
        elif kind == "ident" and braces and text == "__name__":
            raise ValueError(f"a metric name given as a __name__ matcher is not checked: {expr!r}")
        elif kind == "ident" and not braces and not brackets:
            if text.lower() in _LABEL_LIST_KEYWORDS and following == "(":
                i = _after_parens(toks, i + 1)
                continue
            is_call = following == "(" or (text.lower() in _AGGREGATIONS and following.lower() in ("by", "without"))
            if not is_call and text.lower() not in _KEYWORDS:
                names.add(text)
        i += 1
    return names


def _after_parens(toks: List[Tuple[str, str]], start: int) -> int:
    """The index after the parenthesis group that opens at ``start``."""
    depth = 0
    for i in range(start, len(toks)):
        depth += {"(": 1, ")": -1}.get(toks[i][1], 0)
        if depth == 0:
            return i + 1
    raise ValueError("unbalanced parentheses")


_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<expr>.*),\s*(?P<label>[a-zA-Z_]\w*)\s*\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.DOTALL)


def variable_query(query: str) -> Tuple[str, str]:
    """A Grafana Prometheus variable query -> (the PromQL it evaluates, the label it lists or "").

    ``label_values(m{a="b"}, x)`` -> ('m{a="b"}', "x"); ``query_result(e)`` -> (e, "");
    ``label_values(x)`` (every series) -> ("", "x").
    """
    match = _LABEL_VALUES.match(query)
    if match:
        return match.group("expr").strip(), match.group("label")
    match = re.match(r"^\s*label_values\(\s*([a-zA-Z_]\w*)\s*\)\s*$", query)
    if match:
        return "", match.group(1)
    match = _QUERY_RESULT.match(query)
    if match:
        return match.group("expr").strip(), ""
    return query.strip(), ""


def _panels(panels: List[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # the panels of a collapsed row


def panel_expressions(dashboard: Mapping) -> List[Tuple[str, str]]:
    """[(panel title, PromQL)] of every query target of every panel, rows' panels included."""
    return [(panel.get("title", ""), target["expr"])
            for panel in _panels(dashboard.get("panels", []))
            for target in panel.get("targets", []) if target.get("expr")]


def variable_queries(dashboard: Mapping) -> List[Tuple[str, str, str]]:
    """[(variable name, PromQL, label)] of the dashboard's query variables."""
    found = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        text = query.get("query", "") if isinstance(query, dict) else query
        found.append((variable["name"], *variable_query(text)))
    return found


def rule_expressions(rules: Mapping) -> List[Tuple[str, str]]:
    """[(alert or record name, PromQL)] of a Prometheus rule file."""
    return [(rule.get("alert") or rule.get("record"), rule["expr"])
            for group in rules["groups"] for rule in group["rules"]]


def served_names(exposition: str) -> Set[str]:
    """The series names a text exposition's families give PromQL: a histogram's _bucket, _sum and
    _count, a summary's quantiles, _sum and _count, any other family's own name."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
            elif kind == "summary":
                names |= {name, name + "_sum", name + "_count"}
            else:
                names.add(name)
    return names


_GRAFANA_VARIABLE = re.compile(r"\$\{([a-zA-Z_]\w*)(?::\w+)?\}|\$([a-zA-Z_]\w*)|\[\[([a-zA-Z_]\w*)\]\]")


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with Grafana's variables replaced from ``values``; KeyError names a missing one."""
    return _GRAFANA_VARIABLE.sub(lambda m: values[m.group(1) or m.group(2) or m.group(3)], expr)
