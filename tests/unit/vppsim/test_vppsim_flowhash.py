"""vppsim hashes flows as VPP does (CRC32C over the address pair and ports, vpp-facts "The flow hash").

The expected AS comes from the core's own table (maglev_table) and a bitwise CRC32C written
here, so neither of vppsim's readings (its table, its hash) checks itself.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
from _lbsim import A, api_plen4, make
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import maglev_table

from vppsim.cli import run_cli
from vppsim.flowhash import crc32c_raw


def crc32c_bitwise(data: bytes) -> int:
    """CRC32C (reflected 0x82F63B78) bit by bit, state 0, no final inversion: _mm_crc32_u64's rule."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _bit in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc


def test_crc32c_is_the_castagnoli_crc() -> None:
    # The standard check value of CRC-32C is 0xE3069283 (with the usual inversions).
    assert crc32c_raw(b"123456789", 0xFFFFFFFF) ^ 0xFFFFFFFF == 0xE3069283
    assert crc32c_raw(bytes(range(40))) == crc32c_bitwise(bytes(range(40)))


VIP4, VIP6 = "192.0.2.1", "2001:db8::10"
ASES4 = {"10.0.0.1": 100, "10.0.0.2": 50, "10.0.0.3": 30}
ASES6 = {"2001:db8:1::1": 100, "2001:db8:1::2": 20}
SOURCES4 = [f"203.0.113.{i}" for i in range(1, 41)]
SOURCES6 = [f"2001:db8:ffff::{i:x}" for i in range(1, 41)]


@pytest.mark.parametrize("api_version", ["1.2.0", "1.1.0"])
@pytest.mark.parametrize("family", [4, 6])
def test_sticky_flows_land_on_the_as_vpp_would_pick(api_version: str, family: int) -> None:
    # src_ip_sticky: the hash covers the addresses only, so all flows of one /32 source go to
    # table[crc32c(src, dst, zero ports) & (N-1)].
    p, _stats, _clock = make(api_version=api_version)
    size = 256
    vip, ases, sources = (VIP4, ASES4, SOURCES4) if family == 4 else (VIP6, ASES6, SOURCES6)
    plen = api_plen4(p, 32) if family == 4 else 128
    encap = 0 if family == 4 else 1
    assert p.vip_add(A(vip), plen, 255, 0, encap, 0, 0, 0, size, True) == 0
    for address, weight in ases.items():
        assert p.as_add(A(vip), plen, 255, 0, A(address), weight if api_version == "1.2.0" else 100, False) == 0
    table = maglev_table.new_flow_table(ases, size, api_version)
    picked = set()
    for source in sources:
        src, dst = ipaddress.ip_address(source).packed, ipaddress.ip_address(vip).packed
        data = src + dst + bytes(8) + (bytes(24) if family == 4 else b"")
        expected = table[crc32c_bitwise(data) & (size - 1)]
        prefix = f"{source}/{32 if family == 4 else 128}"
        rv, text = run_cli(p, f"sim traffic {vip}/{32 if family == 4 else 128} flows 3 src {prefix}")
        assert rv == 0, text
        got = {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (\S+) flows:(\d+)$", text, re.M)}
        assert got[expected] == 3, (source, expected, text)
        picked.add(expected)
    assert len(picked) > 1  # the sources really spread over several ASes
