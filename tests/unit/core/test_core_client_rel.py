"""Pure helpers of the client for LB API 1.1.0: prefixes from raw lb_vip_details, CLI errors,
and the warning about weights VPP cannot honour."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import compose
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import cli_retval, raw_prefix
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import AsState, LbState, VipKey, VipState


def raw(af: int, address: str, length: int):
    """A vl_api_prefix_t as vpp_papi decodes it without type conversion (un: both views)."""
    packed = ipaddress.ip_address(address).packed
    ip6 = packed + bytes(16 - len(packed))
    return SimpleNamespace(address=SimpleNamespace(af=af, un=SimpleNamespace(ip4=ip6[:4], ip6=ip6)), len=length)


@pytest.mark.parametrize("pfx, prefix", [
    (raw(0, "192.0.2.10", 128), "192.0.2.10/32"),  # 1.1.0: IPv4 with the ip46 length
    (raw(0, "192.0.2.0", 120), "192.0.2.0/24"),
    (raw(0, "0.0.0.0", 32), "::/32"),  # the IPv6 VIP an IPv4 prefix with its plain length makes
    (raw(1, "2001:db8::10", 128), "2001:db8::10/128"),
    (raw(1, "2001:db8::", 64), "2001:db8::/64"),
])
def test_raw_prefix(pfx, prefix: str) -> None:
    assert raw_prefix(pfx) == prefix


@pytest.mark.parametrize("retval, text, expected", [
    (-1, "lb vip: lb_vip_add error -81\n", -81),
    (-1, "lb as: lb_vip_find_index error -6\n", -6),
    (-1, "lb vip: parse error: 'encap bogus'\n", -1),
    (-1, "", -1),
])
def test_cli_retval_takes_the_error_from_the_text(retval: int, text: str, expected: int) -> None:
    assert cli_retval(SimpleNamespace(retval=retval, reply=text)) == expected


KEY = VipKey("192.0.2.1/32", 6, 80)


@pytest.mark.parametrize("weights, warned", [
    ({"10.0.0.1": 100, "10.0.0.2": 100}, False),
    ({"10.0.0.1": 100, "10.0.0.2": 0}, False),  # 0 is "absent", which VPP can do
    ({"10.0.0.1": 40, "10.0.0.2": 40, "10.0.0.3": 0}, False),
    ({"10.0.0.1": 100, "10.0.0.2": 50}, True),
])
def test_unhonoured_weights(weights, warned: bool) -> None:
    want = LbState(vips={KEY: VipState(KEY, ases={a: AsState(a, w) for a, w in weights.items()}, name="www")})
    warnings = compose.unhonoured_weights(want)
    assert bool(warnings) == warned
    if warned:
        assert warnings == [
            "VIP 192.0.2.1/32 tcp/80 (frontend www) asks for unequal AS weights (10.0.0.1 100, 10.0.0.2 50), which"
            " this VPP (LB API 1.1.0, no AS weights) cannot honour: every AS with a weight above 0 gets an equal"
            " share of new flows, and an AS of weight 0 is removed"
        ]
