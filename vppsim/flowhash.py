"""VPP's lb flow hash (node.c ``lb_node_get_hash`` with vppinfra's ``lb_hash_hash``).

On every default VPP build (SSE4.2 on x86_64, CRC on aarch64) ``lb_hash_hash`` folds five u64
keys through the CRC32C instruction: state 0, each key's 8 bytes fed little-endian, no final
inversion (vpp-facts.md Part 1 §3, "The flow hash"). Feeding a key little-endian is feeding its
bytes in memory order, so the hash is plain CRC32C (reflected 0x82F63B78, no pre/post
inversion) over the 40 key bytes as they lie in memory:

* IPv4: src address, dst address (network order), then ``ports``, then 24 zero bytes;
* IPv6: src address, dst address (16 bytes each), then ``ports``.

``ports`` is ``(src_port << 16) | dst_port`` of the raw 16-bit packet fields read on a
little-endian host, so in memory it is the dst port's two packet bytes, then the src port's,
then four zero bytes; 0 for protocols other than TCP/UDP and for src_ip_sticky VIPs.
"""

from __future__ import annotations

_POLY = 0x82F63B78


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _bit in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc32c_raw(data: bytes, crc: int = 0) -> int:
    """CRC32C as the SSE4.2 instruction computes it: no initial or final inversion."""
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def lb_flow_hash(src: int, dst: int, is4: bool, protocol: int, sport: int, dport: int, sticky: bool) -> int:
    """The 32-bit hash VPP's lb node computes for a packet; its bucket is ``hash & (N - 1)``."""
    if sticky or protocol not in (6, 17):
        ports = bytes(8)
    else:
        ports = dport.to_bytes(2, "big") + sport.to_bytes(2, "big") + bytes(4)
    if is4:
        data = src.to_bytes(4, "big") + dst.to_bytes(4, "big") + ports + bytes(24)
    else:
        data = src.to_bytes(16, "big") + dst.to_bytes(16, "big") + ports
    return crc32c_raw(data)
