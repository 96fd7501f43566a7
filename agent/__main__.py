"""``maglev-agent``: run the agent, or check a config file.

    maglev-agent [--config FILE] [--event-loop asyncio|uvloop]
                                          run (SIGHUP reloads, SIGTERM/SIGINT stop cleanly)
    maglev-agent --check [FILE]           validate: exit 0 valid, 1 unreadable/not YAML, 2 invalid
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import os
import signal
import sys
from typing import Callable, List, Optional

from ..plugins.module_utils.vpp_lb.schema import ConfigError
from . import __version__, api, instance, logs, operator_state, web
from .config import DEFAULT_CONFIG_PATH, ConfigFileError, check_config_file, load_config
from .daemon import Agent

EXIT_ALREADY_RUNNING = 3
EVENT_LOOPS = ("asyncio", "uvloop")


def loop_factory(choice: str) -> Optional[Callable[[], asyncio.AbstractEventLoop]]:
    """The event loop to run on: None for asyncio's own (the default); uvloop's only when asked
    for: measured, it does not help the agent (docs/performance.md, "Agent"). Raises ImportError
    when uvloop is asked for and missing."""
    if choice == "asyncio":
        return None
    import uvloop

    return uvloop.new_event_loop


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="maglev-agent", description="Keeps VPP's LB plugin true to backend health.")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
    parser.add_argument("--check", nargs="?", const="", metavar="FILE",
                        help="validate FILE (default: --config) and exit: 0 valid, 1 unreadable, 2 invalid")
    parser.add_argument("--log-level", choices=sorted(logs.LEVELS), help="overrides agent.log_level")
    parser.add_argument("--event-loop", choices=EVENT_LOOPS, default="asyncio",
                        help="asyncio's own (default) or uvloop (installed separately; measured not to help)")
    parser.add_argument("--version", action="version", version=f"maglev-agent {__version__}")
    return parser.parse_args(argv)


async def run(agent: Agent) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(agent.reload()))  # serialised by the agent
    await agent.start()
    servers = [await api.start_status_api(agent), await web.start_web(agent)]
    await stop.wait()
    for server in servers:
        if server is not None:
            await server.close()
    await agent.stop()


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.check is not None:
        code, messages = check_config_file(args.check or args.config)
        for line in messages:
            print(line, file=sys.stdout if code == 0 else sys.stderr)
        return code
    try:
        factory = loop_factory(args.event_loop)
    except ImportError:
        print("maglev-agent: --event-loop uvloop: uvloop is not installed (pip install uvloop)", file=sys.stderr)
        return 1
    try:
        config = load_config(args.config)
    except ConfigFileError as exc:
        print(f"maglev-agent: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"maglev-agent: {args.config} is invalid:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
        return 2
    # Before anything touches VPP or a socket: one agent per config.
    try:
        lock = instance.acquire(config.settings.state_file)
    except instance.AlreadyRunning as exc:
        print(f"maglev-agent: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except OSError as exc:
        print(f"maglev-agent: cannot take the instance lock {instance.lock_path(config.settings.state_file)}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    state_path = operator_state.path_in(config.settings.state_dir)
    try:
        persisted = operator_state.load(state_path)
    except operator_state.OperatorStateError as exc:
        # Starting without it would put disabled backends back into rotation.
        print(f"maglev-agent: the operator state cannot be read: {exc}. Fix or remove the file (removing it "
              "forgets every persisted pause, disable and weight override).", file=sys.stderr)
        return 2
    logs.setup(args.log_level or config.settings.log_level)
    # `kill -USR1 <pid>` writes every thread's stack to stderr: for an agent that seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(run(Agent(config, args.config, args.log_level or "", persisted, settle_heap=True)))
    finally:
        os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
