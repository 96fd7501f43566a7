"""``python -m vppsim ctl``: VPP's debug CLI over the binary API socket, as ``vppctl`` is used.

    python -m vppsim ctl -s /tmp/sim/api.sock show lb vips verbose
    python -m vppsim ctl -s /tmp/sim/api.sock "sim traffic 192.0.2.1/32 protocol tcp port 80 flows 100"
    printf 'show lb\\nsim fault show\\n' | python -m vppsim ctl -s /tmp/sim/api.sock

The command goes to ``cli_inband`` through the real ``vpp_papi`` client with the definitions VPP
itself serves (``get_api_json``), so it works against vppsim and against a real VPP (>= 24.06).
Without a command, one command per line is read from stdin. Exit codes: 0 done, 1 the CLI
answered an error, 2 usage, 3 no VPP on the socket.
"""

from __future__ import annotations

import argparse
import sys
from typing import Iterable, TextIO

from vpp_papi import VPPApiClient
from vpp_papi.vpp_papi import VPPApiError, VPPIOError, VPPRuntimeError, VPPValueError

OK, CLI_ERROR, USAGE, UNREACHABLE = 0, 1, 2, 3
DEFAULT_SOCKET = "/run/vpp/api.sock"
CLIENT_NAME = "vppsim-ctl"


class Unreachable(Exception):
    """No VPP answers on the API socket."""


class VppCli:
    """One connection to VPP's API socket; ``run`` sends one CLI command."""

    def __init__(self, api_socket: str, timeout: float) -> None:
        self.api_socket = api_socket
        self.client = VPPApiClient(bootstrapapi=True, server_address=api_socket, read_timeout=timeout)

    def __enter__(self) -> VppCli:
        try:
            self.client.connect(CLIENT_NAME)
        except (OSError, VPPApiError, VPPIOError, VPPRuntimeError, VPPValueError) as exc:
            raise Unreachable(f"cannot talk to VPP at {self.api_socket}: {exc}") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.client.disconnect()
        except (OSError, VPPIOError):
            pass  # VPP went away (e.g. after `sim fault restart`): nothing left to close

    def run(self, command: str) -> tuple[int, str]:
        """(retval, reply text) of ``cli_inband``."""
        try:
            reply = self.client.api.cli_inband(cmd=command)
        except (OSError, VPPIOError) as exc:
            raise Unreachable(f"VPP at {self.api_socket} stopped answering: {exc}") from None
        return reply.retval, reply.reply


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m vppsim ctl", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("-s", "--socket", default=DEFAULT_SOCKET, help=f"VPP's API socket (default {DEFAULT_SOCKET})")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each reply (default 10)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the CLI command (words or one quoted string)")
    return p.parse_args(argv)


def commands_from(lines: Iterable[str]) -> Iterable[str]:
    """The commands of a script: one a line, blank lines and # comments skipped."""
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            yield text


def run_commands(cli: VppCli, commands: Iterable[str], out: TextIO, err: TextIO) -> int:
    status = OK
    for command in commands:
        retval, reply = cli.run(command)
        (out if retval == 0 else err).write(reply)
        out.flush()
        if retval != 0:
            status = CLI_ERROR
    return status


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout,
         err: TextIO = sys.stderr) -> int:
    args = parse_args(argv)
    if args.timeout <= 0:
        err.write("vppsim ctl: --timeout must be positive\n")
        return USAGE
    commands = [" ".join(args.command)] if args.command else list(commands_from(stdin))
    try:
        with VppCli(args.socket, args.timeout) as cli:
            return run_commands(cli, commands, out, err)
    except Unreachable as exc:
        err.write(f"vppsim ctl: {exc}\n")
        return UNREACHABLE
