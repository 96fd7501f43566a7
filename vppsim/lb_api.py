"""The lb plugin's API face in the simulator: what each LB API message does with its arguments
(``lb_conf``, ``lb_add_del_vip(_v2)``, ``lb_add_del_as(_v2)``, ``lb_as_set_weight``,
``lb_flush_vip`` and the two dumps), per personality: how an API prefix becomes an ip46 key, and
how details are encoded (1.2.0 vs the raw 1.1.0 encoding).

``ApiMessages`` is a part of :class:`vppsim.lb.LbPlugin` (its base class): it decodes and
encodes, and leaves the state changes to the plugin's own ``add_vip``, ``add_ass``, ... under
its lock. The message handlers (:mod:`vppsim.handlers`) call these methods.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from vppsim.lb_model import (
    ENCAP_GRE4,
    ENCAP_L3DSR,
    ENCAP_NAT4,
    ENCAP_NAT6,
    IP4_ENCAP_TO_TYPE,
    IP6_ENCAP_TO_TYPE,
    NAT_TYPES,
    RV_INVALID_ARGUMENT,
    RV_NO_SUCH_ENTRY,
    RV_OK,
    TYPE_TO_API_ENCAP,
    U32,
    VIP_IP4_GRE4,
    VIP_IP6_GRE4,
    VIP_IP6_GRE6,
    IpAddress,
    Vip,
    ip46_normalize,
    ip46_prefix_is_ip4,
    ip46_to_ipaddress,
    swap16,
)


class ApiMessages:
    """The LB API half of LbPlugin (see the module docstring)."""

    def conf(self, ip4: ipaddress.IPv4Address, ip6: ipaddress.IPv6Address, sticky_buckets_per_core: int,
             flow_timeout: int) -> int:
        """lb_conf: 0xffffffff keeps the old number; both addresses are always overwritten."""
        with self.lock:
            buckets = self.sticky_buckets if sticky_buckets_per_core == U32 else sticky_buckets_per_core
            timeout = self.flow_timeout if flow_timeout == U32 else flow_timeout
            return self.set_conf(int(ip4), int(ip6), buckets, timeout)

    def conf_get(self) -> dict[str, Any]:
        with self.lock:
            return {
                "ip4_src_address": ipaddress.IPv4Address(self.ip4_src),
                "ip6_src_address": ipaddress.IPv6Address(self.ip6_src),
                "sticky_buckets_per_core": self.sticky_buckets,
                "flow_timeout": self.flow_timeout,
            }

    def _api_prefix(self, ip: IpAddress, plen: int) -> tuple[int, int] | None:
        """The ip46 (prefix, plen) an API handler builds, or None when plen is out of range."""
        is4 = isinstance(ip, ipaddress.IPv4Address)
        if is4 and self.personality.api_ip4_len_offset:
            plen += 96
        if not 0 <= plen <= 128:
            return None
        return ip46_normalize(int(ip), plen), plen

    def _on_api_vip(self, ip: IpAddress, plen: int, protocol: int, port: int, act: Callable[[Vip], int]) -> int:
        """Under the lock, ``act`` on the VIP a request names; RV_NO_SUCH_ENTRY when there is none."""
        with self.lock:
            vip = self._api_find_vip(ip, plen, protocol, port)
            return RV_NO_SUCH_ENTRY if vip is None else act(vip)

    def _api_find_vip(self, ip: IpAddress, plen: int, protocol: int, port: int) -> Vip | None:
        key = self._api_prefix(ip, plen)
        if key is None:
            return None
        if port == 0:
            protocol = 255  # every handler forces the all-port protocol
        return self.find_vip(key[0], key[1], protocol, port)

    def vip_add(self, ip: IpAddress, plen: int, protocol: int, port: int, encap: int, dscp: int,
                srv_type: int, target_port: int, new_flows_table_length: int, src_ip_sticky: bool) -> int:
        """lb_add_del_vip(_v2) with is_del=0; returns the retval."""
        with self.lock:
            key = self._api_prefix(ip, plen)
            if key is None:
                return RV_INVALID_ARGUMENT  # deviation: VPP has undefined behaviour here
            prefix, plen46 = key
            if port == 0:
                protocol = 255
            is4 = ip46_prefix_is_ip4(prefix, plen46)
            if self.personality.api_encap_swapped:
                # 1.2.0 maps the (byte-swapped) encap per family; no mapping leaves type 0 = ip6-gre6.
                vtype = (IP4_ENCAP_TO_TYPE if is4 else IP6_ENCAP_TO_TYPE).get(encap, VIP_IP6_GRE6)
                seen_encap = encap
            else:
                # 1.1.0 compares the big-endian u32 with the enum values: only 0 (gre4) matches
                # anything; every other value leaves type 0 = ip6-gre6 and no dscp / NAT arguments.
                vtype = (VIP_IP4_GRE4 if is4 else VIP_IP6_GRE4) if encap == ENCAP_GRE4 else VIP_IP6_GRE6
                seen_encap = ENCAP_GRE4
            nat = seen_encap in (ENCAP_NAT4, ENCAP_NAT6)
            dscp_arg = dscp & 0x3F if seen_encap == ENCAP_L3DSR else 0
            # `type` is read without byte swap into a u8: only the top byte of the u32 survives.
            srv_arg = (srv_type >> 24) & 0xFF if nat else 0
            tport_arg = target_port & 0xFFFF if nat else 0
            rv, _index = self.add_vip(prefix, plen46, protocol, port, vtype, dscp_arg, srv_arg, tport_arg,
                                      new_flows_table_length, src_ip_sticky)
            return rv

    def vip_del(self, ip: IpAddress, plen: int, protocol: int, port: int) -> int:
        return self._on_api_vip(ip, plen, protocol, port, self.del_vip)

    def vip_details(self) -> list[dict[str, Any]]:
        """lb_vip_dump: VIPs in pool order, placeholder hidden (1.2.0: only USED ones)."""
        with self.lock:
            if not self.personality.details_fixed:
                return self._vip_details_rel()
            out = []
            for vip in self._vips:
                if vip is None or vip.index == 0 or not vip.used:
                    continue
                out.append({
                    "vip": {"pfx": vip.api_pfx(), "protocol": vip.protocol, "port": vip.port},
                    "encap": TYPE_TO_API_ENCAP[vip.type],
                    "dscp": vip.encap_byte,
                    # srv_type is copied from the union byte into a u32 without byte swap.
                    "srv_type": vip.encap_byte << 24,
                    # stored in network order and swapped again on the way out.
                    "target_port": swap16(vip.target_port) if vip.type in NAT_TYPES else 0,
                    "flow_table_length": vip.new_len & 0xFFFF,
                })
            return out

    def _vip_details_rel(self) -> list[dict[str, Any]]:
        """1.1.0's lb_vip_details (vpp-facts Part 3 §4.6): removed VIPs included, protocol 0,
        ``encap`` = the internal VIP type, the raw ip46 prefix length, ``flow_table_length``
        the low half of a byte-swapped u32 (0 for every table up to 32768 buckets)."""
        out = []
        for vip in self._vips:
            if vip is None or vip.index == 0:
                continue
            out.append({
                "vip": {"pfx": vip.raw_api_pfx(), "protocol": 0, "port": vip.port},
                "encap": vip.type,
                "dscp": vip.encap_byte,
                "srv_type": vip.encap_byte << 24,
                "target_port": swap16(vip.target_port) if vip.type in NAT_TYPES else 0,
                "flow_table_length": (vip.new_len >> 16) & 0xFFFF,
            })
        return out

    def as_add(self, ip: IpAddress, plen: int, protocol: int, port: int, as_ip: IpAddress, weight: int,
               flush: bool) -> int:
        """lb_add_del_as(_v2) add (v1 passes weight=100)."""
        return self._on_api_vip(ip, plen, protocol, port,
                                lambda vip: self.add_ass(vip, [int(as_ip)], weight & 0xFF, flush))

    def as_del(self, ip: IpAddress, plen: int, protocol: int, port: int, as_ip: IpAddress,
               flush: bool) -> int:
        return self._on_api_vip(ip, plen, protocol, port, lambda vip: self.del_ass(vip, [int(as_ip)], flush))

    def as_set_weight(self, ip: IpAddress, plen: int, protocol: int, port: int, as_ip: IpAddress, weight: int,
                      flush: bool) -> int:
        return self._on_api_vip(ip, plen, protocol, port,
                                lambda vip: self.set_as_weight(vip, int(as_ip), weight & 0xFF, flush))

    def flush_vip(self, ip: IpAddress, plen: int, protocol: int, port: int) -> int:
        """lb_flush_vip: evict the VIP's sticky entries on every thread.  Always 0."""
        with self.lock:
            vip = self._api_find_vip(ip, plen, protocol, port)
            if isinstance(ip, ipaddress.IPv4Address) and not self.personality.flush_finds_ip4:
                vip = None  # 1.1.0's lookup never finds an IPv4 VIP
            if vip is not None:
                self.flush_entries(vip.index, None)
            return RV_OK

    def as_details(self, ip: IpAddress, plen: int, protocol: int, port: int) -> list[dict[str, Any]]:
        """lb_as_v2_dump / lb_as_dump with VPP's filter (see the module docstring).

        Dump-all iff the 16-byte request union is zero; otherwise the raw union (IPv4 in its
        first 4 bytes!) must equal the stored ip46 prefix, and protocol and port must match
        exactly.  plen is ignored.  Removed ASes are included (flags 0).
        """
        with self.lock:
            if isinstance(ip, ipaddress.IPv4Address):
                raw = int(ip) << 96  # the request union: address first, then zero bytes
            else:
                raw = int(ip)
            dump_all = raw == 0
            fixed = self.personality.details_fixed
            if not self.personality.as_dump_port_swapped:
                port = swap16(port)  # 1.1.0 compares the network-order port with the host-order one
            out = []
            for vip in self._vips:
                if vip is None:
                    continue
                if not dump_all and (raw != vip.prefix or protocol != vip.protocol or port != vip.port):
                    continue
                if not vip.as_slots:
                    continue
                counts = self.table(vip).counts()
                if fixed:
                    vip_field = {"pfx": vip.api_pfx(), "protocol": vip.protocol, "port": vip.port}
                else:
                    vip_field = {"pfx": vip.raw_api_pfx(), "protocol": 0, "port": vip.port}
                for ai in vip.as_indexes():
                    if ai == 0:
                        continue
                    a = self._ass[ai]
                    assert a is not None
                    out.append({
                        "vip": vip_field,
                        "app_srv": ip46_to_ipaddress(a.address),
                        "flags": a.flags,
                        "in_use_since": a.last_used,
                        "weight": a.weight,
                        "num_buckets": counts.get(ai, 0),
                    })
            return out
