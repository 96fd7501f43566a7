"""VipKey is a value: equal keys hash equal and order by (prefix, protocol, port), whatever the
process. Its hash is computed once (the agent hashes VIP keys tens of thousands of times per
counters read at 5,000 VIPs), which must change nothing else about it."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import subprocess
import sys

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import PROTO_ANY, VipKey

WWW = VipKey("192.0.2.1/32", 6, 80)

# (a, b, a == b, a < b)
PAIRS = [
    (WWW, VipKey("192.0.2.1/32", 6, 80), True, False),
    (WWW, VipKey("192.0.2.1/32", 6, 81), False, True),
    (WWW, VipKey("192.0.2.1/32", 17, 80), False, True),
    (VipKey("192.0.2.2/32"), VipKey("192.0.2.1/32"), False, False),
    (VipKey("192.0.2.1/32"), VipKey("192.0.2.1/32", PROTO_ANY, 0), True, False),
]


@pytest.mark.parametrize("a, b, equal, less", PAIRS)
def test_equality_ordering_and_hash_are_those_of_the_fields(a, b, equal, less):
    assert (a == b) is equal and (a != b) is not equal
    assert (a < b) is less
    assert hash(a) == hash((a.prefix, a.protocol, a.port))
    assert (len({a, b}) == 1) is equal


def test_the_hash_is_not_a_field():
    assert [f.name for f in dataclasses.fields(VipKey)] == ["prefix", "protocol", "port"]
    assert dataclasses.asdict(WWW) == {"prefix": "192.0.2.1/32", "protocol": 6, "port": 80}
    assert repr(WWW) == "VipKey(prefix='192.0.2.1/32', protocol=6, port=80)"
    moved = dataclasses.replace(WWW, port=443)
    assert hash(moved) == hash(("192.0.2.1/32", 6, 443)) and moved != WWW
    with pytest.raises(dataclasses.FrozenInstanceError):
        WWW.port = 443  # type: ignore[misc]


def test_copies_hash_like_the_original():
    for clone in (copy.copy(WWW), copy.deepcopy(WWW), pickle.loads(pickle.dumps(WWW))):
        assert clone == WWW and hash(clone) == hash(WWW) and clone in {WWW: 1}


def test_a_key_pickled_in_another_process_finds_its_entry_here():
    """str hashes differ between processes: a cached hash pickled with the key would be stale."""
    code = ("import pickle, sys\n"
            "from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import VipKey\n"
            "sys.stdout.buffer.write(pickle.dumps(VipKey('192.0.2.1/32', 6, 80)))\n")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join(sys.path)}
    pickled = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout
    key = pickle.loads(pickled)
    assert key == WWW and hash(key) == hash(("192.0.2.1/32", 6, 80))
    assert {WWW: "www"}[key] == "www"
