"""vppsim's CLI input helpers: the ``protocol``/``port`` words every VIP-keyed command reads, the
VIP key VPP's lb commands derive from them (lb/cli.c), and the leading ``%U`` word."""

from __future__ import annotations

import re

import pytest

from vppsim.cli_input import CliError, CliInput, ProtocolPortWords, parse_ip46_prefix

U32_MINUS_1 = 0xFFFFFFFF


def line_input(line: str) -> CliInput:
    return CliInput(line, list(re.finditer(r"\S+", line)))


def take_all(line: str, *, signed_port: bool) -> tuple[ProtocolPortWords, str]:
    """Take protocol/port words while there are any: the words and the input left over."""
    inp = line_input(line)
    words = ProtocolPortWords(signed_port=signed_port)
    while words.take(inp):
        pass
    return words, inp.rest()


# (line, signed_port, (protocol, port), left over)
WORDS = [
    ("", True, (None, None), ""),
    ("protocol tcp", True, (6, None), ""),
    ("protocol udp port 53", False, (17, 53), ""),
    ("port 80 protocol tcp", True, (6, 80), ""),
    ("port 1 port 2", True, (None, 2), ""),  # unformat's loop: the last one wins
    ("port -1", True, (None, U32_MINUS_1), ""),  # `port %d` into a u32, as VPP's lb commands
    ("port -1", False, (None, None), "port -1"),  # the sim commands read `%u`: not a port
    ("protocol icmp", True, (None, None), "protocol icmp"),
    ("protocol tcp port x", True, (6, None), "port x"),
    ("port", True, (None, None), "port"),
    ("port 80 flows 3", False, (None, 80), "flows 3"),
]


@pytest.mark.parametrize(("line", "signed_port", "given", "left"), WORDS)
def test_protocol_port_words_take_what_vpp_reads(line: str, signed_port: bool,
                                                 given: tuple[int | None, int | None], left: str) -> None:
    words, rest = take_all(line, signed_port=signed_port)
    assert (words.protocol, words.port) == given
    assert rest == left


# (protocol, port, unset_protocol, key)
VIP_KEYS = [
    (None, None, 0, (255, 0)),  # all-port VIP
    (6, 0, 0, (255, 0)),  # port 0 overrides a protocol
    (None, 80, 0, (0, 80)),  # lb as / lb flush vip: protocol starts at 0
    (None, 80, 255, (255, 80)),  # lb vip: the simulator's value for VPP's uninitialised one
    (17, 80, 0, (17, 80)),
    (6, 65536, 0, (6, 0)),  # port 0 is checked before the u16 truncation, as in VPP
    (None, U32_MINUS_1, 0, (0, 65535)),
]


@pytest.mark.parametrize(("protocol", "port", "unset_protocol", "key"), VIP_KEYS)
def test_vip_key_follows_vpps_lb_commands(protocol: int | None, port: int | None, unset_protocol: int,
                                          key: tuple[int, int]) -> None:
    words = ProtocolPortWords(signed_port=True, protocol=protocol, port=port)
    assert words.vip_key(unset_protocol=unset_protocol) == key


def test_take_parsed_consumes_the_parsed_word() -> None:
    inp = line_input("192.0.2.1/32 port 80")
    assert inp.take_parsed(parse_ip46_prefix, "invalid vip prefix") == parse_ip46_prefix("192.0.2.1/32")
    assert inp.rest() == "port 80"


@pytest.mark.parametrize(("line", "message"), [
    ("nonsense port 80", "invalid vip prefix: 'nonsense port 80'"),
    ("", "invalid vip prefix: ''"),
])
def test_take_parsed_refuses_and_consumes_nothing(line: str, message: str) -> None:
    inp = line_input(line)
    with pytest.raises(CliError) as err:
        inp.take_parsed(parse_ip46_prefix, "invalid vip prefix")
    assert str(err.value) == message
    assert inp.rest() == line
