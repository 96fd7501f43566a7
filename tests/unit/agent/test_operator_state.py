"""The persisted operator state file (agent/operator_state.py): round trip and refusals."""

from __future__ import annotations

import json
import os

import pytest
from ansible_collections.maglev.vpp.agent import operator_state
from ansible_collections.maglev.vpp.agent.operator_state import OperatorState, OperatorStateError


def test_round_trip_and_missing_file_is_empty(tmp_path):
    path = str(tmp_path / "sub" / operator_state.FILE_NAME)
    assert operator_state.load(path).is_empty()
    state = OperatorState({"web1": ("disabled", 12.5), "web2": ("paused", 13.0)}, {("www", "web3"): 40})
    operator_state.save(path, state, 99.0)
    assert operator_state.load(path) == state
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("document, message", [
    ({"format": "other"}, "not a maglev agent operator-state file"),
    ({"format": operator_state.FORMAT, "version": 2}, "version 2"),
    ({"format": operator_state.FORMAT, "version": 1, "backends": {"w": {"state": "down"}}}, "backends.w"),
    ({"format": operator_state.FORMAT, "version": 1, "backends": []}, "backends must be a mapping"),
    ({"format": operator_state.FORMAT, "version": 1, "overrides": {"www": {"w": 101}}}, "overrides.www.w"),
    ({"format": operator_state.FORMAT, "version": 1, "overrides": {"www": {"w": True}}}, "overrides.www.w"),
])
def test_bad_documents_are_refused_with_the_path(tmp_path, document, message):
    path = tmp_path / "operator-state.json"
    path.write_text(json.dumps(document))
    with pytest.raises(OperatorStateError, match=message):
        operator_state.load(str(path))


def test_not_json_is_refused(tmp_path):
    path = tmp_path / "operator-state.json"
    path.write_bytes(b"\xff{")
    with pytest.raises(OperatorStateError, match="not valid JSON"):
        operator_state.load(str(path))
