"""Shared helpers for the vppsim lb tests: an in-memory counter sink and a settable clock."""

from __future__ import annotations

from ipaddress import ip_address

from vppsim.lb import LbPlugin


class FakeStats:
    """Same methods as vppsim.statseg.StatsSegment, backed by plain lists."""

    def __init__(self, n_threads: int = 1) -> None:
        self.n_threads = n_threads
        self.simple: dict[str, list[list[int]]] = {}
        self.combined: dict[str, list[list[tuple[int, int]]]] = {}
        self.scalars: dict[str, int] = {}

    def ensure_simple(self, name: str, length: int) -> None:
        rows = self.simple.setdefault(name, [[] for _round in range(self.n_threads)])
        for row in rows:
            row.extend([0] * (length - len(row)))

    def ensure_combined(self, name: str, length: int) -> None:
        rows = self.combined.setdefault(name, [[] for _round in range(self.n_threads)])
        for row in rows:
            row.extend([(0, 0)] * (length - len(row)))

    def add_simple(self, name: str, thread: int, index: int, value: int = 1) -> None:
        self.simple[name][thread][index] += value

    def set_simple(self, name: str, thread: int, index: int, value: int) -> None:
        self.simple[name][thread][index] = value

    def add_combined(self, name: str, thread: int, index: int, packets: int, nbytes: int) -> None:
        p, b = self.combined[name][thread][index]
        self.combined[name][thread][index] = (p + packets, b + nbytes)

    def set_combined(self, name: str, thread: int, index: int, packets: int, nbytes: int) -> None:
        self.combined[name][thread][index] = (packets, nbytes)

    def set_scalar(self, name: str, value: int) -> None:
        self.scalars[name] = value

    def vip_counter(self, name: str, index: int) -> int:
        """Summed over threads, like stats[name][:, index].sum()."""
        return sum(row[index] for row in self.simple[name])


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(n_threads: int = 1, api_version: str = "1.2.0") -> tuple[LbPlugin, FakeStats, Clock]:
    stats = FakeStats(n_threads)
    clock = Clock()
    return LbPlugin(stats, api_version=api_version, clock=clock), stats, clock


def A(text: str):  # noqa: N802 - short on purpose, reads like the facts' notation
    return ip_address(text)


def api_plen4(p: LbPlugin, plen: int) -> int:
    """An IPv4 prefix length as the plugin's API wants it (1.1.0: the ip46 length 96 + plen)."""
    return plen if p.personality.api_ip4_len_offset else 96 + plen


def vip4(p: LbPlugin, addr: str = "192.0.2.1", plen: int = 32, *, protocol: int = 255, port: int = 0,
         encap: int = 0, new_len: int = 1024, sticky: bool = False, dscp: int = 0, srv_type: int = 0,
         target_port: int = 0) -> int:
    return p.vip_add(A(addr), api_plen4(p, plen), protocol, port, encap, dscp, srv_type, target_port, new_len,
                     sticky)


def as4(p: LbPlugin, vip: str, asa: str, weight: int = 100, *, plen: int = 32, protocol: int = 255,
        port: int = 0, flush: bool = False) -> int:
    return p.as_add(A(vip), api_plen4(p, plen), protocol, port, A(asa), weight, flush)


def part2_state() -> tuple[LbPlugin, FakeStats, Clock]:
    """vpp-facts Part 2 §2.2: conf, two VIPs, .11 w100 / .12 w50 and one IPv6 AS."""
    p, stats, clock = make()
    assert p.conf(A("192.0.2.254"), A("2001:db8::fe"), 1024, 40) == 0
    assert vip4(p, "192.0.2.1", protocol=6, port=80, sticky=True) == 0
    assert p.vip_add(A("2001:db8::10"), 128, 255, 0, 1, 0, 0, 0, 512, False) == 0
    assert as4(p, "192.0.2.1", "198.51.100.11", 100, protocol=6, port=80) == 0
    assert as4(p, "192.0.2.1", "198.51.100.12", 50, protocol=6, port=80) == 0
    assert p.as_add(A("2001:db8::10"), 128, 255, 0, A("2001:db8:1::1"), 100, False) == 0
    return p, stats, clock
