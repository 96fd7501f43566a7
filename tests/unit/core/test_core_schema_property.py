"""Property: the validator never crashes, and every rejection names a path into the document.

Inputs are arbitrary YAML-like values (keys mostly the schema's own names, so the validator gets
past the top level) and the reference example (test_core_schema.BASE) with one node replaced,
removed or joined by an unknown key. ``validate`` and ``parse_config`` agree, and the agent's
config file (the same document plus ``agent:``) is checked by the same rules.
"""

from __future__ import annotations

import copy
import math
from typing import Any, List

from ansible_collections.maglev.vpp.agent.config import parse_agent_config
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_schema import BASE

SCHEMA_KEYS = sorted(set(schema.TOP_KEYS + schema.CONF_KEYS + schema.HEALTHCHECK_KEYS + schema.BACKEND_KEYS
                         + schema.FRONTEND_KEYS + schema.POOL_KEYS + schema.MEMBER_KEYS))
WORDS = ["web1", "http-80", "www-v4", "primary", "gre4", "gre6", "l3dsr", "nat4", "nat6", "tcp", "udp", "http",
         "https", "icmp", "192.0.2.1/32", "2001:db8::1", "198.51.100.11", "2s", "500ms", "-1s", "200-299", "/healthz"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.sampled_from(WORDS),
    st.text(max_size=12),
)
KEYS = st.one_of(st.sampled_from(SCHEMA_KEYS + WORDS), st.text(max_size=8), st.integers(-3, 3), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=25,
)


def _paths(node: Any, prefix: tuple = ()) -> List[tuple]:
    """Every path to a node of a document (mapping keys and list indexes)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, prefix + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += _paths(child, prefix + (i,))
    return found


@st.composite
def edited_base(draw) -> Any:
    """The reference example with one node replaced or deleted, or an unknown key added."""
    document = copy.deepcopy(BASE)
    path = draw(st.sampled_from(_paths(document)))
    if not path:
        return draw(VALUES)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    how = draw(st.sampled_from(["replace", "delete", "add"]))
    if how == "replace":
        parent[path[-1]] = draw(VALUES)
    elif how == "delete":
        del parent[path[-1]]
    else:
        target = parent[path[-1]]
        if isinstance(target, dict):
            target[draw(KEYS)] = draw(VALUES)
        else:
            parent[path[-1]] = draw(VALUES)
    return document


DOCUMENTS = st.one_of(VALUES, st.dictionaries(KEYS, VALUES, max_size=5), edited_base())


def _names_a_path(error: str, document: Any) -> bool:
    """The error starts with ``maglev_lb:`` (the whole value) or with a top-level key of the
    document, followed by the rest of a path (``.x`` / ``[i]``) or ``: ``."""
    if error.startswith("maglev_lb: "):
        return True
    if not isinstance(document, dict):
        return False
    return any(error.startswith(f"{key}{after}") for key in document for after in (": ", ".", "["))


@settings(max_examples=200, deadline=None)
@given(DOCUMENTS)
def test_validate_never_crashes_and_every_error_names_a_path(document: Any) -> None:
    before = copy.deepcopy(document)
    errors = schema.validate(document)
    assert isinstance(errors, list) and all(isinstance(e, str) for e in errors)
    for error in errors:
        assert _names_a_path(error, document), error
    assert _equal(document, before)  # validation never changes its input
    try:
        schema.parse_config(document)
    except schema.ConfigError as exc:
        assert exc.errors == errors
    else:
        assert errors == []


@settings(max_examples=100, deadline=None)
@given(edited_base(), VALUES)
def test_the_agent_config_is_checked_by_the_same_rules(document: Any, agent_section: Any) -> None:
    if document is None:
        document = {}  # an empty config file is an empty document
    lb_errors = schema.validate(document)
    if isinstance(document, dict):
        document = dict(document, agent=agent_section)
    try:
        parse_agent_config(document)
    except schema.ConfigError as exc:
        assert exc.errors[: len(lb_errors)] == lb_errors  # the core's errors, then the agent section's
        for error in exc.errors[len(lb_errors):]:
            assert error.startswith(("agent: ", "agent.", "maglev_lb: ")), error
    else:
        assert lb_errors == []


def _equal(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to itself (hypothesis draws NaNs)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b
